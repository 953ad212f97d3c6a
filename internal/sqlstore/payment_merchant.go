package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payment"
)

const merchantColumns = `id, client_id, name, lookup_url, mode, tid_key, created_at, disabled_at`

// CreateMerchant stores a merchant with its audit entry. A merchant id or
// client already taken is errs.ErrConflict and nothing is written.
func (db *DB) CreateMerchant(ctx context.Context, m *payment.MerchantRecord, e audit.Entry) error {
	if m == nil || m.ID == "" || m.ClientID == "" || len(m.SealedTIDKey) == 0 {
		return fmt.Errorf("merchant without an id, client or TID key: %w", errs.ErrInvalid)
	}
	if err := checkTimes(m.CreatedAt); err != nil {
		return err
	}
	if m.DisabledAt != nil {
		if err := checkTimes(*m.DisabledAt); err != nil {
			return err
		}
	}
	return db.write(ctx, func(tx *dbtx) error {
		_, err := tx.exec(ctx, `INSERT INTO merchants (`+merchantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.ClientID, m.Name, m.LookupURL, string(m.Mode), m.SealedTIDKey, nanos(m.CreatedAt), nullNanos(m.DisabledAt))
		if tx.isUnique(err) {
			return fmt.Errorf("merchant %s of client %s: %w", m.ID, m.ClientID, errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert merchant %s: %w", m.ID, err)
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// Merchant returns a merchant by id.
func (db *DB) Merchant(ctx context.Context, id string) (*payment.MerchantRecord, error) {
	return db.findMerchant(ctx, `id = ?`, id)
}

// MerchantByClient returns the merchant an institution client acts as.
func (db *DB) MerchantByClient(ctx context.Context, clientID string) (*payment.MerchantRecord, error) {
	return db.findMerchant(ctx, `client_id = ?`, clientID)
}

func (db *DB) findMerchant(ctx context.Context, where string, arg string) (*payment.MerchantRecord, error) {
	var m *payment.MerchantRecord
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		m, err = scanMerchant(tx.queryRow(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE `+where, arg))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("merchant: %w", errs.ErrNotFound)
		}
		return err
	})
	return m, err
}

// Merchants lists every merchant, oldest first.
func (db *DB) Merchants(ctx context.Context) ([]*payment.MerchantRecord, error) {
	return list(ctx, db, "merchants", scanMerchant, `SELECT `+merchantColumns+` FROM merchants ORDER BY created_at, id`)
}

func scanMerchant(s scanner) (*payment.MerchantRecord, error) {
	var m payment.MerchantRecord
	var mode string
	var created int64
	var disabled sql.NullInt64
	err := s.Scan(&m.ID, &m.ClientID, &m.Name, &m.LookupURL, &mode, &m.SealedTIDKey, &created, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan merchant: %w", err)
	}
	m.Mode, m.CreatedAt, m.DisabledAt = payment.Mode(mode), fromNanos(created), fromNullNanos(disabled)
	return &m, nil
}
