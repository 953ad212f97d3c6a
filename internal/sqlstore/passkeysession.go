package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/passkey"
)

var _ passkey.SessionStore = (*DB)(nil)

// SavePasskeySession stores a ceremony's state until expires. Ids are random,
// so a duplicate is a bug and is refused as a conflict, never overwritten.
func (db *DB) SavePasskeySession(ctx context.Context, id string, data []byte, expires time.Time) error {
	if id == "" || len(data) == 0 || expires.IsZero() {
		return fmt.Errorf("passkey session: id, data and expiry are required: %w", errs.ErrInvalid)
	}
	if err := checkTimes(expires); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		_, err := tx.exec(ctx, `INSERT INTO passkey_sessions (id, data, expires_at) VALUES (?, ?, ?)`,
			id, data, nanos(expires))
		if tx.isUnique(err) {
			return fmt.Errorf("passkey session: %w", errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert passkey session: %w", err)
		}
		return nil
	})
}

// TakePasskeySession deletes the session and returns its data in one
// statement, so of two racing finishes exactly one gets it. A missing,
// expired or already taken session is not found; an expired row stays until
// PurgePasskeySessions.
func (db *DB) TakePasskeySession(ctx context.Context, id string, now time.Time) ([]byte, error) {
	if err := checkTimes(now); err != nil {
		return nil, err
	}
	var data []byte
	err := db.write(ctx, func(tx *dbtx) error {
		err := tx.queryRow(ctx, `DELETE FROM passkey_sessions WHERE id = ? AND expires_at > ? RETURNING data`,
			id, nanos(now)).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("passkey session: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("take passkey session: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// PurgePasskeySessions deletes the sessions expired at now (abandoned
// ceremonies) and returns how many.
func (db *DB) PurgePasskeySessions(ctx context.Context, now time.Time) (int64, error) {
	if err := checkTimes(now); err != nil {
		return 0, err
	}
	var n int64
	err := db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `DELETE FROM passkey_sessions WHERE expires_at <= ?`, nanos(now))
		if err != nil {
			return fmt.Errorf("purge passkey sessions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
