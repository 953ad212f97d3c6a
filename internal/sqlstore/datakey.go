package sqlstore

import (
	"context"
	"fmt"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// DataKeys returns every wrapped data key, oldest first.
func (db *DB) DataKeys(ctx context.Context) ([]crypto.WrappedKey, error) {
	return list(ctx, db, "data keys", scanDataKey, `SELECT id, kek_version, wrapped, created_at FROM data_keys ORDER BY created_at, id`)
}

func scanDataKey(s scanner) (crypto.WrappedKey, error) {
	var k crypto.WrappedKey
	var created int64
	if err := s.Scan(&k.ID, &k.KEKVersion, &k.Wrapped, &created); err != nil {
		return k, fmt.Errorf("scan data key: %w", err)
	}
	k.CreatedAt = fromNanos(created)
	return k, nil
}

// AddDataKey stores a new wrapped data key; an existing id is a conflict.
func (db *DB) AddDataKey(ctx context.Context, k crypto.WrappedKey) error {
	if err := checkTimes(k.CreatedAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error { return insertDataKey(ctx, tx, k) })
}

func insertDataKey(ctx context.Context, tx *dbtx, k crypto.WrappedKey) error {
	_, err := tx.exec(ctx, `INSERT INTO data_keys (id, kek_version, wrapped, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.KEKVersion, k.Wrapped, nanos(k.CreatedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("data key %s: %w", k.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert data key %s: %w", k.ID, err)
	}
	return nil
}

// RewrapDataKeys replaces the wrapping of every given key in one
// transaction; an unknown id fails the whole rotation.
func (db *DB) RewrapDataKeys(ctx context.Context, keys []crypto.WrappedKey) error {
	return db.write(ctx, func(tx *dbtx) error {
		for _, k := range keys {
			if err := rewrapDataKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

func rewrapDataKey(ctx context.Context, tx *dbtx, k crypto.WrappedKey) error {
	res, err := tx.exec(ctx, `UPDATE data_keys SET kek_version = ?, wrapped = ? WHERE id = ?`, k.KEKVersion, k.Wrapped, k.ID)
	if err != nil {
		return fmt.Errorf("rewrap data key %s: %w", k.ID, err)
	}
	return expectOne(res, fmt.Sprintf("data key %s", k.ID))
}
