// Package geoip answers fds.Geo from an MMDB file: the GeoIP2/GeoLite2
// Country and City layouts, and the simpler CC0 IP-to-country layouts
// (DB-IP Lite's country.iso_code, IPinfo's top-level country_code). The
// country is all the engine needs; coordinates and the anonymity flags are
// used when the file has them.
package geoip

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/haechi/haechi/internal/fds"
)

var _ fds.Geo = (*DB)(nil)

// DB is an opened IP database. It is safe for concurrent use, Close
// included.
type DB struct {
	r atomic.Pointer[maxminddb.Reader]
}

// Open reads the MMDB file at path. A missing or unreadable file, or one
// whose metadata or layout is damaged (random bytes, a truncated copy), is
// an error; the caller runs on with the country unknown.
func Open(path string) (*DB, error) {
	// Read into memory rather than mmap: an operator who copies a new
	// database over the old file in place would otherwise crash the server
	// with SIGBUS.
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: read database: %w", err)
	}
	return openBytes(b)
}

func openBytes(b []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip: open database: %w", err)
	}
	// No r.Verify(): it is stricter than the format and refuses files that
	// read well (an empty description is enough). Damage it would find
	// shows up as a decode error on lookup, which answers unknown.
	db := &DB{}
	db.r.Store(r)
	return db, nil
}

// Close releases the database; later lookups answer unknown.
func (db *DB) Close() error {
	// The reader is backed by heap memory, so dropping it is enough; calling
	// its Close would race with lookups still in flight.
	db.r.Store(nil)
	return nil
}

// Lookup returns what the database says of ip. ok is false for addresses
// that cannot be located (private, loopback, link-local, unspecified), for
// addresses the database does not cover, and for records without a valid
// ISO 3166-1 alpha-2 country.
func (db *DB) Lookup(ip netip.Addr) (fds.GeoInfo, bool) {
	ip = ip.Unmap().WithZone("")
	r := db.r.Load()
	if r == nil || !locatable(ip) {
		return fds.GeoInfo{}, false
	}
	var rec record
	res := r.Lookup(ip)
	if !res.Found() || res.Decode(&rec) != nil {
		return fds.GeoInfo{}, false
	}
	return rec.info()
}

func locatable(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLoopback() &&
		!ip.IsPrivate() && !ip.IsLinkLocalUnicast() &&
		!ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast()
}

// record is the union of the layouts read: GeoIP2 (country is a map) and
// the flat ones (country_code, or country as a bare code).
type record struct {
	Country           country `maxminddb:"country"`
	RegisteredCountry country `maxminddb:"registered_country"`
	CountryCode       string  `maxminddb:"country_code"`
	Location          struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Traits    anonymity `maxminddb:"traits"`
	anonymity           // the GeoIP2 Anonymous IP layout keeps the flags at the top
}

type anonymity struct {
	IsAnonymous      bool `maxminddb:"is_anonymous"`
	IsAnonymousProxy bool `maxminddb:"is_anonymous_proxy"`
	IsAnonymousVPN   bool `maxminddb:"is_anonymous_vpn"`
	IsPublicProxy    bool `maxminddb:"is_public_proxy"`
	IsTorExitNode    bool `maxminddb:"is_tor_exit_node"`
}

func (a anonymity) any() bool {
	return a.IsAnonymous || a.IsAnonymousProxy || a.IsAnonymousVPN ||
		a.IsPublicProxy || a.IsTorExitNode
}

func (rec *record) info() (fds.GeoInfo, bool) {
	cc := firstValid(string(rec.Country), rec.CountryCode, string(rec.RegisteredCountry))
	if cc == "" {
		return fds.GeoInfo{}, false
	}
	return fds.GeoInfo{
		Country:   cc,
		Loc:       location(rec.Location.Latitude, rec.Location.Longitude),
		Anonymous: rec.Traits.any() || rec.anonymity.any(),
	}, true
}

func firstValid(codes ...string) string {
	for _, c := range codes {
		if validCountry(c) {
			return c
		}
	}
	return ""
}

// validCountry accepts two ASCII capital letters. Databases put
// placeholders such as "--", "ZZ"-style codes in lowercase, or names where
// codes belong; anything not shaped like a code is unknown.
func validCountry(c string) bool {
	return len(c) == 2 && isUpper(c[0]) && isUpper(c[1])
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func location(lat, lon *float64) *fds.Location {
	if lat == nil || lon == nil {
		return nil
	}
	if math.IsNaN(*lat) || math.IsNaN(*lon) ||
		math.Abs(*lat) > 90 || math.Abs(*lon) > 180 {
		return nil
	}
	return &fds.Location{Lat: *lat, Lon: *lon}
}
