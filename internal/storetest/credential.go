package storetest

import (
	"testing"
	"time"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
)

// testCredentials checks customers' PINs and patterns: round trip, upsert
// with history, one row per method, scoping by customer, the forced-change
// mark, and that a refused write leaves nothing behind, not even audit.
func testCredentials(t *testing.T, db *sqlstore.DB) {
	must(t, db.CreateClient(t.Context(), newClient("cl_1", base), entry("client.create", "cl_1")))
	for i, id := range []string{"cus_1", "cus_2"} {
		r := newCustomerRecord(id, "cl_1", "0101234567"+string(rune('0'+i)))
		must(t, db.CreateCustomer(t.Context(), r, entry("customer.create", id)))
	}
	pin := &credential.Credential{CustomerID: "cus_1", Method: credential.MethodPIN, Hash: "$argon2id$pin-1", UpdatedAt: base}
	set := func(t *testing.T, c *credential.Credential, replaces string) error {
		t.Helper()
		return db.SetCredential(t.Context(), c, replaces, entry("credential.set", c.CustomerID))
	}
	t.Run("ok/round trip, audited", func(t *testing.T) {
		before := headSeq(t, db)
		must(t, set(t, pin, ""))
		if after := headSeq(t, db); after != before+1 {
			t.Fatalf("audit went from %d to %d, want one event", before, after)
		}
		wantCredential(t, db, "cus_1", credential.MethodPIN, pin)
	})
	t.Run("ok/upsert replaces hash, history and mark", func(t *testing.T) {
		must(t, db.MarkMustChange(t.Context(), "cus_1", credential.MethodPIN, entry("credential.require_change", "cus_1")))
		pin.MustChange = true
		wantCredential(t, db, "cus_1", credential.MethodPIN, pin)
		next := &credential.Credential{CustomerID: "cus_1", Method: credential.MethodPIN, Hash: "$argon2id$pin-2",
			History: []string{"$argon2id$pin-1", "$argon2id$pin-0"}, UpdatedAt: base.Add(time.Hour)}
		stale := *next
		stale.Hash = "$argon2id$pin-stale"
		before := headSeq(t, db)
		wantErr(t, set(t, &stale, "$argon2id$pin-0"), credential.ErrChanged)
		wantErr(t, set(t, &stale, ""), credential.ErrChanged)
		if after := headSeq(t, db); after != before {
			t.Fatalf("a refused replace wrote %d audit events", after-before)
		}
		wantCredential(t, db, "cus_1", credential.MethodPIN, pin)
		must(t, set(t, next, "$argon2id$pin-1"))
		wantCredential(t, db, "cus_1", credential.MethodPIN, next)
		// The replaced hash is gone: a second set that read it loses.
		wantErr(t, set(t, &stale, "$argon2id$pin-1"), credential.ErrChanged)
	})
	t.Run("ok/one credential per method", func(t *testing.T) {
		pat := &credential.Credential{CustomerID: "cus_1", Method: credential.MethodPattern, Hash: "$argon2id$pat", UpdatedAt: base}
		must(t, set(t, pat, ""))
		wantCredential(t, db, "cus_1", credential.MethodPattern, pat)
		got, err := db.Credential(t.Context(), "cus_1", credential.MethodPIN)
		must(t, err)
		if got.Hash != "$argon2id$pin-2" {
			t.Fatalf("setting the pattern changed the PIN: %+v", got)
		}
	})
	testCredentialScoping(t, db)
	testCredentialRefusals(t, db)
	verifyChain(t, db, headSeq(t, db))
}

func wantCredential(t *testing.T, db *sqlstore.DB, customerID string, m credential.Method, want *credential.Credential) {
	t.Helper()
	got, err := db.Credential(t.Context(), customerID, m)
	must(t, err)
	sameJSON(t, "credential", got, want)
}

func testCredentialScoping(t *testing.T, db *sqlstore.DB) {
	tests := []struct {
		name     string
		customer string
		method   credential.Method
	}{
		{"error/another customer's credential", "cus_2", credential.MethodPIN},
		{"error/unknown customer", "cus_nope", credential.MethodPIN},
		{"error/biometric has no row", "cus_1", credential.MethodBiometric},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := db.Credential(t.Context(), tc.customer, tc.method)
			wantErr(t, err, errs.ErrNotFound)
			if c != nil {
				t.Fatalf("got a credential with not found: %+v", c)
			}
		})
	}
}

func testCredentialRefusals(t *testing.T, db *sqlstore.DB) {
	ok := func() *credential.Credential {
		return &credential.Credential{CustomerID: "cus_2", Method: credential.MethodPIN, Hash: "$argon2id$x", UpdatedAt: base}
	}
	tests := []struct {
		name  string
		write func(t *testing.T) error
		want  error
	}{
		{"error/unknown customer", func(t *testing.T) error {
			c := ok()
			c.CustomerID = "cus_nope"
			return db.SetCredential(t.Context(), c, "", entry("credential.set", c.CustomerID))
		}, errs.ErrNotFound},
		{"error/biometric has no secret", func(t *testing.T) error {
			c := ok()
			c.Method = credential.MethodBiometric
			return db.SetCredential(t.Context(), c, "", entry("credential.set", c.CustomerID))
		}, errs.ErrInvalid},
		{"error/history too long", func(t *testing.T) error {
			c := ok()
			c.History = []string{"a", "b", "c"}
			return db.SetCredential(t.Context(), c, "", entry("credential.set", c.CustomerID))
		}, errs.ErrInvalid},
		{"error/no hash", func(t *testing.T) error {
			c := ok()
			c.Hash = ""
			return db.SetCredential(t.Context(), c, "", entry("credential.set", c.CustomerID))
		}, errs.ErrInvalid},
		{"error/mark without credential", func(t *testing.T) error {
			return db.MarkMustChange(t.Context(), "cus_2", credential.MethodPIN, entry("credential.require_change", "cus_2"))
		}, errs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			before := headSeq(t, db)
			wantErr(t, tc.write(t), tc.want)
			if after := headSeq(t, db); after != before {
				t.Fatalf("audit grew from %d to %d", before, after)
			}
			_, err := db.Credential(t.Context(), "cus_2", credential.MethodPIN)
			wantErr(t, err, errs.ErrNotFound)
			_, err = db.Credential(t.Context(), "cus_nope", credential.MethodPIN)
			wantErr(t, err, errs.ErrNotFound)
		})
	}
}
