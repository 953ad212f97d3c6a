package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
)

// testDeviceNonces checks the nonces of device-signed requests: single use,
// bound to their device, expiring, refused once the device is revoked, and
// consumed by exactly one of racing requests.
func testDeviceNonces(t *testing.T, db *sqlstore.DB) {
	f := newFlowFixture(t, db)
	reg := f.register("reg_1", "cus_1", "fp_1")
	if _, err := f.complete(reg, newDevice("dev_1", reg, "key-1")); err != nil {
		t.Fatal(err)
	}
	expires := base.Add(device.NonceTTL)
	issue := func(t *testing.T, nonce, dev string) error {
		t.Helper()
		return db.IssueDeviceNonce(t.Context(), nonce, dev, base, expires)
	}
	must(t, issue(t, "n_a", "dev_1"))
	t.Run("ok/device found by id alone", func(t *testing.T) {
		d, err := db.DeviceByID(t.Context(), "dev_1")
		must(t, err)
		if d.InstitutionID != "cl_1" || d.CustomerID != "cus_1" {
			t.Fatalf("device %+v", d)
		}
		_, err = db.DeviceByID(t.Context(), "dev_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/another device cannot consume it", func(t *testing.T) {
		wantErr(t, db.ConsumeDeviceNonce(t.Context(), "n_a", "dev_other", base), errs.ErrNotFound)
	})
	t.Run("ok/consumed once", func(t *testing.T) {
		must(t, db.ConsumeDeviceNonce(t.Context(), "n_a", "dev_1", base))
		wantErr(t, db.ConsumeDeviceNonce(t.Context(), "n_a", "dev_1", base), errs.ErrNotFound)
	})
	t.Run("error/expired at the expiry instant", func(t *testing.T) {
		must(t, issue(t, "n_b", "dev_1"))
		wantErr(t, db.ConsumeDeviceNonce(t.Context(), "n_b", "dev_1", expires), errs.ErrNotFound)
		must(t, db.ConsumeDeviceNonce(t.Context(), "n_b", "dev_1", expires.Add(-time.Nanosecond)))
	})
	t.Run("error/unknown device gets no nonce", func(t *testing.T) {
		wantErr(t, issue(t, "n_c", "dev_nope"), errs.ErrNotFound)
		wantErr(t, db.ConsumeDeviceNonce(t.Context(), "n_c", "dev_nope", base), errs.ErrNotFound)
	})
	t.Run("error/duplicate nonce", func(t *testing.T) {
		must(t, issue(t, "n_d", "dev_1"))
		wantErr(t, issue(t, "n_d", "dev_1"), errs.ErrConflict)
	})
	t.Run("error/bad arguments", func(t *testing.T) {
		wantErr(t, db.IssueDeviceNonce(t.Context(), "", "dev_1", base, expires), errs.ErrInvalid)
		wantErr(t, db.IssueDeviceNonce(t.Context(), "n_e", "dev_1", base, base), errs.ErrInvalid)
	})
	t.Run("ok/issuing purges expired nonces", func(t *testing.T) {
		must(t, issue(t, "n_old", "dev_1"))
		must(t, db.IssueDeviceNonce(t.Context(), "n_new", "dev_1", expires, expires.Add(device.NonceTTL)))
		var n int
		must(t, db.SQL().QueryRowContext(t.Context(), db.Rebind(`SELECT COUNT(*) FROM device_nonces WHERE id = ?`), "n_old").Scan(&n))
		if n != 0 {
			t.Fatal("an expired nonce survived a later issue")
		}
	})
	testDeviceNonceRace(t, db, issue)
	t.Run("error/revoked device can neither get nor spend one", func(t *testing.T) {
		must(t, issue(t, "n_pending", "dev_1"))
		reg2 := f.register("reg_2", "cus_1", "fp_2")
		if _, err := f.complete(reg2, newDevice("dev_2", reg2, "key-2")); err != nil { // revokes dev_1
			t.Fatal(err)
		}
		wantErr(t, db.ConsumeDeviceNonce(t.Context(), "n_pending", "dev_1", base), errs.ErrNotFound)
		wantErr(t, issue(t, "n_after", "dev_1"), errs.ErrNotFound)
		must(t, issue(t, "n_dev2", "dev_2"))
	})
	t.Run("ok/customer institution", func(t *testing.T) {
		inst, err := db.CustomerInstitution(t.Context(), "cus_1")
		must(t, err)
		if inst != "cl_1" {
			t.Fatalf("institution %q", inst)
		}
		_, err = db.CustomerInstitution(t.Context(), "cus_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
}

// testDeviceNonceRace spends one nonce from many goroutines: exactly one
// may succeed, or a signed request could be replayed.
func testDeviceNonceRace(t *testing.T, db *sqlstore.DB, issue func(*testing.T, string, string) error) {
	t.Run("ok/racing consumers, one winner", func(t *testing.T) {
		const racers = 8
		must(t, issue(t, "n_race", "dev_1"))
		var wins, misses atomic.Int32
		var wg sync.WaitGroup
		for range racers {
			wg.Go(func() {
				err := db.ConsumeDeviceNonce(t.Context(), "n_race", "dev_1", base)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, errs.ErrNotFound):
					misses.Add(1)
				default:
					t.Errorf("consume: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || misses.Load() != racers-1 {
			t.Fatalf("wins %d, misses %d; want 1 and %d", wins.Load(), misses.Load(), racers-1)
		}
	})
}
