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

// CreateClient stores a new institution client with its audit entry; an
// existing id is a conflict and writes nothing.
func (db *DB) CreateClient(ctx context.Context, c *institution.Client, e audit.Entry) error {
	if err := checkTimes(c.CreatedAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func insertClient(ctx context.Context, tx *dbtx, c *institution.Client) error {
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO clients (id, name, scopes, secret_hash, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?)`, c.ID, c.Name, scopes, c.SecretHash, nanos(c.CreatedAt), nullNanos(c.RevokedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("client %s: %w", c.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert client %s: %w", c.ID, err)
	}
	return nil
}

// Client returns one client.
func (db *DB) Client(ctx context.Context, id string) (*institution.Client, error) {
	var c *institution.Client
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		c, err = findClient(ctx, tx, id)
		return err
	})
	return c, err
}

const clientColumns = `id, name, scopes, secret_hash, created_at, revoked_at`

func findClient(ctx context.Context, tx *dbtx, id string) (*institution.Client, error) {
	c, err := scanClient(tx.queryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("client %s: %w", id, errs.ErrNotFound)
	}
	return c, err
}

// Clients returns every client, oldest first.
func (db *DB) Clients(ctx context.Context) ([]*institution.Client, error) {
	return list(ctx, db, "clients", scanClient, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
}

func scanClient(s scanner) (*institution.Client, error) {
	var c institution.Client
	var scopes string
	var created int64
	var revoked sql.NullInt64
	if err := s.Scan(&c.ID, &c.Name, &scopes, &c.SecretHash, &created, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan client: %w", err)
	}
	var err error
	if c.Scopes, err = decodeList[string](scopes); err != nil {
		return nil, fmt.Errorf("client %s scopes: %w", c.ID, err)
	}
	c.CreatedAt, c.RevokedAt = fromNanos(created), fromNullNanos(revoked)
	return &c, nil
}

// RevokeClient marks a live client revoked at at, with its audit entry.
func (db *DB) RevokeClient(ctx context.Context, id string, at time.Time, e audit.Entry) error {
	if err := checkRevokeTime(at); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := revoke(ctx, tx, "clients", "client", id, at); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func checkRevokeTime(at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("revocation without a time: %w", errs.ErrInvalid)
	}
	return checkTimes(at)
}

// revoke sets revoked_at on a live row of table, which is one of our table
// names, never input. A missing row is not found; a revoked one is a
// conflict, so the first revocation's time and audit entry stand.
func revoke(ctx context.Context, tx *dbtx, table, what, id string, at time.Time) error {
	res, err := tx.exec(ctx, `UPDATE `+table+` SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("revoke %s %s: %w", what, id, err)
	}
	if err := expectOne(res, what+" "+id); !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	var one int
	err = tx.queryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s %s: %w", what, id, errs.ErrNotFound)
	case err != nil:
		return fmt.Errorf("find %s %s: %w", what, id, err)
	}
	return fmt.Errorf("%s %s is already revoked: %w", what, id, errs.ErrConflict)
}
