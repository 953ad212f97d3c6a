package sqlstore

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/errs"
)

func TestNanosRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
	}{
		{"ok/zero", time.Time{}},
		{"ok/nanoseconds", time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.UTC)},
		{"ok/before 1970", time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC)},
		{"ok/other zone comes back as UTC", time.Date(2025, 3, 1, 18, 0, 0, 0, time.FixedZone("KST", 9*3600))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fromNanos(nanos(tc.t))
			if !got.Equal(tc.t) || got.Location() != time.UTC {
				t.Fatalf("round trip of %v = %v", tc.t, got)
			}
		})
	}
}

func TestCheckTimes(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		ok   bool
	}{
		{"ok/zero", time.Time{}, true},
		{"ok/now", time.Now(), true},
		{"error/after 2262", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"error/before 1677", time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTimes(tc.t)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errs.ErrInvalid)) {
				t.Fatalf("checkTimes(%v) = %v", tc.t, err)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ok/unchanged", "김철수 login", "김철수 login"},
		{"ok/invalid byte", "a\xffb", "a\uFFFDb"},
		{"ok/nul", "a\x00b", "a\uFFFDb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cleanText(tc.in); got != tc.want {
				t.Fatalf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzCleanText checks the output is always storable on both engines.
func FuzzCleanText(f *testing.F) {
	f.Add("plain")
	f.Add("\xff\x00\xc3")
	f.Fuzz(func(t *testing.T, s string) {
		out := cleanText(s)
		if !utf8.ValidString(out) || slices.Contains([]byte(out), 0) {
			t.Fatalf("cleanText(%q) = %q", s, out)
		}
		if utf8.ValidString(s) && !slices.Contains([]byte(s), 0) && out != s {
			t.Fatalf("cleanText changed clean text %q", s)
		}
	})
}

// FuzzDecodeDetails feeds stored details back through the decoder: it must
// not panic, and what it accepts must survive another round trip.
func FuzzDecodeDetails(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"a":"b","c":"d"}`)
	f.Add(`null`)
	f.Add(`{"a":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeDetails(s)
		if err != nil {
			return
		}
		enc, err := encodeDetails(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeDetails(enc)
		if err != nil || !maps.Equal(m, again) {
			t.Fatalf("details %q did not survive a round trip: %v", s, err)
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	f.Add(`[]`)
	f.Add(`["ekyc","login"]`)
	f.Add(`[1]`)
	f.Fuzz(func(t *testing.T, s string) {
		xs, err := decodeList[string](s)
		if err != nil {
			return
		}
		enc, err := encodeList(xs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeList[string](enc)
		if err != nil || !slices.Equal(xs, again) {
			t.Fatalf("list %q did not survive a round trip: %v", s, err)
		}
	})
}
