package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
)

// LiftCustomer lifts a customer's restriction (and, with l.Blocks, its hard
// block) together with the fingerprints that tried only this customer, with
// its notifications and audit entry. Without l.Blocks a hard-blocked
// customer gives device.ErrBlocked and nothing is written.
func (db *DB) LiftCustomer(ctx context.Context, customerKey string, l device.Lift, e audit.Entry, ns []notify.Notification) error {
	if err := checkTimes(l.Now); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := db.liftCustomer(ctx, tx, customerKey, l); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, ns); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// liftCustomer locks the customer's counter before the fingerprints', the
// order every writer of counters keeps.
func (db *DB) liftCustomer(ctx context.Context, tx *dbtx, customerKey string, l device.Lift) error {
	cs, err := db.lockCounters(ctx, tx, []device.Subject{{Kind: device.SubjectCustomer, Key: customerKey}}, l.Now)
	if err != nil {
		return err
	}
	if cs[0].Blocked() && !l.Blocks {
		return device.ErrBlocked
	}
	set, args := liftSet(l)
	_, err = tx.exec(ctx, `UPDATE device_counters SET `+set+` WHERE kind = ? AND subject = ?`,
		append(args, device.SubjectCustomer, customerKey)...)
	if err != nil {
		return fmt.Errorf("lift customer counter: %w", err)
	}
	return liftSoleFingerprints(ctx, tx, customerKey, l)
}

// liftSet is the SET clause of a lift: the count and restriction always,
// the block and the restriction history only for an operator's lift.
func liftSet(l device.Lift) (string, []any) {
	if l.Blocks {
		return `failures = 0, restricted_until = 0, blocked_at = 0, block_reason = '', released_at = ?, updated_at = ?`,
			[]any{nanos(l.Now), nanos(l.Now)}
	}
	return `failures = 0, restricted_until = 0, updated_at = ?`, []any{nanos(l.Now)}
}

// liftSoleFingerprints lifts the fingerprints whose attempts within the
// window were all for this customer: the customer's own phone. A
// fingerprint that tried anyone else stays as it is.
func liftSoleFingerprints(ctx context.Context, tx *dbtx, customerKey string, l device.Lift) error {
	set, args := liftSet(l)
	since := nanos(l.Now.Add(-l.Window))
	guard := ""
	if !l.Blocks {
		guard = ` AND blocked_at = 0`
	}
	_, err := tx.exec(ctx, `UPDATE device_counters SET `+set+` WHERE kind = ?
		AND subject IN (SELECT fingerprint FROM device_attempts WHERE customer_key = ? AND at > ?)
		AND subject NOT IN (SELECT fingerprint FROM device_attempts WHERE customer_key <> ? AND at > ?)`+guard,
		append(args, device.SubjectFingerprint, customerKey, since, customerKey, since)...)
	if err != nil {
		return fmt.Errorf("lift fingerprints of a customer: %w", err)
	}
	return nil
}

const releaseColumns = `id, customer_id, reason_sealed, checklist, requested_by, requested_at, expires_at,
	state, approved_by, approved_at`

