package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
)

var _ device.Store = (*DB)(nil)

const deviceColumns = `id, institution_id, customer_id, registration_id, fingerprint, key_kind, public_key, key_hash,
	credential_id, model, os, os_version, app_version, state, created_at, revoked_at, revoke_reason`

// insertDevice adds a device unless its key is bound already; that case
// gives device.ErrKeyInUse. ON CONFLICT DO NOTHING rather than a caught
// violation, because PostgreSQL aborts a transaction on the violation.
func insertDevice(ctx context.Context, tx *dbtx, d *device.Device) error {
	if err := checkTimes(d.CreatedAt); err != nil {
		return err
	}
	res, err := tx.exec(ctx, `INSERT INTO devices (`+deviceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		d.ID, d.InstitutionID, d.CustomerID, d.RegistrationID, d.Fingerprint, d.KeyKind, d.PublicKey, d.KeyHash,
		nullBytes(d.CredentialID), d.Model, d.OS, d.OSVersion, d.AppVersion, d.State, nanos(d.CreatedAt),
		nullNanos(d.RevokedAt), d.RevokeReason)
	if err != nil {
		return fmt.Errorf("insert device %s: %w", d.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert device %s: rows affected: %w", d.ID, err)
	} else if n == 0 {
		return device.ErrKeyInUse
	}
	return nil
}

// Device returns a device of the institution.
func (db *DB) Device(ctx context.Context, institutionID, id string) (*device.Device, error) {
	var d *device.Device
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		d, err = scanDevice(tx.queryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ? AND institution_id = ?`, id, institutionID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: %w", errs.ErrNotFound)
		}
		return err
	})
	return d, err
}

// CustomerDevices returns every device of a customer of the institution,
// newest first.
func (db *DB) CustomerDevices(ctx context.Context, institutionID, customerID string) ([]*device.Device, error) {
	return list(ctx, db, "devices", scanDevice, `SELECT `+deviceColumns+` FROM devices
		WHERE customer_id = ? AND institution_id = ? ORDER BY created_at DESC, id`, customerID, institutionID)
}

func scanDevice(s scanner) (*device.Device, error) {
	var d device.Device
	var created int64
	var revoked sql.NullInt64
	err := s.Scan(&d.ID, &d.InstitutionID, &d.CustomerID, &d.RegistrationID, &d.Fingerprint, &d.KeyKind, &d.PublicKey,
		&d.KeyHash, &d.CredentialID, &d.Model, &d.OS, &d.OSVersion, &d.AppVersion, &d.State, &created, &revoked, &d.RevokeReason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan device: %w", err)
	}
	d.CreatedAt, d.RevokedAt = fromNanos(created), fromNullNanos(revoked)
	return &d, nil
}

// revokeDevices revokes the customer's active devices other than keep and
// returns their ids and a notification for each, to be written in the same
// transaction.
func revokeDevices(ctx context.Context, tx *dbtx, customerID, keep, reason string, now time.Time) ([]string, []notify.Notification, error) {
	type revoked struct{ id, model string }
	rows, err := queryAll(ctx, tx, "revoked devices", func(s scanner) (revoked, error) {
		var r revoked
		return r, s.Scan(&r.id, &r.model)
	}, `UPDATE devices SET state = ?, revoked_at = ?, revoke_reason = ?
		WHERE customer_id = ? AND state = ? AND id <> ? RETURNING id, model`,
		device.DeviceRevoked, nanos(now), reason, customerID, device.DeviceActive, keep)
	if err != nil {
		return nil, nil, err
	}
	ids, ns := make([]string, len(rows)), make([]notify.Notification, len(rows))
	for i, r := range rows {
		ids[i] = r.id
		ns[i] = notify.New(customerID, notify.KindDeviceRevoked, map[string]string{"device_id": r.id, "model": r.model, "reason": reason}, now)
	}
	return ids, ns, nil
}
