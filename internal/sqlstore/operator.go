package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
)

// CreateOperator stores a new operator with its audit entry; a taken id or
// username is a conflict and writes nothing.
func (db *DB) CreateOperator(ctx context.Context, o *operator.Operator, e audit.Entry) error {
	if err := checkTimes(o.CreatedAt, o.LockedUntil); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := insertOperator(ctx, tx, o); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func insertOperator(ctx context.Context, tx *dbtx, o *operator.Operator) error {
	roles, err := encodeList(o.Roles)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO operators (id, username, roles, password_hash, totp_sealed, disabled,
		failed_logins, locked_until, last_totp_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Username, roles, o.PasswordHash, o.TOTPSealed, o.Disabled,
		o.FailedLogins, nanos(o.LockedUntil), o.LastTOTPStep, nanos(o.CreatedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("operator %s: %w", o.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert operator %s: %w", o.ID, err)
	}
	return nil
}

const operatorColumns = `id, username, roles, password_hash, totp_sealed, disabled,
	failed_logins, locked_until, last_totp_step, created_at`

// Operator returns one operator by id.
func (db *DB) Operator(ctx context.Context, id string) (*operator.Operator, error) {
	return db.findOperator(ctx, "id", id)
}

// OperatorByUsername returns one operator by username.
func (db *DB) OperatorByUsername(ctx context.Context, username string) (*operator.Operator, error) {
	return db.findOperator(ctx, "username", username)
}

// findOperator looks an operator up by column, one of our column names.
func (db *DB) findOperator(ctx context.Context, column, value string) (*operator.Operator, error) {
	var o *operator.Operator
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		o, err = scanOperator(tx.queryRow(ctx, `SELECT `+operatorColumns+` FROM operators WHERE `+column+` = ?`, value))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("operator: %w", errs.ErrNotFound)
		}
		return err
	})
	return o, err
}

// Operators returns every operator, ordered by username.
func (db *DB) Operators(ctx context.Context) ([]*operator.Operator, error) {
	return list(ctx, db, "operators", scanOperator, `SELECT `+operatorColumns+` FROM operators ORDER BY username`)
}

func scanOperator(s scanner) (*operator.Operator, error) {
	var o operator.Operator
	var roles string
	var locked, created int64
	err := s.Scan(&o.ID, &o.Username, &roles, &o.PasswordHash, &o.TOTPSealed, &o.Disabled,
		&o.FailedLogins, &locked, &o.LastTOTPStep, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan operator: %w", err)
	}
	if o.Roles, err = decodeList[operator.Role](roles); err != nil {
		return nil, fmt.Errorf("operator %s roles: %w", o.ID, err)
	}
	o.LockedUntil, o.CreatedAt = fromNanos(locked), fromNanos(created)
	return &o, nil
}

// SetOperatorDisabled flips the flag with its audit entry; disabling also
// deletes every session of the operator in the same transaction, so no
// session outlives the decision.
func (db *DB) SetOperatorDisabled(ctx context.Context, id string, disabled bool, e audit.Entry) error {
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE operators SET disabled = ? WHERE id = ?`, disabled, id)
		if err != nil {
			return fmt.Errorf("set operator %s disabled: %w", id, err)
		}
		if err := expectOne(res, "operator "+id); err != nil {
			return err
		}
		if disabled {
			if err := deleteOperatorSessions(ctx, tx, id); err != nil {
				return err
			}
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// RecordOperatorFailure counts one failed login in a single statement, so
// that N concurrent failures count N, and locks the account until lockUntil
// once the count reaches limit. It returns the new count.
func (db *DB) RecordOperatorFailure(ctx context.Context, id string, limit int, lockUntil time.Time, e audit.Entry) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("failure limit %d: %w", limit, errs.ErrInvalid)
	}
	if err := checkTimes(lockUntil); err != nil {
		return 0, err
	}
	var n int
	err := db.write(ctx, func(tx *dbtx) error {
		var err error
		if n, err = addOperatorFailure(ctx, tx, id, limit, lockUntil); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
	return n, err
}

func addOperatorFailure(ctx context.Context, tx *dbtx, id string, limit int, lockUntil time.Time) (int, error) {
	var n int
	err := tx.queryRow(ctx, `UPDATE operators SET failed_logins = failed_logins + 1,
		locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END
		WHERE id = ? RETURNING failed_logins`, limit, nanos(lockUntil), id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("operator %s: %w", id, errs.ErrNotFound)
	} else if err != nil {
		return 0, fmt.Errorf("count operator %s failure: %w", id, err)
	}
	return n, nil
}

// CompleteOperatorLogin accepts the TOTP step only when it is newer than the
// last one used (a compare-and-set in the UPDATE, so two logins racing with
// one code cannot both win), resets the failure count and lock, stores the
// session and writes the audit entry, all in one transaction. A reused code
// gives operator.ErrCodeReused and writes nothing.
func (db *DB) CompleteOperatorLogin(ctx context.Context, id string, step int64, s *operator.Session, e audit.Entry) error {
	if s.OperatorID != id {
		return fmt.Errorf("session for operator %q given to %q: %w", s.OperatorID, id, errs.ErrInvalid)
	}
	if err := checkTimes(s.CreatedAt, s.ExpiresAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := acceptTOTPStep(ctx, tx, id, step, s.CreatedAt); err != nil {
			return err
		}
		if err := insertOperatorSession(ctx, tx, s); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// acceptTOTPStep also requires the account to be unlocked at now: failures
// racing this login may have locked it after the service looked.
func acceptTOTPStep(ctx context.Context, tx *dbtx, id string, step int64, now time.Time) error {
	res, err := tx.exec(ctx, `UPDATE operators SET last_totp_step = ?, failed_logins = 0, locked_until = 0
		WHERE id = ? AND last_totp_step < ? AND disabled = ? AND locked_until <= ?`, step, id, step, false, nanos(now))
	if err != nil {
		return fmt.Errorf("accept totp step for operator %s: %w", id, err)
	}
	if err := expectOne(res, "operator "+id); !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	return whyStepRefused(ctx, tx, id, now)
}

// whyStepRefused tells apart the reasons acceptTOTPStep matched no
// row. A disabled account gets the generic login error: it was disabled
// after the service checked, and says no more than a wrong code would.
func whyStepRefused(ctx context.Context, tx *dbtx, id string, now time.Time) error {
	var disabled bool
	var lockedUntil int64
	err := tx.queryRow(ctx, `SELECT disabled, locked_until FROM operators WHERE id = ?`, id).Scan(&disabled, &lockedUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("operator %s: %w", id, errs.ErrNotFound)
	case err != nil:
		return fmt.Errorf("find operator %s: %w", id, err)
	case disabled:
		return operator.ErrBadLogin.WithCause(fmt.Errorf("operator %s is disabled", id))
	case lockedUntil > nanos(now):
		return operator.ErrLocked.WithRetryAfter(fromNanos(lockedUntil).Sub(now))
	}
	return operator.ErrCodeReused
}
