package geoip

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/haechi/haechi/internal/fds"
)

func loc(lat, lon float64) *fds.Location { return &fds.Location{Lat: lat, Lon: lon} }

type lookupCase struct {
	name string
	ip   string
	want fds.GeoInfo
	ok   bool
}

func checkLookups(t *testing.T, db *DB, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := db.Lookup(netip.MustParseAddr(tc.ip))
			if ok != tc.ok {
				t.Fatalf("Lookup(%s) ok = %v, want %v (info %+v)", tc.ip, ok, tc.ok, got)
			}
			if got.Country != tc.want.Country || got.Anonymous != tc.want.Anonymous {
				t.Errorf("Lookup(%s) = %+v, want %+v", tc.ip, got, tc.want)
			}
			switch {
			case (got.Loc == nil) != (tc.want.Loc == nil):
				t.Errorf("Lookup(%s).Loc = %v, want %v", tc.ip, got.Loc, tc.want.Loc)
			case got.Loc != nil && *got.Loc != *tc.want.Loc:
				t.Errorf("Lookup(%s).Loc = %+v, want %+v", tc.ip, *got.Loc, *tc.want.Loc)
			}
		})
	}
}

func mustWrite(t *testing.T, dbType string, nets []network) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.mmdb")
	if err := writeDB(path, dbType, nets); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustOpen(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func demoDB(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.mmdb")
	if err := WriteDemoDB(path); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestLookupGeoIP2Layout(t *testing.T) {
	path := mustWrite(t, "GeoIP2-City", []network{
		{"1.0.0.0/24", cityRecord("KR", 37.5665, 126.978)},
		{"1.0.1.0/24", mmdbtype.Map{"country": isoCode("US")}},
		{"1.0.2.0/24", mmdbtype.Map{"registered_country": isoCode("JP")}},
		{"1.0.3.0/24", mmdbtype.Map{
			"country": isoCode("NL"),
			"traits":  mmdbtype.Map{"is_anonymous_vpn": mmdbtype.Bool(true)},
		}},
		{"1.0.4.0/24", mmdbtype.Map{
			"country": isoCode("DE"),
			"traits":  mmdbtype.Map{"is_anonymous_proxy": mmdbtype.Bool(true)},
		}},
		{"1.0.5.0/24", mmdbtype.Map{"country": isoCode("FR"), "is_tor_exit_node": mmdbtype.Bool(true)}},
		{"1.0.6.0/24", mmdbtype.Map{
			"country":  isoCode("BR"),
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(-15.8)},
		}},
		{"1.0.7.0/24", mmdbtype.Map{
			"country":  isoCode("CA"),
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(95), "longitude": mmdbtype.Float64(10)},
		}},
		{"2400:1000::/24", cityRecord("KR", 37.5, 127)},
		{"10.0.0.0/8", mmdbtype.Map{"country": isoCode("US")}},
		{"100.0.0.0/24", mmdbtype.Map{"city": mmdbtype.Map{"geoname_id": mmdbtype.Uint32(1)}}},
	})
	db := mustOpen(t, path)
	checkLookups(t, db, []lookupCase{
		{"ok/country and coordinates", "1.0.0.1", fds.GeoInfo{Country: "KR", Loc: loc(37.5665, 126.978)}, true},
		{"ok/country without coordinates", "1.0.1.200", fds.GeoInfo{Country: "US"}, true},
		{"ok/registered country fallback", "1.0.2.9", fds.GeoInfo{Country: "JP"}, true},
		{"ok/anonymous vpn trait", "1.0.3.1", fds.GeoInfo{Country: "NL", Anonymous: true}, true},
		{"ok/anonymous proxy trait", "1.0.4.1", fds.GeoInfo{Country: "DE", Anonymous: true}, true},
		{"ok/top-level tor flag", "1.0.5.1", fds.GeoInfo{Country: "FR", Anonymous: true}, true},
		{"ok/latitude only is no location", "1.0.6.1", fds.GeoInfo{Country: "BR"}, true},
		{"ok/latitude out of range is no location", "1.0.7.1", fds.GeoInfo{Country: "CA"}, true},
		{"ok/ipv6", "2400:1000::1", fds.GeoInfo{Country: "KR", Loc: loc(37.5, 127)}, true},
		{"ok/ipv4-mapped ipv6", "::ffff:1.0.0.1", fds.GeoInfo{Country: "KR", Loc: loc(37.5665, 126.978)}, true},
		{"unknown/not in database", "8.8.8.8", fds.GeoInfo{}, false},
		{"unknown/ipv6 not in database", "2a00::1", fds.GeoInfo{}, false},
		{"unknown/record without country", "100.0.0.1", fds.GeoInfo{}, false},
		{"unknown/private even when listed", "10.1.2.3", fds.GeoInfo{}, false},
		{"unknown/loopback", "127.0.0.1", fds.GeoInfo{}, false},
		{"unknown/ipv6 loopback", "::1", fds.GeoInfo{}, false},
		{"unknown/unspecified", "0.0.0.0", fds.GeoInfo{}, false},
		{"unknown/ipv6 unique local", "fd00::1", fds.GeoInfo{}, false},
		{"unknown/link local", "169.254.1.1", fds.GeoInfo{}, false},
	})
	if _, ok := db.Lookup(netip.Addr{}); ok {
		t.Error("the zero Addr was located")
	}
}

