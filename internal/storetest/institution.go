package storetest

import (
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/sqlstore"
)

func newClient(id string, at time.Time) *institution.Client {
	return &institution.Client{ID: id, Name: "Bank " + id, Scopes: []string{"ekyc", "login"},
		SecretHash: []byte("hash-" + id), CreatedAt: at}
}

func testClients(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	db := open(t)
	c1, c2 := newClient("cl_1", base), newClient("cl_2", base.Add(time.Minute))
	must(t, db.CreateClient(t.Context(), c2, entry("client.create", c2.ID)))
	must(t, db.CreateClient(t.Context(), c1, entry("client.create", c1.ID)))

	t.Run("ok/get and list", func(t *testing.T) {
		got, err := db.Client(t.Context(), "cl_1")
		must(t, err)
		sameJSON(t, "client", got, c1)
		all, err := db.Clients(t.Context())
		must(t, err)
		sameJSON(t, "clients", all, []*institution.Client{c1, c2})
		if headSeq(t, db) != 2 {
			t.Fatalf("audit holds %d events, want one per client", headSeq(t, db))
		}
	})
	t.Run("error/not found", func(t *testing.T) {
		_, err := db.Client(t.Context(), "cl_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/duplicate id writes nothing", func(t *testing.T) {
		before := headSeq(t, db)
		dup := newClient("cl_1", base)
		dup.Name = "Impostor"
		wantErr(t, db.CreateClient(t.Context(), dup, entry("client.create", dup.ID)), errs.ErrConflict)
		if headSeq(t, db) != before {
			t.Fatal("a refused client wrote an audit event")
		}
		got, err := db.Client(t.Context(), "cl_1")
		must(t, err)
		sameJSON(t, "client after refused duplicate", got, c1)
	})
	t.Run("ok/revoke", func(t *testing.T) {
		at := base.Add(time.Hour)
		must(t, db.RevokeClient(t.Context(), "cl_2", at, entry("client.revoke", "cl_2")))
		got, err := db.Client(t.Context(), "cl_2")
		must(t, err)
		if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
			t.Fatalf("revoked at %v, want %v", got.RevokedAt, at)
		}
	})
	t.Run("error/revoke twice keeps the first", func(t *testing.T) {
		before := headSeq(t, db)
		wantErr(t, db.RevokeClient(t.Context(), "cl_2", base.Add(2*time.Hour), entry("client.revoke", "cl_2")), errs.ErrConflict)
		got, err := db.Client(t.Context(), "cl_2")
		must(t, err)
		if !got.RevokedAt.Equal(base.Add(time.Hour)) || headSeq(t, db) != before {
			t.Fatal("a second revocation changed the client or the audit log")
		}
	})
	t.Run("error/revoke unknown", func(t *testing.T) {
		wantErr(t, db.RevokeClient(t.Context(), "cl_nope", base, entry("client.revoke", "cl_nope")), errs.ErrNotFound)
	})
	verifyChain(t, db, headSeq(t, db))
}

func newAPIKey(id, clientID string, at time.Time) *institution.APIKey {
	return &institution.APIKey{ID: id, ClientID: clientID, SecretHash: []byte("hash-" + id), Scopes: []string{"ekyc"},
		CreatedAt: at, ExpiresAt: at.Add(365 * 24 * time.Hour)}
}

func testAPIKeys(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	db := open(t)
	for _, c := range []*institution.Client{newClient("cl_a", base), newClient("cl_b", base), newClient("cl_gone", base)} {
		must(t, db.CreateClient(t.Context(), c, entry("client.create", c.ID)))
	}
	must(t, db.RevokeClient(t.Context(), "cl_gone", base, entry("client.revoke", "cl_gone")))
	a1, a2 := newAPIKey("key_a1", "cl_a", base), newAPIKey("key_a2", "cl_a", base.Add(time.Second))
	b1 := newAPIKey("key_b1", "cl_b", base)
	for _, k := range []*institution.APIKey{a2, b1, a1} {
		must(t, db.CreateAPIKey(t.Context(), k, entry("api_key.create", k.ID)))
	}

	t.Run("ok/get", func(t *testing.T) {
		got, err := db.APIKey(t.Context(), "key_b1")
		must(t, err)
		sameJSON(t, "api key", got, b1)
	})
	t.Run("ok/get reports the owner's revocation", func(t *testing.T) {
		k := newAPIKey("key_c1", "cl_b", base)
		must(t, db.CreateAPIKey(t.Context(), k, entry("api_key.create", k.ID)))
		must(t, db.RevokeClient(t.Context(), "cl_b", base.Add(time.Minute), entry("client.revoke", "cl_b")))
		got, err := db.APIKey(t.Context(), "key_c1")
		must(t, err)
		if !got.ClientRevoked || got.RevokedAt != nil {
			t.Fatalf("key of a revoked client: ClientRevoked=%v RevokedAt=%v", got.ClientRevoked, got.RevokedAt)
		}
	})
	t.Run("ok/list is scoped to the client", func(t *testing.T) {
		got, err := db.APIKeys(t.Context(), "cl_a")
		must(t, err)
		sameJSON(t, "keys of cl_a", got, []*institution.APIKey{a1, a2})
		none, err := db.APIKeys(t.Context(), "cl_nope")
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("unknown client has keys %v", none)
		}
	})
	t.Run("error/not found", func(t *testing.T) {
		_, err := db.APIKey(t.Context(), "key_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	tests := []struct {
		name string
		key  *institution.APIKey
		want error
	}{
		{"error/duplicate id", newAPIKey("key_a1", "cl_b", base), errs.ErrConflict},
		{"error/unknown client", newAPIKey("key_x", "cl_nope", base), errs.ErrNotFound},
		{"error/revoked client", newAPIKey("key_y", "cl_gone", base), errs.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			before := headSeq(t, db)
			wantErr(t, db.CreateAPIKey(t.Context(), tc.key, entry("api_key.create", tc.key.ID)), tc.want)
			if headSeq(t, db) != before {
				t.Fatal("a refused key wrote an audit event")
			}
			got, err := db.APIKeys(t.Context(), tc.key.ClientID)
			must(t, err)
			for _, k := range got {
				if k.ID == tc.key.ID && k.ClientID == tc.key.ClientID {
					t.Fatal("a refused key was stored")
				}
			}
		})
	}
	t.Run("ok/revoke", func(t *testing.T) {
		at := base.Add(time.Hour)
		must(t, db.RevokeAPIKey(t.Context(), "key_a1", at, entry("api_key.revoke", "key_a1")))
		got, err := db.APIKey(t.Context(), "key_a1")
		must(t, err)
		if got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
			t.Fatalf("revoked at %v, want %v", got.RevokedAt, at)
		}
		wantErr(t, db.RevokeAPIKey(t.Context(), "key_a1", at, entry("api_key.revoke", "key_a1")), errs.ErrConflict)
		wantErr(t, db.RevokeAPIKey(t.Context(), "key_nope", at, entry("api_key.revoke", "key_nope")), errs.ErrNotFound)
	})
	verifyChain(t, db, headSeq(t, db))
}
