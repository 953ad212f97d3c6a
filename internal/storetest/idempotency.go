package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/sqlstore"
)

// testIdempotency checks the idempotency keys: a claim is won once, kept
// responses come back as stored, a lapsed lease or an expired record is
// taken over, and exactly one of racing claimants holds a key.
func testIdempotency(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("ok/claim, complete, read back", func(t *testing.T) {
		db := open(t)
		r := claimAt("mch_1", "key-0123456789abcdef", "fp-a", base)
		if got := claim(t, db, r); got != nil {
			t.Fatalf("first claim found %+v", got)
		}
		got := claim(t, db, claimAt("mch_1", "key-0123456789abcdef", "fp-b", base.Add(time.Second)))
		sameJSON(t, "pending record", got, r)
		must(t, db.CompleteIdempotencyKey(t.Context(), r.Scope, r.Key, r.Fingerprint, 201, []byte("sealed-body")))
		got = claim(t, db, claimAt("mch_1", "key-0123456789abcdef", "fp-a", base.Add(2*idempotency.Lease)))
		want := r
		want.State, want.Status, want.Sealed = idempotency.Done, 201, []byte("sealed-body")
		sameJSON(t, "done record", got, want)
	})
	t.Run("error/complete needs the pending claim", func(t *testing.T) {
		db := open(t)
		r := claimAt("mch_1", "key-0123456789abcdef", "fp-a", base)
		claim(t, db, r)
		ctx := t.Context()
		wantErr(t, db.CompleteIdempotencyKey(ctx, r.Scope, r.Key, []byte("fp-other"), 200, []byte("x")), errs.ErrNotFound)
		wantErr(t, db.CompleteIdempotencyKey(ctx, "mch_2", r.Key, r.Fingerprint, 200, []byte("x")), errs.ErrNotFound)
		wantErr(t, db.CompleteIdempotencyKey(ctx, r.Scope, r.Key, r.Fingerprint, 0, []byte("x")), errs.ErrInvalid)
		must(t, db.CompleteIdempotencyKey(ctx, r.Scope, r.Key, r.Fingerprint, 200, []byte("first")))
		wantErr(t, db.CompleteIdempotencyKey(ctx, r.Scope, r.Key, r.Fingerprint, 200, []byte("second")), errs.ErrNotFound)
		wantErr(t, db.ReleaseIdempotencyKey(ctx, r.Scope, r.Key, r.Fingerprint), errs.ErrNotFound)
		if got := claim(t, db, claimAt(r.Scope, r.Key, "fp-a", base)); string(got.Sealed) != "first" {
			t.Fatalf("kept response %q, want the first", got.Sealed)
		}
	})
	t.Run("ok/scopes keep keys apart", func(t *testing.T) {
		db := open(t)
		claim(t, db, claimAt("mch_1", "key-0123456789abcdef", "fp-a", base))
		if got := claim(t, db, claimAt("mch_2", "key-0123456789abcdef", "fp-a", base)); got != nil {
			t.Fatalf("another scope's key was taken: %+v", got)
		}
	})
	t.Run("ok/release lets the key be claimed again", func(t *testing.T) {
		db := open(t)
		r := claimAt("mch_1", "key-0123456789abcdef", "fp-a", base)
		claim(t, db, r)
		wantErr(t, db.ReleaseIdempotencyKey(t.Context(), r.Scope, r.Key, []byte("fp-b")), errs.ErrNotFound)
		must(t, db.ReleaseIdempotencyKey(t.Context(), r.Scope, r.Key, r.Fingerprint))
		if got := claim(t, db, claimAt(r.Scope, r.Key, "fp-b", base)); got != nil {
			t.Fatalf("released key still held: %+v", got)
		}
	})
	t.Run("ok/lapsed lease is taken over", func(t *testing.T) {
		db := open(t)
		r := claimAt("mch_1", "key-0123456789abcdef", "fp-a", base)
		claim(t, db, r)
		if got := claim(t, db, claimAt(r.Scope, r.Key, "fp-b", r.LeaseUntil.Add(-time.Nanosecond))); got == nil {
			t.Fatal("a live lease was taken over")
		}
		next := claimAt(r.Scope, r.Key, "fp-b", r.LeaseUntil)
		if got := claim(t, db, next); got != nil {
			t.Fatalf("lapsed lease not taken over: %+v", got)
		}
		// The first claimant lost the key: it can neither keep a response
		// nor release the new claim.
		wantErr(t, db.CompleteIdempotencyKey(t.Context(), r.Scope, r.Key, r.Fingerprint, 200, []byte("x")), errs.ErrNotFound)
		wantErr(t, db.ReleaseIdempotencyKey(t.Context(), r.Scope, r.Key, r.Fingerprint), errs.ErrNotFound)
		sameJSON(t, "new claim", claim(t, db, claimAt(r.Scope, r.Key, "fp-c", next.CreatedAt)), next)
	})
	t.Run("ok/done record kept until it expires", func(t *testing.T) {
		db := open(t)
		r := claimAt("mch_1", "key-0123456789abcdef", "fp-a", base)
		claim(t, db, r)
		must(t, db.CompleteIdempotencyKey(t.Context(), r.Scope, r.Key, r.Fingerprint, 200, []byte("x")))
		if got := claim(t, db, claimAt(r.Scope, r.Key, "fp-b", r.ExpiresAt.Add(-time.Nanosecond))); got == nil || got.State != idempotency.Done {
			t.Fatalf("done record before expiry: %+v", got)
		}
		if got := claim(t, db, claimAt(r.Scope, r.Key, "fp-b", r.ExpiresAt)); got != nil {
			t.Fatalf("expired record not taken over: %+v", got)
		}
	})
	t.Run("ok/purge deletes expired records only", func(t *testing.T) {
		db := open(t)
		old := claimAt("mch_1", "key-old-0123456789ab", "fp-a", base)
		claim(t, db, old)
		must(t, db.CompleteIdempotencyKey(t.Context(), old.Scope, old.Key, old.Fingerprint, 200, []byte("x")))
		claim(t, db, claimAt("mch_1", "key-pending-0123456", "fp-a", base))
		young := claimAt("mch_1", "key-young-012345678", "fp-a", base.Add(time.Hour))
		claim(t, db, young)
		n, err := db.PurgeIdempotencyKeys(t.Context(), old.ExpiresAt)
		must(t, err)
		if n != 2 {
			t.Fatalf("purged %d records, want the 2 expired", n)
		}
		if got := claim(t, db, claimAt(young.Scope, young.Key, "fp-b", young.CreatedAt)); got == nil {
			t.Fatal("the unexpired record was purged")
		}
		// Purged, the old key is free even to a claim dated before its expiry.
		if got := claim(t, db, claimAt(old.Scope, old.Key, "fp-b", base)); got != nil {
			t.Fatalf("purged record still there: %+v", got)
		}
	})
	t.Run("error/bad claims", func(t *testing.T) {
		db := open(t)
		good := claimAt("mch_1", "key-0123456789abcdef", "fp-a", base)
		bad := map[string]func(r *idempotency.Record){
			"no scope":       func(r *idempotency.Record) { r.Scope = "" },
			"no key":         func(r *idempotency.Record) { r.Key = "" },
			"no fingerprint": func(r *idempotency.Record) { r.Fingerprint = nil },
			"done":           func(r *idempotency.Record) { r.State = idempotency.Done },
			"no lease":       func(r *idempotency.Record) { r.LeaseUntil = r.CreatedAt },
			"lease too long": func(r *idempotency.Record) { r.ExpiresAt = r.LeaseUntil.Add(-time.Nanosecond) },
		}
		for name, spoil := range bad {
			r := good
			spoil(&r)
			if _, err := db.ClaimIdempotencyKey(t.Context(), r); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("%s: error %v, want invalid_request", name, err)
			}
		}
		if got := claim(t, db, good); got != nil {
			t.Fatalf("a refused claim was stored: %+v", got)
		}
	})
	t.Run("ok/racing claimants, one winner", func(t *testing.T) { ConcurrentIdempotencyClaims(t, open(t)) })
}

