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

const evidenceMetaColumns = `id, session_id, institution_id, method, kind, content_type, size, created_at`

func insertEvidence(ctx context.Context, tx *dbtx, e *ekyc.EvidenceRecord) error {
	if e.ID == "" || e.SessionID == "" || e.InstitutionID == "" || len(e.Sealed) == 0 {
		return fmt.Errorf("ekyc evidence %q: %w", e.ID, errs.ErrInvalid)
	}
	if err := checkTimes(e.CreatedAt); err != nil {
		return err
	}
	_, err := tx.exec(ctx, `INSERT INTO ekyc_evidence (`+evidenceMetaColumns+`, sealed, blind_index)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.SessionID, e.InstitutionID, string(e.Method), string(e.Kind), e.ContentType, e.Size,
		nanos(e.CreatedAt), e.Sealed, nullBytes(e.Index))
	if tx.isUnique(err) {
		return fmt.Errorf("ekyc evidence %s: %w", e.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert ekyc evidence %s: %w", e.ID, err)
	}
	return nil
}

// EKYCEvidence lists a session's evidence, oldest first, without the
// sealed bytes. A session of another institution is not found.
func (db *DB) EKYCEvidence(ctx context.Context, institutionID, sessionID string) ([]ekyc.EvidenceRecord, error) {
	var out []ekyc.EvidenceRecord
	err := db.read(ctx, func(tx *dbtx) error {
		var one int
		err := tx.queryRow(ctx, `SELECT 1 FROM ekyc_sessions WHERE id = ? AND institution_id = ?`,
			sessionID, institutionID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ekyc session: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("read ekyc session: %w", err)
		}
		out, err = queryAll(ctx, tx, "ekyc evidence", scanEvidenceMeta, `SELECT `+evidenceMetaColumns+`
			FROM ekyc_evidence WHERE session_id = ? AND institution_id = ? ORDER BY created_at, id`, sessionID, institutionID)
		return err
	})
	return out, err
}

// EKYCEvidenceItem returns one evidence item with its sealed bytes.
func (db *DB) EKYCEvidenceItem(ctx context.Context, institutionID, sessionID, id string) (*ekyc.EvidenceRecord, error) {
	var e *ekyc.EvidenceRecord
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		e, err = scanEvidence(tx.queryRow(ctx, `SELECT `+evidenceMetaColumns+`, sealed, blind_index FROM ekyc_evidence
			WHERE id = ? AND session_id = ? AND institution_id = ?`, id, sessionID, institutionID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ekyc evidence: %w", errs.ErrNotFound)
		}
		return err
	})
	return e, err
}

func scanEvidenceMeta(s scanner) (ekyc.EvidenceRecord, error) {
	var e ekyc.EvidenceRecord
	var method, kind string
	var created int64
	err := s.Scan(&e.ID, &e.SessionID, &e.InstitutionID, &method, &kind, &e.ContentType, &e.Size, &created)
	if err != nil {
		return e, fmt.Errorf("scan ekyc evidence: %w", err)
	}
	e.Method, e.Kind, e.CreatedAt = ekyc.Method(method), ekyc.EvidenceKind(kind), fromNanos(created)
	return e, nil
}

func scanEvidence(s scanner) (*ekyc.EvidenceRecord, error) {
	var e ekyc.EvidenceRecord
	var method, kind string
	var created int64
	err := s.Scan(&e.ID, &e.SessionID, &e.InstitutionID, &method, &kind, &e.ContentType, &e.Size, &created,
		&e.Sealed, &e.Index)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan ekyc evidence: %w", err)
	}
	e.Method, e.Kind, e.CreatedAt = ekyc.Method(method), ekyc.EvidenceKind(kind), fromNanos(created)
	return &e, nil
}

// purgeable selects decided sessions created before a time; its two
// parameters are the pending status and the time.
const purgeable = `SELECT id FROM ekyc_sessions WHERE status <> ? AND created_at < ?`

// PurgeEKYC deletes the evidence and nonces of decided sessions created
// before before, scrubs their applicant PII and marks them purged, then
// appends the entry with the counts, all in one transaction. The sessions'
// rows (ids, statuses, methods) stay, so earlier audit entries still name
// what they were about.
func (db *DB) PurgeEKYC(ctx context.Context, before, now time.Time, entry func(ekyc.PurgeResult) audit.Entry) (ekyc.PurgeResult, error) {
	var p ekyc.PurgeResult
	if err := checkTimes(before, now); err != nil {
		return p, err
	}
	pending, cut := string(ekyc.StatusPending), nanos(before)
	err := db.write(ctx, func(tx *dbtx) error {
		p = ekyc.PurgeResult{}
		n, err := execCount(ctx, tx, `DELETE FROM ekyc_evidence WHERE session_id IN (`+purgeable+`)`, pending, cut)
		if err != nil {
			return fmt.Errorf("purge ekyc evidence: %w", err)
		}
		p.Evidence = n
		if _, err := tx.exec(ctx, `DELETE FROM ekyc_nonces WHERE session_id IN (`+purgeable+`)`, pending, cut); err != nil {
			return fmt.Errorf("purge ekyc nonces: %w", err)
		}
		n, err = execCount(ctx, tx, `UPDATE ekyc_sessions SET name_sealed = NULL, birth_sealed = NULL,
			phone_sealed = NULL, phone_index = NULL, purged_at = ?, version = version + 1
			WHERE status <> ? AND created_at < ? AND purged_at IS NULL`, nanos(now), pending, cut)
		if err != nil {
			return fmt.Errorf("purge ekyc sessions: %w", err)
		}
		p.Sessions = n
		return db.appendAudit(ctx, tx, entry(p))
	})
	return p, err
}

func execCount(ctx context.Context, tx *dbtx, query string, args ...any) (int, error) {
	res, err := tx.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// methodRow is a method's state as stored in the methods JSON column:
// every field, the service's own included, times as Unix nanoseconds.
type methodRow struct {
	Method    ekyc.Method       `json:"method"`
	Status    ekyc.MethodStatus `json:"status"`
	Attempts  int               `json:"attempts"`
	Reason    string            `json:"reason,omitempty"`
	UpdatedAt int64             `json:"updated_at"`
	Pending   int               `json:"pending,omitempty"`
	Sends     int               `json:"sends,omitempty"`
	CodeID    string            `json:"code_id,omitempty"`
	CodeUntil int64             `json:"code_until,omitempty"`
	Evidence  string            `json:"evidence,omitempty"`
}

// encodeSessionState returns the policy and methods JSON of a session.
func encodeSessionState(r *ekyc.Record) (policy, methods string, err error) {
	p, err := json.Marshal(r.Policy)
	if err != nil {
		return "", "", fmt.Errorf("encode ekyc policy: %w", err)
	}
	rows := make([]methodRow, len(r.Methods))
	for i, m := range r.Methods {
		rows[i] = methodRow{Method: m.Method, Status: m.Status, Attempts: m.Attempts, Reason: m.Reason,
			UpdatedAt: nanos(m.UpdatedAt), Pending: m.Pending, Sends: m.Sends, CodeID: m.CodeID,
			CodeUntil: nanos(m.CodeUntil), Evidence: m.Evidence}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return "", "", fmt.Errorf("encode ekyc methods: %w", err)
	}
	return string(p), string(b), nil
}

func decodeMethods(s string) ([]ekyc.MethodState, error) {
	var rows []methodRow
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, err
	}
	out := make([]ekyc.MethodState, len(rows))
	for i, m := range rows {
		out[i] = ekyc.MethodState{Method: m.Method, Status: m.Status, Attempts: m.Attempts, Reason: m.Reason,
			UpdatedAt: fromNanos(m.UpdatedAt), Pending: m.Pending, Sends: m.Sends, CodeID: m.CodeID,
			CodeUntil: fromNanos(m.CodeUntil), Evidence: m.Evidence}
	}
	return out, nil
}
