package sqlstore

import (
	"testing"
	"time"

	"github.com/haechi/haechi/internal/ekyc"
)

// FuzzDecodeMethods: whatever a methods column holds, decoding does not
// panic, and what decodes encodes back to the same states.
func FuzzDecodeMethods(f *testing.F) {
	f.Add(`[]`)
	f.Add(`[{"method":"id_card","status":"passed","attempts":1,"updated_at":1,"evidence":"evd_1"}]`)
	f.Add(`[{"method":"carrier","status":"started","attempts":2,"updated_at":-5,"pending":1,"sends":3,"code_id":"otc_1","code_until":9223372036854775807}]`)
	f.Add(`[{"attempts":"x"}]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := decodeMethods(s)
		if err != nil {
			return
		}
		r := &ekyc.Record{Session: ekyc.Session{Methods: ms}}
		_, enc, err := encodeSessionState(r)
		if err != nil {
			t.Fatalf("encode of decoded %q: %v", s, err)
		}
		again, err := decodeMethods(enc)
		if err != nil || len(again) != len(ms) {
			t.Fatalf("round trip of %q: %v, %d states", s, err, len(again))
		}
		for i := range ms {
			a, b := ms[i], again[i]
			if a.Method != b.Method || a.Status != b.Status || a.Attempts != b.Attempts || a.Pending != b.Pending ||
				a.CodeID != b.CodeID || !sameTime(a.UpdatedAt, b.UpdatedAt) || !sameTime(a.CodeUntil, b.CodeUntil) {
				t.Fatalf("state %d changed: %+v -> %+v", i, a, b)
			}
		}
	})
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }
