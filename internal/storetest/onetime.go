package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/sqlstore"
)

func newCode(id string, maxAttempts int) *onetime.Code {
	return &onetime.Code{ID: id, Purpose: "test.purpose", Subject: "reg_1", Hash: []byte("hash-" + id),
		ExpiresAt: base.Add(3 * time.Minute), MaxAttempts: maxAttempts, CreatedAt: base}
}

func createCode(t *testing.T, db *sqlstore.DB, c *onetime.Code) {
	t.Helper()
	must(t, db.CreateCode(t.Context(), c))
}

func testOneTimeCodes(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("attempts", func(t *testing.T) { testCodeAttempts(t, open(t)) })
	t.Run("parallel", func(t *testing.T) { testCodeRaces(t, open(t)) })
}

func testCodeAttempts(t *testing.T, db *sqlstore.DB) {
	now := base.Add(time.Minute)
	t.Run("ok/round trip counts one attempt", func(t *testing.T) {
		c := newCode("otc_1", 3)
		createCode(t, db, c)
		got, err := db.ConsumeAttempt(t.Context(), "otc_1", now)
		must(t, err)
		want := *c
		want.Attempts = 1
		sameJSON(t, "code", got, &want)
	})
	t.Run("error/duplicate id", func(t *testing.T) {
		wantErr(t, db.CreateCode(t.Context(), newCode("otc_1", 3)), errs.ErrConflict)
	})
	t.Run("error/unknown code", func(t *testing.T) {
		_, err := db.ConsumeAttempt(t.Context(), "otc_nope", now)
		wantErr(t, err, errs.ErrNotFound)
		won, err := db.MarkCodeUsed(t.Context(), "otc_nope", now)
		must(t, err)
		if won {
			t.Fatal("an unknown code was marked used")
		}
	})
	t.Run("error/cap reached", func(t *testing.T) {
		createCode(t, db, newCode("otc_2", 2))
		for range 2 {
			_, err := db.ConsumeAttempt(t.Context(), "otc_2", now)
			must(t, err)
		}
		got := wantNotCounted(t, db, "otc_2", now)
		if got.Attempts != 2 || got.UsedAt != nil {
			t.Fatalf("refused code: attempts %d, used %v; want 2, unused", got.Attempts, got.UsedAt)
		}
	})
	t.Run("error/expired code takes no attempt", func(t *testing.T) {
		c := newCode("otc_3", 5)
		createCode(t, db, c)
		_, err := db.ConsumeAttempt(t.Context(), "otc_3", c.ExpiresAt.Add(-time.Nanosecond))
		must(t, err)
		got := wantNotCounted(t, db, "otc_3", c.ExpiresAt)
		if got.Attempts != 1 || !got.ExpiresAt.Equal(c.ExpiresAt) {
			t.Fatalf("expired code: attempts %d, expires %v", got.Attempts, got.ExpiresAt)
		}
		won, err := db.MarkCodeUsed(t.Context(), "otc_3", c.ExpiresAt)
		must(t, err)
		if won {
			t.Fatal("an expired code was marked used")
		}
	})
	t.Run("ok/used code takes no attempt", func(t *testing.T) {
		createCode(t, db, newCode("otc_4", 5))
		won, err := db.MarkCodeUsed(t.Context(), "otc_4", now)
		must(t, err)
		if !won {
			t.Fatal("first MarkCodeUsed lost")
		}
		got := wantNotCounted(t, db, "otc_4", now)
		if got.UsedAt == nil || !got.UsedAt.Equal(now) || got.Attempts != 0 {
			t.Fatalf("used code: used at %v, attempts %d", got.UsedAt, got.Attempts)
		}
	})
}

// wantNotCounted expects ConsumeAttempt to refuse and return the code.
func wantNotCounted(t *testing.T, db *sqlstore.DB, id string, now time.Time) *onetime.Code {
	t.Helper()
	got, err := db.ConsumeAttempt(t.Context(), id, now)
	wantErr(t, err, onetime.ErrNotCounted)
	if got == nil || got.ID != id {
		t.Fatalf("refused attempt returned code %+v, want %s", got, id)
	}
	return got
}

func testCodeRaces(t *testing.T, db *sqlstore.DB) {
	now := base.Add(time.Minute)
	t.Run("ok/30 parallel attempts on a cap of 5 count exactly 5", func(t *testing.T) {
		createCode(t, db, newCode("otc_race", 5))
		var counted, refused atomic.Int32
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				_, err := db.ConsumeAttempt(t.Context(), "otc_race", now)
				switch {
				case err == nil:
					counted.Add(1)
				case errors.Is(err, onetime.ErrNotCounted):
					refused.Add(1)
				default:
					t.Errorf("attempt: %v", err)
				}
			})
		}
		wg.Wait()
		if counted.Load() != 5 || refused.Load() != 25 {
			t.Fatalf("%d counted, %d refused; want 5 and 25", counted.Load(), refused.Load())
		}
		if got := wantNotCounted(t, db, "otc_race", now); got.Attempts != 5 {
			t.Fatalf("stored attempts %d, want 5", got.Attempts)
		}
	})
	t.Run("ok/parallel MarkCodeUsed has one winner", func(t *testing.T) {
		createCode(t, db, newCode("otc_use", 5))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				won, err := db.MarkCodeUsed(t.Context(), "otc_use", now)
				if err != nil {
					t.Errorf("mark used: %v", err)
				}
				if won {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d callers marked the code used, want 1", wins.Load())
		}
	})
}
