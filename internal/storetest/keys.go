package storetest

import (
	"testing"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/oauth"
	"github.com/haechi/haechi/internal/sqlstore"
)

func testDataKeys(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	db := open(t)
	k1 := crypto.WrappedKey{ID: "dk_1", KEKVersion: 1, Wrapped: []byte("wrapped-1"), CreatedAt: base}
	k2 := crypto.WrappedKey{ID: "dk_2", KEKVersion: 1, Wrapped: []byte("wrapped-2"), CreatedAt: base.Add(time.Second)}
	must(t, db.AddDataKey(t.Context(), k2))
	must(t, db.AddDataKey(t.Context(), k1))

	t.Run("ok/list oldest first", func(t *testing.T) {
		got, err := db.DataKeys(t.Context())
		must(t, err)
		sameJSON(t, "data keys", got, []crypto.WrappedKey{k1, k2})
	})
	t.Run("error/duplicate id", func(t *testing.T) {
		wantErr(t, db.AddDataKey(t.Context(), k1), errs.ErrConflict)
	})
	t.Run("error/rewrap with an unknown key changes nothing", func(t *testing.T) {
		bad := []crypto.WrappedKey{{ID: "dk_1", KEKVersion: 2, Wrapped: []byte("new-1")}, {ID: "dk_nope", KEKVersion: 2, Wrapped: []byte("x")}}
		wantErr(t, db.RewrapDataKeys(t.Context(), bad), errs.ErrNotFound)
		got, err := db.DataKeys(t.Context())
		must(t, err)
		sameJSON(t, "data keys after failed rewrap", got, []crypto.WrappedKey{k1, k2})
	})
	t.Run("ok/rewrap", func(t *testing.T) {
		r1, r2 := k1, k2
		r1.KEKVersion, r1.Wrapped = 2, []byte("rewrapped-1")
		r2.KEKVersion, r2.Wrapped = 2, []byte("rewrapped-2")
		must(t, db.RewrapDataKeys(t.Context(), []crypto.WrappedKey{r1, r2}))
		got, err := db.DataKeys(t.Context())
		must(t, err)
		sameJSON(t, "data keys after rewrap", got, []crypto.WrappedKey{r1, r2})
	})
}

func testSigningKeys(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	db := open(t)
	start := time.Now()
	k1 := oauth.StoredKey{ID: "sk_1", Sealed: []byte("sealed-1"), CreatedAt: base}
	k2 := oauth.StoredKey{ID: "sk_2", Sealed: []byte("sealed-2"), CreatedAt: base.Add(time.Hour)}

	t.Run("ok/first key signs", func(t *testing.T) {
		must(t, db.AddSigningKey(t.Context(), k1, entry("signing_key.add", k1.ID)))
		got, err := db.SigningKeys(t.Context())
		must(t, err)
		sameJSON(t, "signing keys", got, []oauth.StoredKey{k1})
	})
	t.Run("ok/rotation retires the old key", func(t *testing.T) {
		must(t, db.AddSigningKey(t.Context(), k2, entry("signing_key.add", k2.ID)))
		got, err := db.SigningKeys(t.Context())
		must(t, err)
		if len(got) != 2 || got[0].ID != "sk_1" || got[1].ID != "sk_2" {
			t.Fatalf("keys = %+v", got)
		}
		if got[0].RetiredAt == nil || got[0].RetiredAt.Before(start.Truncate(time.Microsecond)) {
			t.Fatalf("old key retired at %v, want a time from now", got[0].RetiredAt)
		}
		if got[1].RetiredAt != nil {
			t.Fatal("the new key is retired")
		}
		if headSeq(t, db) != 2 {
			t.Fatalf("audit holds %d events, want one per key", headSeq(t, db))
		}
	})
	t.Run("error/duplicate id rolls the retirement back", func(t *testing.T) {
		before := headSeq(t, db)
		wantErr(t, db.AddSigningKey(t.Context(), k2, entry("signing_key.add", k2.ID)), errs.ErrConflict)
		got, err := db.SigningKeys(t.Context())
		must(t, err)
		if got[1].RetiredAt != nil {
			t.Fatal("failed rotation retired the active key")
		}
		if headSeq(t, db) != before {
			t.Fatal("failed rotation wrote an audit event")
		}
	})
}
