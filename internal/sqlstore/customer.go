package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
)

var _ customer.Store = (*DB)(nil)

// CreateCustomer stores a customer with its audit entry. A phone already
// held by a customer of the same institution (or a taken id) is a conflict
// and writes nothing.
func (db *DB) CreateCustomer(ctx context.Context, r *customer.Record, e audit.Entry) error {
	if err := checkTimes(r.CreatedAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := insertCustomer(ctx, tx, r); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func insertCustomer(ctx context.Context, tx *dbtx, r *customer.Record) error {
	_, err := tx.exec(ctx, `INSERT INTO customers (id, institution_id, name_sealed, birth_sealed, phone_sealed,
		rrn_sealed, phone_index, rrn_index, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.InstitutionID, r.NameSealed, r.BirthSealed, r.PhoneSealed,
		nullBytes(r.RRNSealed), r.PhoneIndex, nullBytes(r.RRNIndex), nanos(r.CreatedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("customer %s: %w", r.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert customer %s: %w", r.ID, err)
	}
	return nil
}

// nullBytes stores an absent optional value as NULL rather than an empty
// value, which the engines would keep apart from NULL.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

const customerColumns = `id, institution_id, name_sealed, birth_sealed, phone_sealed,
	rrn_sealed, phone_index, rrn_index, created_at`

// Customer returns one customer of an institution; another institution's
// customer is not found, exactly like one that does not exist.
func (db *DB) Customer(ctx context.Context, institutionID, id string) (*customer.Record, error) {
	return db.findCustomer(ctx, "id = ?", institutionID, id)
}

// CustomerByPhone returns the customer of an institution with this phone
// blind index.
func (db *DB) CustomerByPhone(ctx context.Context, institutionID string, phoneIndex []byte) (*customer.Record, error) {
	return db.findCustomer(ctx, "phone_index = ?", institutionID, phoneIndex)
}

// findCustomer reads one customer matching where (one of our conditions,
// with one placeholder), always scoped by institution.
func (db *DB) findCustomer(ctx context.Context, where, institutionID string, arg any) (*customer.Record, error) {
	var r *customer.Record
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanCustomer(tx.queryRow(ctx, `SELECT `+customerColumns+` FROM customers
			WHERE institution_id = ? AND `+where, institutionID, arg))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("customer: %w", errs.ErrNotFound)
		}
		return err
	})
	return r, err
}

func scanCustomer(s scanner) (*customer.Record, error) {
	var r customer.Record
	var created int64
	err := s.Scan(&r.ID, &r.InstitutionID, &r.NameSealed, &r.BirthSealed, &r.PhoneSealed,
		&r.RRNSealed, &r.PhoneIndex, &r.RRNIndex, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan customer: %w", err)
	}
	r.CreatedAt = fromNanos(created)
	return &r, nil
}
