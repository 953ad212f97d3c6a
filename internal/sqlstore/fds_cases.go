package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
)

const fdsCaseColumns = `id, decision_id, institution_id, customer_id, outcome, status, assignee, resolution,
	comments, created_at, updated_at, version`

// checkCase refuses a case the schema would refuse, with errs.ErrInvalid
// rather than an engine's constraint error.
func checkCase(c *fds.Case) error {
	if c.Status != fds.CaseOpen && c.Status != fds.CaseClosed {
		return fmt.Errorf("fds case %s: status %q: %w", c.ID, c.Status, errs.ErrInvalid)
	}
	if !outcomeKnown(c.Outcome) {
		return fmt.Errorf("fds case %s: outcome %q: %w", c.ID, c.Outcome, errs.ErrInvalid)
	}
	if err := checkText(c.ID, c.DecisionID, c.InstitutionID, c.CustomerID, c.Assignee, c.Resolution); err != nil {
		return err
	}
	return checkTimes(c.CreatedAt, c.UpdatedAt)
}

func encodeComments(cs []fds.Comment) (string, error) {
	b, err := json.Marshal(cs)
	if err != nil {
		return "", fmt.Errorf("encode case comments: %w", err)
	}
	return string(b), nil
}

func insertFDSCase(ctx context.Context, tx *dbtx, c *fds.Case) error {
	comments, err := encodeComments(c.Comments)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO fds_cases (`+fdsCaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.DecisionID, c.InstitutionID, nullString(c.CustomerID), string(c.Outcome), string(c.Status), c.Assignee,
		c.Resolution, comments, nanos(c.CreatedAt), nanos(c.UpdatedAt), c.Version)
	if tx.isUnique(err) {
		return fmt.Errorf("fds case %s: %w", c.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert fds case %s: %w", c.ID, err)
	}
	return nil
}

func scanFDSCase(s scanner) (fds.Case, error) {
	var c fds.Case
	var customer sql.NullString
	var outcome, status, comments string
	var created, updated int64
	err := s.Scan(&c.ID, &c.DecisionID, &c.InstitutionID, &customer, &outcome, &status, &c.Assignee, &c.Resolution,
		&comments, &created, &updated, &c.Version)
	if err != nil {
		return c, fmt.Errorf("scan fds case: %w", err)
	}
	c.CustomerID, c.Outcome, c.Status = customer.String, fds.Outcome(outcome), fds.CaseStatus(status)
	c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
	if err := json.Unmarshal([]byte(comments), &c.Comments); err != nil {
		return c, fmt.Errorf("decode comments of fds case %s: %w", c.ID, err)
	}
	return c, nil
}

// Cases returns the cases the filter selects, newest first: at most
// f.Limit, 100 when it is not set and never more than 1000.
func (db *DB) Cases(ctx context.Context, f fds.CaseFilter) ([]fds.Case, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, `status = ?`), append(args, string(f.Status))
	}
	if f.Assignee != "" {
		where, args = append(where, `assignee = ?`), append(args, f.Assignee)
	}
	query := `SELECT ` + fdsCaseColumns + ` FROM fds_cases`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	return list(ctx, db, "fds cases", scanFDSCase, query, append(args, pageSize(f.Limit))...)
}

// Case returns one case.
func (db *DB) Case(ctx context.Context, id string) (*fds.Case, error) {
	var c fds.Case
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		c, err = scanFDSCase(tx.queryRow(ctx, `SELECT `+fdsCaseColumns+` FROM fds_cases WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("fds case: %w", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// UpdateCase writes the case's assignee, status, resolution, comments and
// update time if its stored version is still c.Version, and moves both to
// the next version: a case changed meanwhile is errs.ErrConflict, an
// unknown one errs.ErrNotFound, and either writes nothing. What the case
// was opened with (decision, institution, customer, outcome, creation
// time) never changes.
func (db *DB) UpdateCase(ctx context.Context, c *fds.Case, e audit.Entry) error {
	if err := checkCase(c); err != nil {
		return err
	}
	comments, err := encodeComments(c.Comments)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE fds_cases SET status = ?, assignee = ?, resolution = ?, comments = ?,
			updated_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
			string(c.Status), c.Assignee, c.Resolution, comments, nanos(c.UpdatedAt), c.ID, c.Version)
		if err != nil {
			return fmt.Errorf("update fds case %s: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update fds case %s: %w", c.ID, err)
		} else if n == 0 {
			return caseMiss(ctx, tx, c.ID)
		}
		return db.appendAudit(ctx, tx, e)
	})
	if err == nil {
		c.Version++
	}
	return err
}

// caseMiss tells a case changed meanwhile from one that does not exist.
func caseMiss(ctx context.Context, tx *dbtx, id string) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM fds_cases WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("read fds case %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("fds case %s: %w", id, errs.ErrNotFound)
	}
	return fmt.Errorf("fds case %s changed meanwhile: %w", id, errs.ErrConflict)
}