func TestLookupFlatLayouts(t *testing.T) {
	path := mustWrite(t, "ipinfo lite.mmdb", []network{
		// IPinfo Lite: country is the name, country_code the code.
		{"1.0.0.0/24", mmdbtype.Map{
			"country":      mmdbtype.String("South Korea"),
			"country_code": mmdbtype.String("KR"),
			"asn":          mmdbtype.String("AS4766"),
		}},
		// Older flat files keep the bare code in country.
		{"1.0.1.0/24", mmdbtype.Map{"country": mmdbtype.String("JP")}},
		{"1.0.2.0/24", mmdbtype.Map{"country_code": mmdbtype.String("US")}},
		{"2400:2000::/24", mmdbtype.Map{"country_code": mmdbtype.String("KR")}},
	})
	checkLookups(t, mustOpen(t, path), []lookupCase{
		{"ok/country_code beside a country name", "1.0.0.7", fds.GeoInfo{Country: "KR"}, true},
		{"ok/bare code in country", "1.0.1.7", fds.GeoInfo{Country: "JP"}, true},
		{"ok/country_code only", "1.0.2.7", fds.GeoInfo{Country: "US"}, true},
		{"ok/ipv6 country_code", "2400:2000::7", fds.GeoInfo{Country: "KR"}, true},
	})
}

func TestLookupRefusesNonsenseCountry(t *testing.T) {
	nets := []network{}
	cases := []lookupCase{}
	bad := []struct{ name, code string }{
		{"lowercase", "kr"},
		{"three letters", "KOR"},
		{"placeholder", "--"},
		{"digit", "K1"},
		{"empty", ""},
		{"non-ascii", "КР"},
		{"long name", "Republic of Korea and a much longer name"},
	}
	for i, b := range bad {
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{1, 0, byte(i), 0}), 24)
		nets = append(nets, network{cidr.String(), mmdbtype.Map{"country": isoCode(b.code)}})
		cases = append(cases, lookupCase{"unknown/" + b.name, cidr.Addr().Next().String(), fds.GeoInfo{}, false})
	}
	nets = append(nets,
		network{"2.0.0.0/24", mmdbtype.Map{"country": isoCode("kr"), "registered_country": isoCode("KR")}},
		network{"2.0.1.0/24", mmdbtype.Map{"country": mmdbtype.Uint32(410)}},
		network{"2.0.2.0/24", mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.Uint32(410)}}},
		network{"2.0.3.0/24", mmdbtype.Map{"country_code": mmdbtype.Bool(true)}},
	)
	cases = append(cases,
		lookupCase{"ok/bad country falls back to registered", "2.0.0.1", fds.GeoInfo{Country: "KR"}, true},
		lookupCase{"unknown/numeric country", "2.0.1.1", fds.GeoInfo{}, false},
		lookupCase{"unknown/numeric iso_code", "2.0.2.1", fds.GeoInfo{}, false},
		lookupCase{"unknown/boolean country_code", "2.0.3.1", fds.GeoInfo{}, false},
	)
	checkLookups(t, mustOpen(t, mustWrite(t, "odd", nets)), cases)
}

func TestDemoDB(t *testing.T) {
	db, _ := demoDB(t)
	checkLookups(t, db, []lookupCase{
		{"ok/seoul", "203.0.113.10", fds.GeoInfo{Country: "KR", Loc: loc(37.5665, 126.9780)}, true},
		{"ok/new york", "198.51.100.10", fds.GeoInfo{Country: "US", Loc: loc(40.7128, -74.0060)}, true},
		{"ok/tokyo", "192.0.2.10", fds.GeoInfo{Country: "JP", Loc: loc(35.6762, 139.6503)}, true},
		{"ok/vpn", "198.18.0.10", fds.GeoInfo{Country: "NL", Anonymous: true}, true},
		{"ok/seoul ipv6", "2001:db8:82::10", fds.GeoInfo{Country: "KR", Loc: loc(37.5665, 126.9780)}, true},
		{"unknown/outside the demo ranges", "203.0.114.10", fds.GeoInfo{}, false},
	})
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "absent.mmdb"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestOpenCorruptFile(t *testing.T) {
	_, demo := demoDB(t)
	good, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":               {},
		"random bytes":        randomBytes(4096),
		"truncated by 1 byte": good[:len(good)-1],
		"truncated to half":   good[:len(good)/2],
		"truncated to 16":     good[:16],
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.mmdb")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if db, err := Open(path); err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded, want an error", name)
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Every single-byte corruption of a real file either fails to open or
// opens and answers without panicking.
func TestOpenFlippedBytesNeverPanics(t *testing.T) {
	_, demo := demoDB(t)
	good, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	probes := []netip.Addr{
		netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("198.18.0.1"),
		netip.MustParseAddr("2001:db8:82::1"), netip.MustParseAddr("8.8.8.8"),
	}
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0xff
		db, err := openBytes(b)
		if err != nil {
			continue
		}
		for _, ip := range probes {
			if info, ok := db.Lookup(ip); ok && !validCountry(info.Country) {
				t.Fatalf("flip at %d: %s located in %q", i, ip, info.Country)
			}
		}
	}
}

func TestCloseThenLookup(t *testing.T) {
	db, _ := demoDB(t)
	ip := netip.MustParseAddr("203.0.113.1")
	if _, ok := db.Lookup(ip); !ok {
		t.Fatal("demo address unknown before Close")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Lookup(ip); ok {
		t.Error("Lookup after Close located an address")
	}
}

func TestConcurrentLookupAndClose(t *testing.T) {
	db, _ := demoDB(t)
	ip := netip.MustParseAddr("198.51.100.1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if info, ok := db.Lookup(ip); ok && info.Country != "US" {
					t.Errorf("concurrent lookup = %+v", info)
					return
				}
			}
		})
	}
	wg.Go(func() { db.Close() })
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	db, _ := demoDB(b)
	ip := netip.MustParseAddr("203.0.113.1")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := db.Lookup(ip); !ok {
			b.Fatal("unknown")
		}
	}
}
