package storetest

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
)

func testPasskeySessions(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("single use", func(t *testing.T) { testPasskeySingleUse(t, open(t)) })
	t.Run("expiry", func(t *testing.T) { testPasskeyExpiry(t, open(t)) })
	t.Run("refused", func(t *testing.T) { testPasskeyRefused(t, open(t)) })
	t.Run("concurrent takes", func(t *testing.T) { testPasskeyConcurrent(t, open(t)) })
}

func savePasskey(t *testing.T, db *sqlstore.DB, id, data string, expires time.Time) {
	t.Helper()
	must(t, db.SavePasskeySession(t.Context(), id, []byte(data), expires))
}

func testPasskeySingleUse(t *testing.T, db *sqlstore.DB) {
	savePasskey(t, db, "pks_a", `{"challenge":"a"}`, base.Add(5*time.Minute))
	savePasskey(t, db, "pks_b", `{"challenge":"b"}`, base.Add(5*time.Minute))
	t.Run("ok/take returns the data", func(t *testing.T) {
		got, err := db.TakePasskeySession(t.Context(), "pks_a", base)
		must(t, err)
		if string(got) != `{"challenge":"a"}` {
			t.Fatalf("data = %s", got)
		}
	})
	t.Run("error/second take is not found", func(t *testing.T) {
		_, err := db.TakePasskeySession(t.Context(), "pks_a", base)
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/unknown id", func(t *testing.T) {
		_, err := db.TakePasskeySession(t.Context(), "pks_nope", base)
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("ok/other session untouched", func(t *testing.T) {
		got, err := db.TakePasskeySession(t.Context(), "pks_b", base)
		must(t, err)
		if string(got) != `{"challenge":"b"}` {
			t.Fatalf("data = %s", got)
		}
	})
}

func testPasskeyExpiry(t *testing.T, db *sqlstore.DB) {
	expires := base.Add(5 * time.Minute)
	savePasskey(t, db, "pks_late", "x", expires)
	savePasskey(t, db, "pks_edge", "y", expires)
	savePasskey(t, db, "pks_live", "z", expires.Add(time.Nanosecond))
	t.Run("error/expired is not found", func(t *testing.T) {
		_, err := db.TakePasskeySession(t.Context(), "pks_late", expires.Add(time.Second))
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/at the expiry instant is expired", func(t *testing.T) {
		_, err := db.TakePasskeySession(t.Context(), "pks_edge", expires)
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("ok/purge removes expired rows only", func(t *testing.T) {
		n, err := db.PurgePasskeySessions(t.Context(), expires)
		must(t, err)
		if n != 2 {
			t.Fatalf("purged %d, want 2 (late and edge)", n)
		}
		got, err := db.TakePasskeySession(t.Context(), "pks_live", expires)
		must(t, err)
		if string(got) != "z" {
			t.Fatalf("data = %s", got)
		}
	})
	t.Run("ok/an expired row stays expired after the clock goes back", func(t *testing.T) {
		// A purged session is gone for good: even a clock set back cannot
		// revive it.
		_, err := db.TakePasskeySession(t.Context(), "pks_late", base)
		wantErr(t, err, errs.ErrNotFound)
	})
}

func testPasskeyRefused(t *testing.T, db *sqlstore.DB) {
	savePasskey(t, db, "pks_1", "first", base.Add(time.Minute))
	t.Run("error/duplicate id keeps the first", func(t *testing.T) {
		err := db.SavePasskeySession(t.Context(), "pks_1", []byte("second"), base.Add(time.Hour))
		wantErr(t, err, errs.ErrConflict)
		got, err := db.TakePasskeySession(t.Context(), "pks_1", base)
		must(t, err)
		if string(got) != "first" {
			t.Fatalf("data = %s, want the first save", got)
		}
	})
	tests := []struct {
		name    string
		id      string
		data    []byte
		expires time.Time
	}{
		{"error/empty id", "", []byte("d"), base},
		{"error/empty data", "pks_2", nil, base},
		{"error/zero expiry", "pks_3", []byte("d"), time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, db.SavePasskeySession(t.Context(), tc.id, tc.data, tc.expires), errs.ErrInvalid)
			if tc.id != "" {
				_, err := db.TakePasskeySession(t.Context(), tc.id, base)
				wantErr(t, err, errs.ErrNotFound)
			}
		})
	}
}

// testPasskeyConcurrent races takes of one session: exactly one may win,
// or a challenge could be answered twice.
func testPasskeyConcurrent(t *testing.T, db *sqlstore.DB) {
	const racers = 8
	savePasskey(t, db, "pks_race", "prize", base.Add(time.Minute))
	var wins, misses atomic.Int32
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			got, err := db.TakePasskeySession(t.Context(), "pks_race", base)
			switch {
			case err == nil && bytes.Equal(got, []byte("prize")):
				wins.Add(1)
			case errors.Is(err, errs.ErrNotFound):
				misses.Add(1)
			default:
				t.Errorf("take: %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || misses.Load() != racers-1 {
		t.Fatalf("wins %d, misses %d; want 1 and %d", wins.Load(), misses.Load(), racers-1)
	}
}
