package customer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// today is the tests' clock: 2026-03-01 00:30 in Korea, still the previous
// day in UTC, so "today" must be read in Korean time.
var today = time.Date(2026, 2, 28, 15, 30, 0, 0, time.UTC)

type fixture struct {
	svc  *customer.Service
	db   *sqlstore.DB
	ring *crypto.Keyring
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	now := func() time.Time { return today }
	db := storetest.MustOpenSQLite(t, sqlstore.Options{Now: now})
	ring, err := crypto.LoadKeyring(t.Context(), crypto.NewKeyMaterial(), db, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cl_a", "cl_b"} {
		c := &institution.Client{ID: id, Name: id, Scopes: []string{"device"}, SecretHash: []byte("h"), CreatedAt: today}
		if err := db.CreateClient(t.Context(), c, audit.Entry{Actor: "test", Action: "client.create", Target: id, Result: audit.ResultSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{svc: &customer.Service{Store: db, Ring: ring, Now: now}, db: db, ring: ring}
}

func kim() customer.New {
	return customer.New{Name: "김민수", BirthDate: "1990-01-01", Phone: "010-1234-5678", RRN: "900101-1234567"}
}

// wantCode fails unless err is an *errs.Error with code and field.
func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	e := errs.As(err)
	if e == nil || e.Code != code || e.Field != field {
		t.Fatalf("error = %v (field %q), want %s on %q", err, fieldOf(e), code, field)
	}
}

func fieldOf(e *errs.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func TestCreateValidates(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*customer.New)
		code, field string
	}{
		{"error/empty name", func(n *customer.New) { n.Name = "  " }, "invalid_name", "name"},
		{"error/name of 51 characters", func(n *customer.New) { n.Name = strings.Repeat("가", 51) }, "invalid_name", "name"},
		{"error/control character in name", func(n *customer.New) { n.Name = "김\n수" }, "invalid_name", "name"},
		{"error/bidi override in name", func(n *customer.New) { n.Name = "김\u202e수" }, "invalid_name", "name"},
		{"error/zero-width space in name", func(n *customer.New) { n.Name = "김\u200b수" }, "invalid_name", "name"},
		{"error/invalid utf-8 name", func(n *customer.New) { n.Name = "김\xff" }, "invalid_name", "name"},
		{"error/birth date not a day", func(n *customer.New) { n.BirthDate = "1990-02-30" }, "invalid_birth_date", "birth_date"},
		{"error/birth date without zero padding", func(n *customer.New) { n.BirthDate = "1990-1-1"; n.RRN = "" }, "invalid_birth_date", "birth_date"},
		{"error/birth date before 1900", func(n *customer.New) { n.BirthDate = "1899-12-31"; n.RRN = "" }, "invalid_birth_date", "birth_date"},
		{"error/birth date tomorrow in Korea", func(n *customer.New) { n.BirthDate = "2026-03-02"; n.RRN = "" }, "invalid_birth_date", "birth_date"},
		{"error/birth date with time", func(n *customer.New) { n.BirthDate = "1990-01-01T00:00:00Z" }, "invalid_birth_date", "birth_date"},
		{"error/landline", func(n *customer.New) { n.Phone = "02-123-4567" }, "invalid_phone", "phone"},
		{"error/unknown mobile prefix", func(n *customer.New) { n.Phone = "012-1234-5678" }, "invalid_phone", "phone"},
		{"error/phone too long", func(n *customer.New) { n.Phone = "010-1234-56789" }, "invalid_phone", "phone"},
		{"error/phone too short", func(n *customer.New) { n.Phone = "010-123-456" }, "invalid_phone", "phone"},
		{"error/phone with letters", func(n *customer.New) { n.Phone = "010-CALL-KIMS" }, "invalid_phone", "phone"},
		{"error/rrn too short", func(n *customer.New) { n.RRN = "900101-123456" }, "invalid_rrn", "rrn"},
		{"error/rrn with other separator", func(n *customer.New) { n.RRN = "900101_1234567" }, "invalid_rrn", "rrn"},
		{"error/rrn month 13", func(n *customer.New) { n.RRN = "901301-1234567" }, "invalid_rrn", "rrn"},
		{"error/rrn 2001-02-29", func(n *customer.New) { n.BirthDate = "2001-02-28"; n.RRN = "010229-3234567" }, "invalid_rrn", "rrn"},
		{"error/rrn date differs from birth date", func(n *customer.New) { n.RRN = "900102-1234567" }, "rrn_birth_date_mismatch", "rrn"},
		{"error/rrn century differs (7th digit 3)", func(n *customer.New) { n.RRN = "900101-3234567" }, "rrn_birth_date_mismatch", "rrn"},
		{"error/rrn of the 1800s (7th digit 9)", func(n *customer.New) { n.RRN = "900101-9234567" }, "rrn_birth_date_mismatch", "rrn"},
	}
	f := newFixture(t) // every case fails, so they can share one database
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := kim()
			tc.edit(&in)
			_, err := f.svc.Create(t.Context(), "cl_a", "cl_a", in)
			wantCode(t, err, tc.code, tc.field)
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("kind %v, want Invalid", errs.KindOf(err))
			}
			if n := len(events(t, f.db)); n != 2 {
				t.Fatalf("a refused customer wrote audit events (%d, want the 2 client events)", n)
			}
		})
	}
}

func TestCreateAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(*customer.New)
		want customer.Customer
	}{
		{"ok/normalises phone and rrn", func(n *customer.New) {},
			customer.Customer{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678", RRN: "9001011234567"}},
		// 9001011234567 fails the old checksum (it would end in 8): numbers
		// issued since 2020-10-05 have no check digit, so it must pass.
		{"ok/rrn check digit is not checked", func(n *customer.New) { n.RRN = "9001011234567" },
			customer.Customer{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678", RRN: "9001011234567"}},
		{"ok/no rrn, international phone, spaces trimmed", func(n *customer.New) { n.Name = " 김민수 "; n.Phone = "+82 10-1234-5678"; n.RRN = "" },
			customer.Customer{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678"}},
		{"ok/decomposed hangul composed", func(n *customer.New) { n.Name = "\u1100\u1175\u11b7민수" },
			customer.Customer{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678", RRN: "9001011234567"}},
		{"ok/2000s leap day (7th digit 3)", func(n *customer.New) { n.BirthDate = "2000-02-29"; n.RRN = "000229-3234563" },
			customer.Customer{Name: "김민수", BirthDate: "2000-02-29", Phone: "01012345678", RRN: "0002293234563"}},
		{"ok/foreign resident (7th digit 5)", func(n *customer.New) { n.Name = "John Smith"; n.BirthDate = "1985-03-15"; n.RRN = "8503155123458" },
			customer.Customer{Name: "John Smith", BirthDate: "1985-03-15", Phone: "01012345678", RRN: "8503155123458"}},
		{"ok/ten-digit 011 number, born today in Korea", func(n *customer.New) { n.Phone = "011-123-4567"; n.BirthDate = "2026-03-01"; n.RRN = "" },
			customer.Customer{Name: "김민수", BirthDate: "2026-03-01", Phone: "0111234567"}},
		{"ok/name of 50 characters", func(n *customer.New) { n.Name = strings.Repeat("가", 50) },
			customer.Customer{Name: strings.Repeat("가", 50), BirthDate: "1990-01-01", Phone: "01012345678", RRN: "9001011234567"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			in := kim()
			tc.edit(&in)
			c, err := f.svc.Create(t.Context(), "cl_a", "cl_a", in)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.ID, want.InstitutionID, want.CreatedAt = c.ID, "cl_a", today
			if *c != want {
				t.Fatalf("created %+v, want %+v", *c, want)
			}
			got, err := f.svc.Get(t.Context(), "cl_a", c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if *got != want {
				t.Fatalf("read back %+v, want %+v", *got, want)
			}
		})
	}
}

func TestStoredFormHidesPII(t *testing.T) {
	f := newFixture(t)
	c, err := f.svc.Create(t.Context(), "op_1", "cl_a", kim())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.db.Customer(t.Context(), "cl_a", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok/no plaintext in the record", func(t *testing.T) {
		raw, _ := json.Marshal(rec)
		for _, pii := range []string{"김민수", "01012345678", "9001011234567", "1990-01-01"} {
			if bytes.Contains(raw, []byte(pii)) || bytes.Contains(bytes.Join([][]byte{rec.NameSealed, rec.BirthSealed, rec.PhoneSealed, rec.RRNSealed}, nil), []byte(pii)) {
				t.Fatalf("stored record holds %q", pii)
			}
		}
	})
	t.Run("ok/blind indexes", func(t *testing.T) {
		if !bytes.Equal(rec.PhoneIndex, f.ring.BlindIndex("customer.phone", []byte("01012345678"))) ||
			!bytes.Equal(rec.RRNIndex, f.ring.BlindIndex("customer.rrn", []byte("9001011234567"))) {
			t.Fatal("blind indexes are not over the normalised digits")
		}
	})
	t.Run("error/sealed value bound to its column and row", func(t *testing.T) {
		for _, aad := range []crypto.AAD{
			{Table: "customers", Column: "name", RowID: c.ID},
			{Table: "customers", Column: "phone", RowID: "cus_other"},
		} {
			if _, err := f.ring.Open(rec.PhoneSealed, aad); !errors.Is(err, crypto.ErrOpen) {
				t.Fatalf("phone opened under %+v: %v", aad, err)
			}
		}
	})
	t.Run("ok/audit entry holds the masked phone only", func(t *testing.T) {
		evs := events(t, f.db)
		last := evs[len(evs)-1]
		if last.Action != "customer.create" || last.Target != c.ID || last.Actor != "op_1" ||
			len(last.Details) != 1 || last.Details["phone"] != "010-****-5678" {
			t.Fatalf("audit entry %+v", last.Entry)
		}
	})
}

func TestDuplicatePhone(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Create(t.Context(), "op_1", "cl_a", kim()); err != nil {
		t.Fatal(err)
	}
	before := len(events(t, f.db))
	dup := customer.New{Name: "이영희", BirthDate: "1991-05-05", Phone: "01012345678"}
	_, err := f.svc.Create(t.Context(), "op_1", "cl_a", dup)
	if !errors.Is(err, customer.ErrExists) || errs.KindOf(err) != errs.Conflict {
		t.Fatalf("duplicate phone: %v, want customer_exists (conflict)", err)
	}
	if len(events(t, f.db)) != before {
		t.Fatal("a refused duplicate was audited")
	}
	if _, err := f.svc.Create(t.Context(), "op_1", "cl_b", dup); err != nil {
		t.Fatalf("same phone at another institution: %v", err)
	}
}

func TestReadScopedByInstitution(t *testing.T) {
	f := newFixture(t)
	c, err := f.svc.Create(t.Context(), "op_1", "cl_a", kim())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func(ctx context.Context) (*customer.Customer, error)
		want error
	}{
		{"ok/get", func(ctx context.Context) (*customer.Customer, error) { return f.svc.Get(ctx, "cl_a", c.ID) }, nil},
		{"ok/find by phone in another format", func(ctx context.Context) (*customer.Customer, error) {
			return f.svc.FindByPhone(ctx, "cl_a", "+82 10 1234 5678")
		}, nil},
		{"error/get from another institution", func(ctx context.Context) (*customer.Customer, error) { return f.svc.Get(ctx, "cl_b", c.ID) }, errs.ErrNotFound},
		{"error/find from another institution", func(ctx context.Context) (*customer.Customer, error) {
			return f.svc.FindByPhone(ctx, "cl_b", "01012345678")
		}, errs.ErrNotFound},
		{"error/find by invalid phone", func(ctx context.Context) (*customer.Customer, error) {
			return f.svc.FindByPhone(ctx, "cl_a", "02-123-4567")
		}, customer.ErrInvalidPhone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call(t.Context())
			if tc.want != nil {
				if !errors.Is(err, tc.want) || got != nil {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			if err != nil || *got != *c {
				t.Fatalf("got %+v, %v; want %+v", got, err, c)
			}
		})
	}
}

func TestView(t *testing.T) {
	c := customer.Customer{ID: "cus_1", Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678", RRN: "9001011234567", CreatedAt: today}
	want := customer.View{ID: "cus_1", Name: "김*수", BirthDate: "1990-**-**", Phone: "010-****-5678", RRN: "900101-1******", CreatedAt: today}
	if got := c.View(); got != want {
		t.Fatalf("view %+v, want %+v", got, want)
	}
	c.RRN = ""
	if got := c.View(); got.RRN != "" {
		t.Fatalf("view of a customer without RRN shows %q", got.RRN)
	}
}

func events(t *testing.T, db *sqlstore.DB) []audit.Event {
	t.Helper()
	evs, err := db.AuditEvents(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
