package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
)

var _ device.RequestStore = (*DB)(nil)

// DeviceByID returns a device of any institution: a device-signed request
// names only its device, whose record names the institution.
func (db *DB) DeviceByID(ctx context.Context, id string) (*device.Device, error) {
	var d *device.Device
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		d, err = scanDevice(tx.queryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: %w", errs.ErrNotFound)
		}
		return err
	})
	return d, err
}

// IssueDeviceNonce stores a nonce for an active device, in one statement
// that finds the device, so a revoked or unknown device gets none
// (errs.ErrNotFound). Expired nonces are purged first: issuing is the only
// way rows are added, so this bounds the table by the issue rate.
func (db *DB) IssueDeviceNonce(ctx context.Context, nonce, deviceID string, now, expires time.Time) error {
	if nonce == "" || !expires.After(now) {
		return fmt.Errorf("device nonce: a nonce and a future expiry are required: %w", errs.ErrInvalid)
	}
	if err := checkTimes(now, expires); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if _, err := tx.exec(ctx, `DELETE FROM device_nonces WHERE expires_at <= ?`, nanos(now)); err != nil {
			return fmt.Errorf("purge device nonces: %w", err)
		}
		// The casts type the parameters for PostgreSQL, which cannot infer
		// them from a SELECT list.
		res, err := tx.exec(ctx, `INSERT INTO device_nonces (id, device_id, expires_at, created_at)
			SELECT CAST(? AS TEXT), id, CAST(? AS BIGINT), CAST(? AS BIGINT) FROM devices WHERE id = ? AND state = ?`,
			nonce, nanos(expires), nanos(now), deviceID, device.DeviceActive)
		if tx.isUnique(err) {
			return fmt.Errorf("device nonce: %w", errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert device nonce: %w", err)
		}
		return expectOne(res, "active device")
	})
}

// ConsumeDeviceNonce deletes the nonce if it was issued to this device, is
// unexpired at now and the device is still active, in one statement: of
// racing requests exactly one consumes it, and a device revoked after the
// nonce was issued cannot spend it.
func (db *DB) ConsumeDeviceNonce(ctx context.Context, nonce, deviceID string, now time.Time) error {
	if err := checkTimes(now); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		var id string
		err := tx.queryRow(ctx, `DELETE FROM device_nonces WHERE id = ? AND device_id = ? AND expires_at > ?
			AND device_id IN (SELECT id FROM devices WHERE state = ?) RETURNING id`,
			nonce, deviceID, nanos(now), device.DeviceActive).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device nonce: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("consume device nonce: %w", err)
		}
		return nil
	})
}

// CustomerInstitution names the institution of a customer, for operator
// routes: operators serve every institution and name customers by id.
func (db *DB) CustomerInstitution(ctx context.Context, customerID string) (string, error) {
	var inst string
	err := db.read(ctx, func(tx *dbtx) error {
		err := tx.queryRow(ctx, `SELECT institution_id FROM customers WHERE id = ?`, customerID).Scan(&inst)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("customer: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("customer institution: %w", err)
		}
		return nil
	})
	return inst, err
}
