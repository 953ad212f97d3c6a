package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idempotency"
)

var _ idempotency.Store = (*DB)(nil)

const idempotencyColumns = `scope, key, fingerprint, state, status, response, created_at, lease_until, expires_at`

// ClaimIdempotencyKey inserts r, or takes over the row of its scope and key
// when that row expired or is pending with its lease past at r.CreatedAt,
// in one upsert: the engine decides between racing claimants on any node
// (PostgreSQL locks the conflicting row, SQLite runs one writer), so
// exactly one affects a row. The others read the row the winner left, under
// the same lock, and get it back.
func (db *DB) ClaimIdempotencyKey(ctx context.Context, r idempotency.Record) (*idempotency.Record, error) {
	if err := checkClaim(r); err != nil {
		return nil, err
	}
	var existing *idempotency.Record
	err := db.write(ctx, func(tx *dbtx) error {
		now := nanos(r.CreatedAt)
		res, err := tx.exec(ctx, `INSERT INTO idempotency_keys (`+idempotencyColumns+`)
			VALUES (?, ?, ?, ?, 0, NULL, ?, ?, ?)
			ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state,
				status = 0, response = NULL, created_at = excluded.created_at,
				lease_until = excluded.lease_until, expires_at = excluded.expires_at
			WHERE idempotency_keys.expires_at <= ?
				OR (idempotency_keys.state = ? AND idempotency_keys.lease_until <= ?)`,
			r.Scope, r.Key, r.Fingerprint, string(idempotency.Pending), now, nanos(r.LeaseUntil), nanos(r.ExpiresAt),
			now, string(idempotency.Pending), now)
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("claim idempotency key: rows affected: %w", err)
		}
		if n == 1 {
			return nil
		}
		existing, err = scanIdempotency(tx.queryRow(ctx, `SELECT `+idempotencyColumns+`
			FROM idempotency_keys WHERE scope = ? AND key = ?`, r.Scope, r.Key))
		return err
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// checkClaim refuses a claim that could not hold a key: without one, not
// pending, or with a lease that ends before it starts or outlives the
// record.
func checkClaim(r idempotency.Record) error {
	if r.Scope == "" || r.Key == "" || len(r.Fingerprint) == 0 || r.State != idempotency.Pending {
		return fmt.Errorf("idempotency claim: a scope, a key, a fingerprint and the pending state are required: %w", errs.ErrInvalid)
	}
	if !r.LeaseUntil.After(r.CreatedAt) || r.ExpiresAt.Before(r.LeaseUntil) {
		return fmt.Errorf("idempotency claim: the lease must end after the claim and not after the record: %w", errs.ErrInvalid)
	}
	return checkTimes(r.CreatedAt, r.LeaseUntil, r.ExpiresAt)
}

// CompleteIdempotencyKey keeps the sealed response of a pending record the
// caller claimed, matched by its fingerprint; a record that is done, gone
// or claimed for another request is errs.ErrNotFound and nothing changes.
func (db *DB) CompleteIdempotencyKey(ctx context.Context, scope, key string, fingerprint []byte, status int, sealed []byte) error {
	if status < 100 || status > 599 || sealed == nil {
		return fmt.Errorf("complete idempotency key: an HTTP status and a sealed response are required: %w", errs.ErrInvalid)
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE idempotency_keys SET state = ?, status = ?, response = ?
			WHERE scope = ? AND key = ? AND fingerprint = ? AND state = ?`,
			string(idempotency.Done), status, sealed, scope, key, fingerprint, string(idempotency.Pending))
		if err != nil {
			return fmt.Errorf("complete idempotency key: %w", err)
		}
		return expectOne(res, "pending idempotency key")
	})
}

// ReleaseIdempotencyKey deletes a pending record the caller claimed, so a
// retry claims the key anew; a done record is never released.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, scope, key string, fingerprint []byte) error {
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `DELETE FROM idempotency_keys
			WHERE scope = ? AND key = ? AND fingerprint = ? AND state = ?`,
			scope, key, fingerprint, string(idempotency.Pending))
		if err != nil {
			return fmt.Errorf("release idempotency key: %w", err)
		}
		return expectOne(res, "pending idempotency key")
	})
}

// PurgeIdempotencyKeys deletes the records expired at now, pending or done.
func (db *DB) PurgeIdempotencyKeys(ctx context.Context, now time.Time) (int, error) {
	if err := checkTimes(now); err != nil {
		return 0, err
	}
	var n int64
	err := db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= ?`, nanos(now))
		if err != nil {
			return fmt.Errorf("purge idempotency keys: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("purge idempotency keys: rows affected: %w", err)
		}
		return nil
	})
	return int(n), err
}

func scanIdempotency(s scanner) (*idempotency.Record, error) {
	var r idempotency.Record
	var state string
	var created, lease, expires int64
	err := s.Scan(&r.Scope, &r.Key, &r.Fingerprint, &state, &r.Status, &r.Sealed, &created, &lease, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		// The upsert left the row locked (or the engine single-writer), so
		// it cannot vanish before this read.
		return nil, fmt.Errorf("idempotency key: %w", errs.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("scan idempotency key: %w", err)
	}
	r.State = idempotency.State(state)
	r.CreatedAt, r.LeaseUntil, r.ExpiresAt = fromNanos(created), fromNanos(lease), fromNanos(expires)
	return &r, nil
}
