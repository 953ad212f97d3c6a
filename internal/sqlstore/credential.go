package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/errs"
)

var _ credential.Store = (*DB)(nil)

// SetCredential inserts or replaces a customer's credential for one method
// with its audit entry. An unknown customer is not found and writes
// nothing, not even the audit entry.
func (db *DB) SetCredential(ctx context.Context, c *credential.Credential, replaces string, e audit.Entry) error {
	if err := checkCredential(c); err != nil {
		return err
	}
	hist, err := encodeList(c.History)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := customerExists(ctx, tx, c.CustomerID); err != nil {
			return err
		}
		if err := replaceCredential(ctx, tx, c, hist, replaces); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// checkCredential refuses what the schema would also refuse, before any
// work: no hash, a method without a secret, an overlong history.
func checkCredential(c *credential.Credential) error {
	if c.CustomerID == "" || c.Hash == "" || !c.Method.HasSecret() || len(c.History) > credential.MaxHistory {
		return fmt.Errorf("credential for %q: %w", c.CustomerID, errs.ErrInvalid)
	}
	return checkTimes(c.UpdatedAt)
}

func customerExists(ctx context.Context, tx *dbtx, id string) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM customers WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("find customer %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("customer %s: %w", id, errs.ErrNotFound)
	}
	return nil
}

// replaceCredential writes c only over the hash the caller read: an insert
// that finds a row, or an update that finds another hash, touches nothing
// and is credential.ErrChanged. The condition sits in the statement, so
// two nodes cannot both pass it.
func replaceCredential(ctx context.Context, tx *dbtx, c *credential.Credential, hist, replaces string) error {
	var res sql.Result
	var err error
	if replaces == "" {
		res, err = tx.exec(ctx, `INSERT INTO credentials (customer_id, method, hash, history, must_change, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (customer_id, method) DO NOTHING`,
			c.CustomerID, string(c.Method), c.Hash, hist, c.MustChange, nanos(c.UpdatedAt))
	} else {
		res, err = tx.exec(ctx, `UPDATE credentials SET hash = ?, history = ?, must_change = ?, updated_at = ?
			WHERE customer_id = ? AND method = ? AND hash = ?`,
			c.Hash, hist, c.MustChange, nanos(c.UpdatedAt), c.CustomerID, string(c.Method), replaces)
	}
	if err != nil {
		return fmt.Errorf("set credential %s/%s: %w", c.CustomerID, c.Method, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set credential: rows affected: %w", err)
	}
	if n != 1 {
		return credential.ErrChanged
	}
	return nil
}

// Credential returns one customer's credential for a method.
func (db *DB) Credential(ctx context.Context, customerID string, method credential.Method) (*credential.Credential, error) {
	var c *credential.Credential
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		c, err = scanCredential(tx.queryRow(ctx, `SELECT customer_id, method, hash, history, must_change, updated_at
			FROM credentials WHERE customer_id = ? AND method = ?`, customerID, string(method)))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("credential: %w", errs.ErrNotFound)
		}
		return err
	})
	return c, err
}

func scanCredential(s scanner) (*credential.Credential, error) {
	var c credential.Credential
	var hist string
	var updated int64
	err := s.Scan(&c.CustomerID, &c.Method, &c.Hash, &hist, &c.MustChange, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan credential: %w", err)
	}
	if c.History, err = decodeList[string](hist); err != nil {
		return nil, fmt.Errorf("credential history: %w", err)
	}
	if len(c.History) == 0 {
		c.History = nil
	}
	c.UpdatedAt = fromNanos(updated)
	return &c, nil
}

// MarkMustChange forces the credential to be replaced before it logs in
// again, with its audit entry; not found when there is none.
func (db *DB) MarkMustChange(ctx context.Context, customerID string, method credential.Method, e audit.Entry) error {
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE credentials SET must_change = ? WHERE customer_id = ? AND method = ?`,
			true, customerID, string(method))
		if err != nil {
			return fmt.Errorf("mark credential %s/%s: %w", customerID, method, err)
		}
		if err := expectOne(res, "credential"); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}
