package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
)

var _ ekyc.Store = (*DB)(nil)

const ekycSessionColumns = `id, institution_id, reference, customer_id, token_hash, name_sealed, birth_sealed,
	phone_sealed, phone_index, policy, status, reason, methods, created_at, expires_at, decided_at, consumed_at,
	purged_at, version`

// CreateEKYCSession stores a new session with its audit entry.
func (db *DB) CreateEKYCSession(ctx context.Context, r *ekyc.Record, e audit.Entry) error {
	if err := checkTimes(r.CreatedAt, r.ExpiresAt); err != nil {
		return err
	}
	policy, methods, err := encodeSessionState(r)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		_, err := tx.exec(ctx, `INSERT INTO ekyc_sessions (`+ekycSessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.InstitutionID, r.Reference, nullString(r.CustomerID), r.TokenHash, nullBytes(r.NameSealed),
			nullBytes(r.BirthSealed), nullBytes(r.PhoneSealed), nullBytes(r.PhoneIndex), policy, string(r.Status),
			r.Reason, methods, nanos(r.CreatedAt), nanos(r.ExpiresAt), nullNanos(r.DecidedAt), nullNanos(r.ConsumedAt),
			nullNanos(r.PurgedAt), r.Version)
		if tx.isUnique(err) {
			return fmt.Errorf("ekyc session %s: %w", r.ID, errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert ekyc session %s: %w", r.ID, err)
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// EKYCSession returns a session of the institution; another institution's
// is not found, exactly like one that does not exist.
func (db *DB) EKYCSession(ctx context.Context, institutionID, id string) (*ekyc.Record, error) {
	return db.findEKYCSession(ctx, `id = ? AND institution_id = ?`, id, institutionID)
}

// EKYCSessionByID returns a session of any institution.
func (db *DB) EKYCSessionByID(ctx context.Context, id string) (*ekyc.Record, error) {
	return db.findEKYCSession(ctx, `id = ?`, id)
}

func (db *DB) findEKYCSession(ctx context.Context, where string, args ...any) (*ekyc.Record, error) {
	var r *ekyc.Record
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanEKYCSession(tx.queryRow(ctx, `SELECT `+ekycSessionColumns+` FROM ekyc_sessions WHERE `+where, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ekyc session: %w", errs.ErrNotFound)
		}
		return err
	})
	return r, err
}

// SaveEKYCSession writes a session's new state as a compare-and-set on the
// version before it, with its evidence, webhook events and audit entries,
// in one transaction. A session changed meanwhile (or purged) is
// errs.ErrConflict and nothing is written.
func (db *DB) SaveEKYCSession(ctx context.Context, c ekyc.Change) error {
	r := c.Session
	if r == nil || r.Version < 2 {
		return fmt.Errorf("ekyc session change without a next version: %w", errs.ErrInvalid)
	}
	if err := checkSessionTimes(r); err != nil {
		return err
	}
	_, methods, err := encodeSessionState(r)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE ekyc_sessions SET status = ?, reason = ?, methods = ?, decided_at = ?, version = ?
			WHERE id = ? AND version = ? AND purged_at IS NULL`,
			string(r.Status), r.Reason, methods, nullNanos(r.DecidedAt), r.Version, r.ID, r.Version-1)
		if err != nil {
			return fmt.Errorf("update ekyc session %s: %w", r.ID, err)
		}
		if err := expectOne(res, "ekyc session "+r.ID); err != nil {
			return fmt.Errorf("ekyc session %s changed meanwhile: %w", r.ID, errs.ErrConflict)
		}
		return db.saveEKYCChange(ctx, tx, c)
	})
}

// saveEKYCChange writes what goes with a session change; the audit
// entries come last, as appendAudit asks.
func (db *DB) saveEKYCChange(ctx context.Context, tx *dbtx, c ekyc.Change) error {
	for i := range c.Evidence {
		if err := insertEvidence(ctx, tx, &c.Evidence[i]); err != nil {
			return err
		}
	}
	if err := insertWebhookEvents(ctx, tx, c.Events); err != nil {
		return err
	}
	for _, e := range c.Audit {
		if err := db.appendAudit(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

func checkSessionTimes(r *ekyc.Record) error {
	ts := []time.Time{r.CreatedAt, r.ExpiresAt}
	if r.DecidedAt != nil {
		ts = append(ts, *r.DecidedAt)
	}
	for _, m := range r.Methods {
		ts = append(ts, m.UpdatedAt, m.CodeUntil)
	}
	return checkTimes(ts...)
}

// DueEKYCSessions returns pending sessions whose expiry has come.
func (db *DB) DueEKYCSessions(ctx context.Context, now time.Time, limit int) ([]*ekyc.Record, error) {
	if err := checkTimes(now); err != nil {
		return nil, err
	}
	return list(ctx, db, "due ekyc sessions", scanEKYCSession, `SELECT `+ekycSessionColumns+` FROM ekyc_sessions
		WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, string(ekyc.StatusPending), nanos(now), limit)
}

// ConsumeEKYCSession spends a passed session on one step-up, in one guarded
// UPDATE: of racing callers exactly one gets the session.
func (db *DB) ConsumeEKYCSession(ctx context.Context, institutionID, customerID, id string, decidedAfter, now time.Time, e audit.Entry) (*ekyc.Record, error) {
	if err := checkTimes(decidedAfter, now); err != nil {
		return nil, err
	}
	var r *ekyc.Record
	err := db.write(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanEKYCSession(tx.queryRow(ctx, `UPDATE ekyc_sessions SET consumed_at = ?, version = version + 1
			WHERE id = ? AND institution_id = ? AND customer_id = ? AND status = ? AND consumed_at IS NULL
			AND decided_at > ? AND purged_at IS NULL RETURNING `+ekycSessionColumns,
			nanos(now), id, institutionID, customerID, string(ekyc.StatusPassed), nanos(decidedAfter)))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("unspent passed ekyc session: %w", errs.ErrNotFound)
		} else if err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
	return r, err
}

// IssueEKYCNonce stores a biometric nonce of a pending session. Expired
// nonces are purged first and a session holds at most maxLive unexpired
// ones, which bounds the table.
func (db *DB) IssueEKYCNonce(ctx context.Context, n ekyc.NonceRecord, maxLive int) error {
	if len(n.Hash) == 0 || !n.ExpiresAt.After(n.CreatedAt) {
		return fmt.Errorf("ekyc nonce: a hash and a future expiry are required: %w", errs.ErrInvalid)
	}
	if err := checkTimes(n.CreatedAt, n.ExpiresAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if _, err := tx.exec(ctx, `DELETE FROM ekyc_nonces WHERE expires_at <= ?`, nanos(n.CreatedAt)); err != nil {
			return fmt.Errorf("purge ekyc nonces: %w", err)
		}
		var live int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM ekyc_nonces WHERE session_id = ?`, n.SessionID).Scan(&live); err != nil {
			return fmt.Errorf("count ekyc nonces: %w", err)
		}
		if live >= maxLive {
			return fmt.Errorf("ekyc nonces of %s: %w", n.SessionID, errs.ErrConflict)
		}
		// The casts type the parameters for PostgreSQL, which cannot infer
		// them from a SELECT list.
		res, err := tx.exec(ctx, `INSERT INTO ekyc_nonces (hash, session_id, expires_at, created_at)
			SELECT CAST(? AS `+db.blobType()+`), id, CAST(? AS BIGINT), CAST(? AS BIGINT) FROM ekyc_sessions
			WHERE id = ? AND status = ?`,
			n.Hash, nanos(n.ExpiresAt), nanos(n.CreatedAt), n.SessionID, string(ekyc.StatusPending))
		if tx.isUnique(err) {
			return fmt.Errorf("ekyc nonce: %w", errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert ekyc nonce: %w", err)
		}
		return expectOne(res, "pending ekyc session")
	})
}

// blobType names the binary column type in a CAST.
func (db *DB) blobType() string {
	if db.d.Numbered {
		return "BYTEA"
	}
	return "BLOB"
}

// ConsumeEKYCNonce deletes an unexpired nonce of the session in one
// statement, so it serves once on any node.
func (db *DB) ConsumeEKYCNonce(ctx context.Context, sessionID string, hash []byte, now time.Time) error {
	if err := checkTimes(now); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		var id string
		err := tx.queryRow(ctx, `DELETE FROM ekyc_nonces WHERE hash = ? AND session_id = ? AND expires_at > ?
			RETURNING session_id`, hash, sessionID, nanos(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ekyc nonce: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("consume ekyc nonce: %w", err)
		}
		return nil
	})
}

func scanEKYCSession(s scanner) (*ekyc.Record, error) {
	var r ekyc.Record
	var customerID sql.NullString
	var status, policy, methods string
	var created, expires int64
	var decided, consumed, purged sql.NullInt64
	err := s.Scan(&r.ID, &r.InstitutionID, &r.Reference, &customerID, &r.TokenHash, &r.NameSealed, &r.BirthSealed,
		&r.PhoneSealed, &r.PhoneIndex, &policy, &status, &r.Reason, &methods, &created, &expires, &decided, &consumed,
		&purged, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan ekyc session: %w", err)
	}
	r.CustomerID, r.Status = customerID.String, ekyc.Status(status)
	r.CreatedAt, r.ExpiresAt = fromNanos(created), fromNanos(expires)
	r.DecidedAt, r.ConsumedAt, r.PurgedAt = fromNullNanos(decided), fromNullNanos(consumed), fromNullNanos(purged)
	if err := json.Unmarshal([]byte(policy), &r.Policy); err != nil {
		return nil, fmt.Errorf("decode ekyc policy of %s: %w", r.ID, err)
	}
	if r.Methods, err = decodeMethods(methods); err != nil {
		return nil, fmt.Errorf("decode ekyc methods of %s: %w", r.ID, err)
	}
	return &r, nil
}