// ConcurrentIdempotencyClaims races claimants of one key, each with its own
// fingerprint, spread over dbs (which may be several handles on one
// database, as several nodes would hold): exactly one gets the key and the
// others see its claim. Then the same happens when the winner's lease has
// lapsed: exactly one takes it over.
func ConcurrentIdempotencyClaims(t *testing.T, dbs ...*sqlstore.DB) {
	t.Helper()
	const scope, key = "mch_race", "key-race-0123456789"
	raceClaims(t, dbs, scope, key, base)
	raceClaims(t, dbs, scope, key, base.Add(idempotency.Lease))
}

func raceClaims(t *testing.T, dbs []*sqlstore.DB, scope, key string, at time.Time) {
	t.Helper()
	const racers = 12
	var (
		mu      sync.Mutex
		winners []string
		seen    [][]byte
		wg      sync.WaitGroup
	)
	for i := range racers {
		db := dbs[i%len(dbs)]
		fp := fmt.Sprintf("fp-%d-%d", at.UnixNano(), i)
		wg.Go(func() {
			got, err := db.ClaimIdempotencyKey(t.Context(), claimAt(scope, key, fp, at))
			if err != nil {
				t.Errorf("claim %s: %v", fp, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if got == nil {
				winners = append(winners, fp)
			} else {
				seen = append(seen, got.Fingerprint)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if len(winners) != 1 {
		t.Fatalf("at %s, %d claimants won (%v), want exactly one", at, len(winners), winners)
	}
	for _, fp := range seen {
		if !bytes.Equal(fp, []byte(winners[0])) {
			t.Fatalf("a loser saw claim %q, not the winner's %q", fp, winners[0])
		}
	}
}

// claimAt is a fresh claim at now with the default lease and retention.
func claimAt(scope, key, fingerprint string, now time.Time) idempotency.Record {
	return idempotency.Record{Scope: scope, Key: key, Fingerprint: []byte(fingerprint), State: idempotency.Pending,
		CreatedAt: now, LeaseUntil: now.Add(idempotency.Lease), ExpiresAt: now.Add(idempotency.Retention)}
}

func claim(t *testing.T, db *sqlstore.DB, r idempotency.Record) *idempotency.Record {
	t.Helper()
	got, err := db.ClaimIdempotencyKey(t.Context(), r)
	must(t, err)
	return got
}
