package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
)

// Sessions are keyed by the HMAC of their token; error messages never carry
// it, as a logged hash would be one guess away from a usable lookup key.

func insertOperatorSession(ctx context.Context, tx *dbtx, s *operator.Session) error {
	_, err := tx.exec(ctx, `INSERT INTO operator_sessions (token_hash, csrf_hash, operator_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, s.TokenHash, s.CSRFHash, s.OperatorID, nanos(s.CreatedAt), nanos(s.ExpiresAt))
	if tx.isUnique(err) {
		return fmt.Errorf("operator session: %w", errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert operator session: %w", err)
	}
	return nil
}

// OperatorSession returns the session with this token hash, expired or not:
// the service decides what expiry means.
func (db *DB) OperatorSession(ctx context.Context, tokenHash []byte) (*operator.Session, error) {
	var s operator.Session
	err := db.read(ctx, func(tx *dbtx) error {
		var created, expires int64
		err := tx.queryRow(ctx, `SELECT token_hash, csrf_hash, operator_id, created_at, expires_at
			FROM operator_sessions WHERE token_hash = ?`, tokenHash).
			Scan(&s.TokenHash, &s.CSRFHash, &s.OperatorID, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("operator session: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("read operator session: %w", err)
		}
		s.CreatedAt, s.ExpiresAt = fromNanos(created), fromNanos(expires)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteOperatorSession ends one session with its audit entry; an unknown
// token hash is not found and writes nothing.
func (db *DB) DeleteOperatorSession(ctx context.Context, tokenHash []byte, e audit.Entry) error {
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `DELETE FROM operator_sessions WHERE token_hash = ?`, tokenHash)
		if err != nil {
			return fmt.Errorf("delete operator session: %w", err)
		}
		if err := expectOne(res, "operator session"); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func deleteOperatorSessions(ctx context.Context, tx *dbtx, operatorID string) error {
	if _, err := tx.exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = ?`, operatorID); err != nil {
		return fmt.Errorf("delete sessions of operator %s: %w", operatorID, err)
	}
	return nil
}
