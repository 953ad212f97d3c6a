package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/secmedia"
)

var _ secmedia.Store = (*DB)(nil)

// CreateMedium stores a security medium with its audit entry. A serial the
// institution already registered (or a taken id) is a conflict and writes
// nothing.
func (db *DB) CreateMedium(ctx context.Context, r *secmedia.Record, e audit.Entry) error {
	if err := checkTimes(r.RegisteredAt); err != nil {
		return err
	}
	if r.Counter > math.MaxInt64 {
		return fmt.Errorf("security medium %s: counter out of range: %w", r.ID, errs.ErrInvalid)
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := insertMedium(ctx, tx, r); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func insertMedium(ctx context.Context, tx *dbtx, r *secmedia.Record) error {
	_, err := tx.exec(ctx, `INSERT INTO security_media (`+mediumColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.InstitutionID, r.Serial, string(r.Kind), r.SeedSealed, r.Digits, r.Period, string(r.Algorithm),
		r.HolderIndex, r.NameSealed, r.BirthSealed, r.PhoneSealed, int64(r.Counter), r.LastStep, r.Failures,
		nanos(r.RegisteredAt))
	if tx.isUnique(err) {
		return fmt.Errorf("security medium %s: %w", r.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert security medium %s: %w", r.ID, err)
	}
	return nil
}

const mediumColumns = `id, institution_id, serial, kind, seed_sealed, digits, period, algorithm,
	holder_index, holder_name_sealed, holder_birth_sealed, holder_phone_sealed, counter, last_step, failures,
	registered_at`

// Medium returns an institution's medium by serial; another institution's
// is not found, exactly like one that does not exist.
func (db *DB) Medium(ctx context.Context, institutionID, serial string) (*secmedia.Record, error) {
	var r *secmedia.Record
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanMedium(tx.queryRow(ctx, `SELECT `+mediumColumns+` FROM security_media
			WHERE institution_id = ? AND serial = ?`, institutionID, serial))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("security medium: %w", errs.ErrNotFound)
		}
		return err
	})
	return r, err
}

// AdvanceTOTP records an accepted step in one guarded UPDATE: of parallel
// uses of a step, or of an older one, at most one matches the guard.
func (db *DB) AdvanceTOTP(ctx context.Context, id string, step int64, maxFailures int) (bool, error) {
	return db.guardedUpdate(ctx, "advance security medium "+id, `UPDATE security_media SET last_step = ?, failures = 0
		WHERE id = ? AND kind = 'totp' AND last_step < ? AND failures < ?`, step, id, step, maxFailures)
}

// AdvanceHOTP moves the counter only from the value the caller checked
// against, so two codes verified at once cannot both move it.
func (db *DB) AdvanceHOTP(ctx context.Context, id string, from, to uint64, maxFailures int) (bool, error) {
	if from > math.MaxInt64 || to > math.MaxInt64 || to <= from {
		return false, fmt.Errorf("advance security medium %s from %d to %d: %w", id, from, to, errs.ErrInvalid)
	}
	return db.guardedUpdate(ctx, "advance security medium "+id, `UPDATE security_media SET counter = ?, failures = 0
		WHERE id = ? AND kind = 'hotp' AND counter = ? AND failures < ?`, int64(to), id, int64(from), maxFailures)
}

// guardedUpdate runs one UPDATE and reports whether it matched a row.
func (db *DB) guardedUpdate(ctx context.Context, what, query string, args ...any) (bool, error) {
	var won bool
	err := db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		won = n == 1
		return nil
	})
	return won, err
}

// CountMediumFailure adds a failure below the cap in one guarded UPDATE,
// so N parallel wrong codes count N and never pass the cap; the failure
// reaching the cap is audited with it.
func (db *DB) CountMediumFailure(ctx context.Context, id string, maxFailures int, locked audit.Entry) (int, bool, error) {
	var failures int
	var counted bool
	err := db.write(ctx, func(tx *dbtx) error {
		err := tx.queryRow(ctx, `UPDATE security_media SET failures = failures + 1
			WHERE id = ? AND failures < ? RETURNING failures`, id, maxFailures).Scan(&failures)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("count security medium %s failure: %w", id, err)
		}
		counted = true
		if failures < maxFailures {
			return nil
		}
		return db.appendAudit(ctx, tx, locked)
	})
	return failures, counted, err
}

// ResetMediumFailures clears the failures with its audit entry.
func (db *DB) ResetMediumFailures(ctx context.Context, id string, e audit.Entry) error {
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE security_media SET failures = 0 WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("reset security medium %s failures: %w", id, err)
		}
		if err := expectOne(res, "security medium "+id); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func scanMedium(s scanner) (*secmedia.Record, error) {
	var r secmedia.Record
	var kind, alg string
	var counter, registered int64
	err := s.Scan(&r.ID, &r.InstitutionID, &r.Serial, &kind, &r.SeedSealed, &r.Digits, &r.Period, &alg,
		&r.HolderIndex, &r.NameSealed, &r.BirthSealed, &r.PhoneSealed, &counter, &r.LastStep, &r.Failures, &registered)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan security medium: %w", err)
	}
	r.Kind, r.Algorithm, r.Counter, r.RegisteredAt = secmedia.Kind(kind), secmedia.Algorithm(alg), uint64(counter), fromNanos(registered)
	return &r, nil
}
