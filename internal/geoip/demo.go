package geoip

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Demo addresses: documentation and benchmarking ranges (RFC 5737, RFC 2544, RFC 3849), so
// the demo never locates a real network.
const (
	DemoSeoul   = "203.0.113.0/24"   // KR, Seoul
	DemoNewYork = "198.51.100.0/24"  // US, New York
	DemoTokyo   = "192.0.2.0/24"     // JP, Tokyo
	DemoVPN     = "198.18.0.0/24"    // NL, an anonymous VPN, no coordinates (benchmarking range: unicast, never routed)
	DemoSeoulV6 = "2001:db8:82::/48" // KR, Seoul, over IPv6
)

// WriteDemoDB writes a small database in the GeoLite2-City layout covering
// the Demo ranges, for the demo server and for tests.
func WriteDemoDB(path string) error {
	seoul := cityRecord("KR", 37.5665, 126.9780)
	return writeDB(path, "haechi-Demo-City", []network{
		{DemoSeoul, seoul},
		{DemoNewYork, cityRecord("US", 40.7128, -74.0060)},
		{DemoTokyo, cityRecord("JP", 35.6762, 139.6503)},
		{DemoVPN, mmdbtype.Map{
			"country":            isoCode("NL"),
			"registered_country": isoCode("NL"),
			"traits":             mmdbtype.Map{"is_anonymous": mmdbtype.Bool(true), "is_anonymous_vpn": mmdbtype.Bool(true)},
		}},
		{DemoSeoulV6, seoul},
	})
}

// network is one CIDR and its record, for writeDB.
type network struct {
	cidr  string
	value mmdbtype.Map
}

func cityRecord(cc string, lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{
		"country":            isoCode(cc),
		"registered_country": isoCode(cc),
		"location": mmdbtype.Map{
			"latitude":  mmdbtype.Float64(lat),
			"longitude": mmdbtype.Float64(lon),
		},
	}
}

func isoCode(cc string) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(cc)}
}

// writeDB writes an IPv6 database (IPv4 reachable through it) and renames
// it into place, so a server reading path never sees half a file.
func writeDB(path, dbType string, nets []network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		Description:  map[string]string{"en": "haechi " + dbType},
		// Documentation ranges are reserved; the writer refuses them otherwise.
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return fmt.Errorf("geoip: new database: %w", err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			return fmt.Errorf("geoip: network %q: %w", n.cidr, err)
		}
		if err := tree.Insert(ipnet, n.value); err != nil {
			return fmt.Errorf("geoip: insert %s: %w", n.cidr, err)
		}
	}
	return writeFile(path, tree)
}

func writeFile(path string, tree *mmdbwriter.Tree) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".geoip-*.mmdb")
	if err != nil {
		return fmt.Errorf("geoip: write database: %w", err)
	}
	defer os.Remove(f.Name()) // no-op once renamed
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("geoip: write database: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("geoip: write database: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("geoip: write database: %w", err)
	}
	return nil
}