// CreateRelease stores a release request with its audit entry.
func (db *DB) CreateRelease(ctx context.Context, r *device.Release, e audit.Entry) error {
	if err := checkTimes(r.RequestedAt, r.ExpiresAt); err != nil {
		return err
	}
	checklist, err := json.Marshal(r.Checklist)
	if err != nil {
		return fmt.Errorf("encode checklist: %w", err)
	}
	return db.write(ctx, func(tx *dbtx) error {
		_, err := tx.exec(ctx, `INSERT INTO device_releases (`+releaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.CustomerID, r.ReasonSealed, string(checklist), r.RequestedBy, nanos(r.RequestedAt), nanos(r.ExpiresAt),
			r.State, nullString(r.ApprovedBy), nullNanos(r.ApprovedAt))
		if tx.isUnique(err) {
			return fmt.Errorf("release %s: %w", r.ID, errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert release %s: %w", r.ID, err)
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// Release returns one release.
func (db *DB) Release(ctx context.Context, id string) (*device.Release, error) {
	var r *device.Release
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanRelease(tx.queryRow(ctx, `SELECT `+releaseColumns+` FROM device_releases WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("release: %w", errs.ErrNotFound)
		}
		return err
	})
	return r, err
}

func scanRelease(s scanner) (*device.Release, error) {
	var r device.Release
	var checklist string
	var approvedBy sql.NullString
	var requested, expires int64
	var approved sql.NullInt64
	err := s.Scan(&r.ID, &r.CustomerID, &r.ReasonSealed, &checklist, &r.RequestedBy, &requested, &expires,
		&r.State, &approvedBy, &approved)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan release: %w", err)
	}
	if err := json.Unmarshal([]byte(checklist), &r.Checklist); err != nil {
		return nil, fmt.Errorf("release %s checklist: %w", r.ID, err)
	}
	r.RequestedAt, r.ExpiresAt, r.ApprovedBy, r.ApprovedAt = fromNanos(requested), fromNanos(expires), approvedBy.String, fromNullNanos(approved)
	return &r, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ApproveRelease approves a pending release in one guarded statement (still
// requested, unexpired, requested by someone else) and lifts its customer,
// with notifications and audit entry. A refusal writes nothing.
func (db *DB) ApproveRelease(ctx context.Context, id, supervisorID string, l device.Lift, e audit.Entry, ns []notify.Notification) (*device.Release, error) {
	if err := checkTimes(l.Now); err != nil {
		return nil, err
	}
	var r *device.Release
	err := db.write(ctx, func(tx *dbtx) error {
		var err error
		if r, err = approveRelease(ctx, tx, id, supervisorID, l.Now); err != nil {
			return err
		}
		if err := db.liftCustomer(ctx, tx, r.CustomerID, l); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, ns); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
	return r, err
}

func approveRelease(ctx context.Context, tx *dbtx, id, supervisorID string, now time.Time) (*device.Release, error) {
	r, err := scanRelease(tx.queryRow(ctx, `UPDATE device_releases SET state = ?, approved_by = ?, approved_at = ?
		WHERE id = ? AND state = ? AND requested_by <> ? AND expires_at > ? RETURNING `+releaseColumns,
		device.ReleaseApproved, supervisorID, nanos(now), id, device.ReleaseRequested, supervisorID, nanos(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, whyNotApproved(ctx, tx, id, supervisorID, now)
	}
	return r, err
}

// whyNotApproved tells apart the reasons approveRelease matched no row.
func whyNotApproved(ctx context.Context, tx *dbtx, id, supervisorID string, now time.Time) error {
	r, err := scanRelease(tx.queryRow(ctx, `SELECT `+releaseColumns+` FROM device_releases WHERE id = ?`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return device.ErrReleaseNotFound
	case err != nil:
		return err
	case r.RequestedBy == supervisorID:
		return device.ErrSelfApproval
	case r.State != device.ReleaseRequested:
		return device.ErrReleaseNotPending
	case !now.Before(r.ExpiresAt):
		return device.ErrReleaseExpired
	}
	return fmt.Errorf("release %s: approval matched no row", id)
}

// ResetCustomer is a branch reset: it revokes every active device of the
// customer, ends the customer's open registrations and lifts everything,
// with notifications and audit entry, in one transaction. It returns the
// revoked device ids.
func (db *DB) ResetCustomer(ctx context.Context, customerID string, l device.Lift, e audit.Entry, ns []notify.Notification) ([]string, error) {
	if err := checkTimes(l.Now); err != nil {
		return nil, err
	}
	var ids []string
	err := db.write(ctx, func(tx *dbtx) error {
		if err := db.liftCustomer(ctx, tx, customerID, l); err != nil {
			return err
		}
		var notes []notify.Notification
		var err error
		if ids, notes, err = revokeDevices(ctx, tx, customerID, "", "branch_reset", l.Now); err != nil {
			return err
		}
		if err := failOpenRegistrations(ctx, tx, customerID, l.Now); err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, append(notes, ns...)); err != nil {
			return err
		}
		e.Details = withDetail(e.Details, "revoked", strconv.Itoa(len(ids)))
		return db.appendAudit(ctx, tx, e)
	})
	return ids, err
}

// withDetail returns a copy of details with one more key.
func withDetail(details map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(details)+1)
	for key, val := range details {
		out[key] = val
	}
	out[k] = v
	return out
}
