package storetest

import (
	"testing"
	"time"

	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
)

// newCustomerRecord is a record with made-up sealed bytes: the store keeps
// them opaque, so any bytes show whether they survive the round trip.
func newCustomerRecord(id, institutionID, phone string) *customer.Record {
	return &customer.Record{ID: id, InstitutionID: institutionID,
		NameSealed: []byte("name-" + id), BirthSealed: []byte("birth-" + id), PhoneSealed: []byte("phone-" + id),
		PhoneIndex: []byte("idx-" + phone), CreatedAt: base}
}

func testCustomers(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	db := open(t)
	for _, id := range []string{"cl_1", "cl_2"} {
		must(t, db.CreateClient(t.Context(), newClient(id, base), entry("client.create", id)))
	}
	kim := newCustomerRecord("cus_1", "cl_1", "01012345678")
	kim.RRNSealed, kim.RRNIndex = []byte("rrn-cus_1"), []byte("rrnidx-9001011234567")
	lee := newCustomerRecord("cus_2", "cl_1", "01099998888")
	lee.CreatedAt = base.Add(time.Minute)
	must(t, db.CreateCustomer(t.Context(), kim, entry("customer.create", kim.ID)))
	must(t, db.CreateCustomer(t.Context(), lee, entry("customer.create", lee.ID)))

	t.Run("ok/round trip with and without an RRN", func(t *testing.T) {
		got, err := db.Customer(t.Context(), "cl_1", "cus_1")
		must(t, err)
		sameJSON(t, "customer", got, kim)
		got, err = db.Customer(t.Context(), "cl_1", "cus_2")
		must(t, err)
		sameJSON(t, "customer without RRN", got, lee)
		if got.RRNSealed != nil || got.RRNIndex != nil {
			t.Fatalf("absent RRN came back as %q / %q, want nil", got.RRNSealed, got.RRNIndex)
		}
	})
	t.Run("ok/by phone index", func(t *testing.T) {
		got, err := db.CustomerByPhone(t.Context(), "cl_1", []byte("idx-01099998888"))
		must(t, err)
		sameJSON(t, "customer by phone", got, lee)
	})
	testCustomerScoping(t, db)
	testCustomerConflicts(t, db, kim)
	verifyChain(t, db, headSeq(t, db))
}

func testCustomerScoping(t *testing.T, db *sqlstore.DB) {
	tests := []struct {
		name string
		get  func() (*customer.Record, error)
	}{
		{"error/another institution's customer", func() (*customer.Record, error) { return db.Customer(t.Context(), "cl_2", "cus_1") }},
		{"error/unknown id", func() (*customer.Record, error) { return db.Customer(t.Context(), "cl_1", "cus_nope") }},
		{"error/another institution's phone", func() (*customer.Record, error) {
			return db.CustomerByPhone(t.Context(), "cl_2", []byte("idx-01012345678"))
		}},
		{"error/unknown phone", func() (*customer.Record, error) {
			return db.CustomerByPhone(t.Context(), "cl_1", []byte("idx-01000000000"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.get()
			wantErr(t, err, errs.ErrNotFound)
			if r != nil {
				t.Fatalf("got a record with not found: %+v", r)
			}
		})
	}
}

func testCustomerConflicts(t *testing.T, db *sqlstore.DB, kim *customer.Record) {
	t.Run("error/duplicate phone writes nothing, not even audit", func(t *testing.T) {
		before := headSeq(t, db)
		dup := newCustomerRecord("cus_3", "cl_1", "01012345678")
		wantErr(t, db.CreateCustomer(t.Context(), dup, entry("customer.create", dup.ID)), errs.ErrConflict)
		if headSeq(t, db) != before {
			t.Fatal("a refused customer wrote an audit event")
		}
		_, err := db.Customer(t.Context(), "cl_1", "cus_3")
		wantErr(t, err, errs.ErrNotFound)
		got, err := db.CustomerByPhone(t.Context(), "cl_1", kim.PhoneIndex)
		must(t, err)
		sameJSON(t, "customer after refused duplicate", got, kim)
	})
	t.Run("error/duplicate id", func(t *testing.T) {
		dup := newCustomerRecord("cus_1", "cl_2", "01055556666")
		wantErr(t, db.CreateCustomer(t.Context(), dup, entry("customer.create", dup.ID)), errs.ErrConflict)
	})
	t.Run("ok/same phone at another institution", func(t *testing.T) {
		other := newCustomerRecord("cus_4", "cl_2", "01012345678")
		must(t, db.CreateCustomer(t.Context(), other, entry("customer.create", other.ID)))
		got, err := db.CustomerByPhone(t.Context(), "cl_2", other.PhoneIndex)
		must(t, err)
		sameJSON(t, "other institution's customer", got, other)
	})
}
