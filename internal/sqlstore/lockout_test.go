package sqlstore

import (
	"testing"
	"time"
)

// FuzzDecodeTimes: the stored list of failure times decodes without panic,
// and what decodes encodes back to the same times.
func FuzzDecodeTimes(f *testing.F) {
	f.Add("[]")
	f.Add("[1740821400123456789,1740821401000000000]")
	f.Add("[0]")
	f.Add("null")
	f.Add(`{"a":1}`)
	f.Add("[1e30]")
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := decodeTimes(s)
		if err != nil {
			return
		}
		enc, err := encodeTimes(ts)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeTimes(enc)
		if err != nil || len(again) != len(ts) {
			t.Fatalf("%q → %q → %v %v", s, enc, again, err)
		}
		for i := range ts {
			if !again[i].Equal(ts[i]) {
				t.Fatalf("time %d: %v != %v", i, again[i], ts[i])
			}
		}
	})
}

func TestEncodeTimes(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.UTC)
	enc, err := encodeTimes([]time.Time{at})
	if err != nil || enc != "[1740821400123456789]" {
		t.Fatalf("%q %v", enc, err)
	}
	if enc, _ := encodeTimes(nil); enc != "[]" {
		t.Fatalf("nil encodes as %q", enc)
	}
}
