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

const registrationColumns = `id, institution_id, customer_id, customer_key, fingerprint, challenge_hash, code_id,
	token_id, model, os, os_version, app_version, state, expires_at, created_at, updated_at`

func insertRegistration(ctx context.Context, tx *dbtx, r *device.Registration) error {
	if err := checkTimes(r.ExpiresAt, r.CreatedAt, r.UpdatedAt); err != nil {
		return err
	}
	_, err := tx.exec(ctx, `INSERT INTO device_registrations (`+registrationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.InstitutionID, r.CustomerID, r.CustomerKey, r.Fingerprint, r.ChallengeHash, r.CodeID,
		r.TokenID, r.Model, r.OS, r.OSVersion, r.AppVersion, r.State, nanos(r.ExpiresAt), nanos(r.CreatedAt), nanos(r.UpdatedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("registration %s: %w", r.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert registration %s: %w", r.ID, err)
	}
	return nil
}

// Registration returns a registration of the institution; another
// institution's is not found.
func (db *DB) Registration(ctx context.Context, institutionID, id string) (*device.Registration, error) {
	var r *device.Registration
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanRegistration(tx.queryRow(ctx, `SELECT `+registrationColumns+` FROM device_registrations
			WHERE id = ? AND institution_id = ?`, id, institutionID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: %w", errs.ErrNotFound)
		}
		return err
	})
	return r, err
}

func scanRegistration(s scanner) (*device.Registration, error) {
	var r device.Registration
	var expires, created, updated int64
	err := s.Scan(&r.ID, &r.InstitutionID, &r.CustomerID, &r.CustomerKey, &r.Fingerprint, &r.ChallengeHash, &r.CodeID,
		&r.TokenID, &r.Model, &r.OS, &r.OSVersion, &r.AppVersion, &r.State, &expires, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan registration: %w", err)
	}
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = fromNanos(expires), fromNanos(created), fromNanos(updated)
	return &r, nil
}

// transition moves a registration from one state to another and reports
// whether it was in the expected state.
func transition(ctx context.Context, tx *dbtx, t *device.Transition, now time.Time) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE device_registrations SET state = ?, updated_at = ? WHERE id = ? AND state = ?`,
		t.To, nanos(now), t.RegistrationID, t.From)
	if err != nil {
		return false, fmt.Errorf("registration %s to %s: %w", t.RegistrationID, t.To, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("registration %s: rows affected: %w", t.RegistrationID, err)
	}
	return n == 1, nil
}

// failOpenRegistrations ends every registration of the customer still in
// progress, so none completes after a branch reset.
func failOpenRegistrations(ctx context.Context, tx *dbtx, customerID string, now time.Time) error {
	_, err := tx.exec(ctx, `UPDATE device_registrations SET state = ?, updated_at = ?
		WHERE customer_id = ? AND state IN (?, ?)`,
		device.StateFailed, nanos(now), customerID, device.StateStarted, device.StateCodeVerified)
	if err != nil {
		return fmt.Errorf("fail registrations of %s: %w", customerID, err)
	}
	return nil
}
