package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/oauth"
)

// SigningKeys returns every JWT signing key, oldest first; the one with no
// RetiredAt signs.
func (db *DB) SigningKeys(ctx context.Context) ([]oauth.StoredKey, error) {
	return list(ctx, db, "signing keys", scanSigningKey, `SELECT id, sealed, created_at, retired_at FROM signing_keys ORDER BY created_at, id`)
}

func scanSigningKey(s scanner) (oauth.StoredKey, error) {
	var k oauth.StoredKey
	var created int64
	var retired sql.NullInt64
	if err := s.Scan(&k.ID, &k.Sealed, &created, &retired); err != nil {
		return k, fmt.Errorf("scan signing key: %w", err)
	}
	k.CreatedAt, k.RetiredAt = fromNanos(created), fromNullNanos(retired)
	return k, nil
}

// AddSigningKey retires every active key and stores k, with its audit entry,
// in one transaction. A unique index allows one active key only, so two
// concurrent rotations cannot both leave a signing key: the loser gets
// errs.ErrConflict.
func (db *DB) AddSigningKey(ctx context.Context, k oauth.StoredKey, e audit.Entry) error {
	if err := checkTimes(k.CreatedAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := db.retireSigningKeys(ctx, tx); err != nil {
			return err
		}
		if err := insertSigningKey(ctx, tx, k); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func (db *DB) retireSigningKeys(ctx context.Context, tx *dbtx) error {
	_, err := tx.exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`, nanos(db.now()))
	if err != nil {
		return fmt.Errorf("retire signing keys: %w", err)
	}
	return nil
}

func insertSigningKey(ctx context.Context, tx *dbtx, k oauth.StoredKey) error {
	_, err := tx.exec(ctx, `INSERT INTO signing_keys (id, sealed, created_at, retired_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Sealed, nanos(k.CreatedAt), nullNanos(k.RetiredAt))
	if tx.isUnique(err) {
		return fmt.Errorf("signing key %s: %w", k.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, err)
	}
	return nil
}
