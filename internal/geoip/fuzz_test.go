package geoip

import (
	"net/netip"
	"os"
	"testing"
)

// FuzzLookup looks up arbitrary addresses in the demo database: never a
// panic, and any answer is a well-formed code with a location on Earth.
func FuzzLookup(f *testing.F) {
	db, _ := demoDB(f)
	for _, s := range []string{"203.0.113.1", "198.18.0.255", "2001:db8:82::1", "::ffff:192.0.2.1", "10.0.0.1", "::", "fe80::1"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ip netip.Addr
		switch len(raw) {
		case 4:
			ip = netip.AddrFrom4([4]byte(raw))
		case 16:
			ip = netip.AddrFrom16([16]byte(raw))
		default:
			return
		}
		info, ok := db.Lookup(ip)
		if !ok {
			return
		}
		if !validCountry(info.Country) {
			t.Fatalf("%s: country %q", ip, info.Country)
		}
		if l := info.Loc; l != nil && (l.Lat < -90 || l.Lat > 90 || l.Lon < -180 || l.Lon > 180) {
			t.Fatalf("%s: location %+v", ip, *l)
		}
	})
}

// FuzzOpenBytes opens arbitrary files: an error or a database that answers
// without panicking.
func FuzzOpenBytes(f *testing.F) {
	_, path := demoDB(f)
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, good[0:16])
	f.Add(good[:len(good)/2], []byte{203, 0, 113, 1})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, file, raw []byte) {
		db, err := openBytes(file)
		if err != nil {
			return
		}
		var ip netip.Addr
		switch len(raw) {
		case 4:
			ip = netip.AddrFrom4([4]byte(raw))
		case 16:
			ip = netip.AddrFrom16([16]byte(raw))
		default:
			ip = netip.MustParseAddr("203.0.113.1")
		}
		if info, ok := db.Lookup(ip); ok && !validCountry(info.Country) {
			t.Fatalf("%s: country %q", ip, info.Country)
		}
	})
}
