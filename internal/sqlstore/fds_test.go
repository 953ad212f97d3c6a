package sqlstore

import (
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestFeaturesKeepNumberKinds(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"ok/int", 3, int64(3)},
		{"ok/negative int64", int64(-9), int64(-9)},
		{"ok/integral float", 2.0, 2.0},
		{"ok/float", 0.1, 0.1},
		{"ok/large float", 1e21, 1e21},
		{"ok/float32", float32(1.5), 1.5},
		{"ok/NaN is null", math.NaN(), nil},
		{"ok/infinity is null", math.Inf(-1), nil},
		{"ok/uint64 beyond int64 comes back a float", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"ok/bool and string", []any{true, "KR"}, []any{true, "KR"}},
		{"ok/float slice", []float64{1, 0.5}, []any{1.0, 0.5}},
		{"ok/nested", map[string]any{"a": []any{1, 2.0}}, map[string]any{"a": []any{int64(1), 2.0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := encodeFeatures(map[string]any{"f": tc.in})
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeFeatures(s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got["f"], tc.want) {
				t.Fatalf("%s came back %#v, want %#v", s, got["f"], tc.want)
			}
		})
	}
	t.Run("ok/nil map", func(t *testing.T) {
		s, err := encodeFeatures(nil)
		if err != nil || s != "null" {
			t.Fatalf("encode nil = %q, %v", s, err)
		}
		if m, err := decodeFeatures(s); m != nil || err != nil {
			t.Fatalf("decode null = %v, %v", m, err)
		}
	})
	t.Run("error/not an object", func(t *testing.T) {
		for _, s := range []string{`[1]`, `{"a":1} {}`, `{"a":`, ``} {
			if _, err := decodeFeatures(s); err == nil {
				t.Fatalf("decodeFeatures(%q) succeeded", s)
			}
		}
	})
}

// FuzzFeatures checks that whatever decodes is stable from its first save
// on: saving and reading again gives the same JSON and the same values.
func FuzzFeatures(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"a":1,"b":1.0,"c":1e3,"d":[1,2.5,{"e":-0}]}`,
		`{"big":18446744073709551615,"huge":1e999,"s":"x\u0000y","t":true,"n":null}`, `{"a":-9223372036854775808}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, err := decodeFeatures(s)
		if err != nil {
			return
		}
		saved, err := encodeFeatures(first)
		if err != nil {
			t.Fatalf("encode %#v: %v", first, err)
		}
		read, err := decodeFeatures(saved)
		if err != nil {
			t.Fatalf("decode what was saved %s: %v", saved, err)
		}
		again, err := encodeFeatures(read)
		if err != nil {
			t.Fatal(err)
		}
		if again != saved {
			t.Fatalf("saved %s, then %s", saved, again)
		}
		reread, err := decodeFeatures(again)
		if err != nil || !reflect.DeepEqual(reread, read) {
			t.Fatalf("read %#v, then %#v (%v)", read, reread, err)
		}
	})
}

func TestIPEntryContains(t *testing.T) {
	tests := []struct {
		name, value, ip string
		want            bool
	}{
		{"ok/same address", "203.0.113.9", "203.0.113.9", true},
		{"ok/mapped event address, IPv4 entry", "203.0.113.9", "::ffff:203.0.113.9", true},
		{"ok/mapped entry, IPv4 event", "::ffff:203.0.113.9", "203.0.113.9", true},
		{"ok/IPv4 prefix", "10.0.0.0/8", "10.255.0.1", true},
		{"ok/IPv4 prefix with host bits", "10.1.2.3/8", "10.9.9.9", true},
		{"ok/mapped prefix holds IPv4", "::ffff:10.0.0.0/104", "10.1.1.1", true},
		{"ok/IPv6 prefix", "2001:db8::/32", "2001:db8:1::5", true},
		{"error/all of IPv6 is not all of IPv4", "::/0", "192.0.2.1", false},
		{"error/short mapped prefix is IPv6 only", "::ffff:0.0.0.0/80", "192.0.2.1", false},
		{"error/outside", "10.0.0.0/8", "11.0.0.1", false},
		{"error/IPv4 prefix, IPv6 event", "0.0.0.0/0", "2001:db8::1", false},
		{"error/bad prefix", "10.0.0.0/40", "10.0.0.1", false},
		{"error/not an address", "example.com", "10.0.0.1", false},
		{"error/no event address", "10.0.0.0/8", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ip, _ := parseEventIP(tc.ip)
			if got := ipEntryContains(tc.value, ip); got != tc.want {
				t.Fatalf("ipEntryContains(%q, %q) = %v", tc.value, tc.ip, got)
			}
		})
	}
}

// FuzzIPEntry checks that list values and event addresses never panic the
// matcher, that a valid entry contains its own first address, and that an
// entry the store refuses never matches.
func FuzzIPEntry(f *testing.F) {
	for _, s := range [][2]string{{"10.0.0.0/8", "10.1.2.3"}, {"::ffff:192.0.2.0/120", "192.0.2.1"},
		{"2001:db8::/32", "2001:db8::1%eth0"}, {"1.2.3.4", "::ffff:1.2.3.4"}, {"/", ""}, {"::/0", "0.0.0.0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, value, ip string) {
		addr, _ := parseEventIP(ip)
		got := ipEntryContains(value, addr)
		if !ipEntryValid(value) {
			if got {
				t.Fatalf("invalid entry %q matched %q", value, ip)
			}
			return
		}
		first := value
		if strings.Contains(value, "/") {
			first = netip.MustParsePrefix(value).Masked().Addr().String()
		}
		own, ok := parseEventIP(first)
		if !ok || !ipEntryContains(value, own) {
			t.Fatalf("entry %q does not contain its first address %q", value, first)
		}
	})
}
