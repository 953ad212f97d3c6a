package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
)

// CreateAPIKey stores a key for a live client with its audit entry. A
// missing client is not found and a revoked one a conflict: the service
// checks both first, this keeps a concurrent revocation from slipping by.
func (db *DB) CreateAPIKey(ctx context.Context, k *institution.APIKey, e audit.Entry) error {
	if err := checkTimes(k.CreatedAt, k.ExpiresAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := requireLiveClient(ctx, tx, k.ClientID); err != nil {
			return err
		}
		if err := insertAPIKey(ctx, tx, k); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func requireLiveClient(ctx context.Context, tx *dbtx, id string) error {
	c, err := findClient(ctx, tx, id)
	if err != nil {
		return err
	}
	if c.RevokedAt != nil {
		return fmt.Errorf("client %s is revoked: %w", id, errs.ErrConflict)
	}
	return nil
}

func insertAPIKey(ctx context.Context, tx *dbtx, k *institution.APIKey) error {
	scopes, err := encodeList(k.Scopes)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO api_keys (id, client_id, secret_hash, scopes, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.ClientID, k.SecretHash, scopes, nanos(k.CreatedAt), nanos(k.ExpiresAt), nullNanos(k.RevokedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("api key %s: %w", k.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert api key %s: %w", k.ID, err)
	}
	return nil
}

const apiKeyColumns = `id, client_id, secret_hash, scopes, created_at, expires_at, revoked_at`

// APIKey returns one key by id, whoever owns it: authentication starts from
// the id in the presented key and then checks the owner.
// It is on every authenticated request's path, so it is one statement (its
// own snapshot, no transaction) that also reads the owner's revocation.
func (db *DB) APIKey(ctx context.Context, id string) (*institution.APIKey, error) {
	row := db.db.QueryRowContext(ctx, db.Rebind(`SELECT k.id, k.client_id, k.secret_hash, k.scopes, k.created_at,
		k.expires_at, k.revoked_at, c.revoked_at IS NOT NULL
		FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.id = ?`), id)
	k, err := scanAPIKey(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("api key %s: %w", id, errs.ErrNotFound)
	}
	return k, err
}

// APIKeys returns the keys of one client, oldest first.
func (db *DB) APIKeys(ctx context.Context, clientID string) ([]*institution.APIKey, error) {
	scan := func(s scanner) (*institution.APIKey, error) { return scanAPIKey(s, false) }
	return list(ctx, db, "api keys", scan, `SELECT `+apiKeyColumns+` FROM api_keys WHERE client_id = ? ORDER BY created_at, id`, clientID)
}

// scanAPIKey reads apiKeyColumns and, when withOwner, the owner's revocation.
func scanAPIKey(s scanner, withOwner bool) (*institution.APIKey, error) {
	var k institution.APIKey
	var scopes string
	var created, expires int64
	var revoked sql.NullInt64
	dest := []any{&k.ID, &k.ClientID, &k.SecretHash, &scopes, &created, &expires, &revoked}
	if withOwner {
		dest = append(dest, &k.ClientRevoked)
	}
	if err := s.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan api key: %w", err)
	}
	var err error
	if k.Scopes, err = decodeList[string](scopes); err != nil {
		return nil, fmt.Errorf("api key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = fromNanos(created), fromNanos(expires), fromNullNanos(revoked)
	return &k, nil
}

// RevokeAPIKey marks a live key revoked at at, with its audit entry.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time, e audit.Entry) error {
	if err := checkRevokeTime(at); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := revoke(ctx, tx, "api_keys", "api key", id, at); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}
