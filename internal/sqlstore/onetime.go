package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/onetime"
)

var _ onetime.Store = (*DB)(nil)

// CreateCode stores a new one-time code. Issuing a code is recorded by the
// flow it belongs to, in that flow's audit entry.
func (db *DB) CreateCode(ctx context.Context, c *onetime.Code) error {
	if err := checkTimes(c.CreatedAt, c.ExpiresAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		_, err := tx.exec(ctx, `INSERT INTO one_time_codes (id, purpose, subject, hash, expires_at, attempts,
			max_attempts, used_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Purpose, c.Subject, c.Hash, nanos(c.ExpiresAt), c.Attempts,
			c.MaxAttempts, nullNanos(c.UsedAt), nanos(c.CreatedAt))
		if tx.isUnique(err) {
			return fmt.Errorf("one-time code %s: %w", c.ID, errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert one-time code %s: %w", c.ID, err)
		}
		return nil
	})
}

const codeColumns = `id, purpose, subject, hash, expires_at, attempts, max_attempts, used_at, created_at`

// ConsumeAttempt counts one attempt in a single guarded UPDATE: however
// many checks run at once, on however many nodes, at most max_attempts of
// them are counted. When the guard refuses, the code is read back in the
// same transaction so the caller can tell used, expired and exhausted apart.
func (db *DB) ConsumeAttempt(ctx context.Context, id string, now time.Time) (*onetime.Code, error) {
	if err := checkTimes(now); err != nil {
		return nil, err
	}
	var c *onetime.Code
	err := db.write(ctx, func(tx *dbtx) error {
		var err error
		c, err = scanCode(tx.queryRow(ctx, `UPDATE one_time_codes SET attempts = attempts + 1
			WHERE id = ? AND used_at IS NULL AND expires_at > ? AND attempts < max_attempts
			RETURNING `+codeColumns, id, nanos(now)))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if c, err = findCode(ctx, tx, id); err != nil {
			return err
		}
		return fmt.Errorf("one-time code %s: %w", id, onetime.ErrNotCounted)
	})
	return c, err
}

func findCode(ctx context.Context, tx *dbtx, id string) (*onetime.Code, error) {
	c, err := scanCode(tx.queryRow(ctx, `SELECT `+codeColumns+` FROM one_time_codes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("one-time code %s: %w", id, errs.ErrNotFound)
	}
	return c, err
}

// MarkCodeUsed sets used_at when it is still unset and the code unexpired;
// of parallel callers exactly one gets true.
func (db *DB) MarkCodeUsed(ctx context.Context, id string, now time.Time) (bool, error) {
	if err := checkTimes(now); err != nil {
		return false, err
	}
	var won bool
	err := db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE one_time_codes SET used_at = ?
			WHERE id = ? AND used_at IS NULL AND expires_at > ?`, nanos(now), id, nanos(now))
		if err != nil {
			return fmt.Errorf("mark one-time code %s used: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("mark one-time code %s used: %w", id, err)
		}
		won = n == 1
		return nil
	})
	return won, err
}

func scanCode(s scanner) (*onetime.Code, error) {
	var c onetime.Code
	var expires, created int64
	var used sql.NullInt64
	err := s.Scan(&c.ID, &c.Purpose, &c.Subject, &c.Hash, &expires, &c.Attempts, &c.MaxAttempts, &used, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan one-time code: %w", err)
	}
	c.ExpiresAt, c.UsedAt, c.CreatedAt = fromNanos(expires), fromNullNanos(used), fromNanos(created)
	return &c, nil
}
