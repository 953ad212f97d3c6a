package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
)

const fdsRuleSetColumns = `version, name, rules, thresholds, created_at, created_by, activated_at`

// SaveRuleSet stores rs as a new, inactive rule set with the next version,
// which it returns; rs.Version and rs.ActivatedAt are ignored. The version
// is not known to the caller before, so the audit entry gets it as the
// detail "version" (and as its target when it has none).
//
// The transaction first locks the fds_active row, as activations do, so
// concurrent saves on any node take versions one after another instead of
// both reading the same highest one.
func (db *DB) SaveRuleSet(ctx context.Context, rs *fds.RuleSet, e audit.Entry) (int64, error) {
	if err := checkTimes(rs.CreatedAt); err != nil {
		return 0, err
	}
	if err := checkText(rs.Name, rs.CreatedBy); err != nil {
		return 0, err
	}
	rules, thresholds, err := encodeRuleSet(rs)
	if err != nil {
		return 0, err
	}
	var version int64
	err = db.write(ctx, func(tx *dbtx) error {
		if _, err := lockActive(ctx, tx); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM fds_rule_sets`).Scan(&version); err != nil {
			return fmt.Errorf("next fds rule set version: %w", err)
		}
		_, err := tx.exec(ctx, `INSERT INTO fds_rule_sets (`+fdsRuleSetColumns+`) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
			version, rs.Name, rules, thresholds, nanos(rs.CreatedAt), rs.CreatedBy)
		if tx.isUnique(err) {
			return fmt.Errorf("fds rule set %d: %w", version, errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert fds rule set %d: %w", version, err)
		}
		return db.appendAudit(ctx, tx, withVersion(e, version))
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// withVersion copies e with the rule set version in its details.
func withVersion(e audit.Entry, version int64) audit.Entry {
	v := strconv.FormatInt(version, 10)
	d := make(map[string]string, len(e.Details)+1)
	maps.Copy(d, e.Details)
	d["version"] = v
	e.Details = d
	if e.Target == "" {
		e.Target = v
	}
	return e
}

// lockActive reads the active version, locking its row where the engine has
// row locks (SQLite's writers already exclude each other).
func lockActive(ctx context.Context, tx *dbtx) (int64, error) {
	var v int64
	if err := tx.queryRow(ctx, `SELECT version FROM fds_active WHERE id = 1 `+tx.db.d.ForUpdate).Scan(&v); err != nil {
		return 0, fmt.Errorf("read active fds rule set: %w", err)
	}
	return v, nil
}

func encodeRuleSet(rs *fds.RuleSet) (rules, thresholds string, err error) {
	r := rs.Rules
	if r == nil {
		r = []fds.Rule{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", "", fmt.Errorf("encode fds rules: %w", err)
	}
	t, err := json.Marshal(rs.Thresholds)
	if err != nil {
		return "", "", fmt.Errorf("encode fds thresholds: %w", err)
	}
	return string(b), string(t), nil
}

func scanFDSRuleSet(s scanner) (fds.RuleSet, error) {
	var rs fds.RuleSet
	var rules, thresholds string
	var created int64
	var activated sql.NullInt64
	err := s.Scan(&rs.Version, &rs.Name, &rules, &thresholds, &created, &rs.CreatedBy, &activated)
	if err != nil {
		return rs, fmt.Errorf("scan fds rule set: %w", err)
	}
	rs.CreatedAt, rs.ActivatedAt = fromNanos(created), fromNullNanos(activated)
	if err := json.Unmarshal([]byte(rules), &rs.Rules); err != nil {
		return rs, fmt.Errorf("decode rules of fds rule set %d: %w", rs.Version, err)
	}
	if err := json.Unmarshal([]byte(thresholds), &rs.Thresholds); err != nil {
		return rs, fmt.Errorf("decode thresholds of fds rule set %d: %w", rs.Version, err)
	}
	return rs, nil
}

// RuleSet returns one stored rule set.
func (db *DB) RuleSet(ctx context.Context, version int64) (*fds.RuleSet, error) {
	return db.findRuleSet(ctx, `SELECT `+fdsRuleSetColumns+` FROM fds_rule_sets WHERE version = ?`, version)
}

// ActiveRuleSet returns the active rule set; errs.ErrNotFound when none
// was ever activated.
func (db *DB) ActiveRuleSet(ctx context.Context) (*fds.RuleSet, error) {
	return db.findRuleSet(ctx, `SELECT r.version, r.name, r.rules, r.thresholds, r.created_at, r.created_by,
		r.activated_at FROM fds_active a JOIN fds_rule_sets r ON r.version = a.version WHERE a.id = 1`)
}

func (db *DB) findRuleSet(ctx context.Context, query string, args ...any) (*fds.RuleSet, error) {
	var rs fds.RuleSet
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		rs, err = scanFDSRuleSet(tx.queryRow(ctx, query, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("fds rule set: %w", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &rs, nil
}

// RuleSets returns every stored rule set, oldest version first.
func (db *DB) RuleSets(ctx context.Context) ([]fds.RuleSet, error) {
	return list(ctx, db, "fds rule sets", scanFDSRuleSet,
		`SELECT `+fdsRuleSetColumns+` FROM fds_rule_sets ORDER BY version`)
}

// ActivateRuleSet makes version active if the active one is still
// expectActive (0: none), in one guarded UPDATE: of racing activations on
// any node one wins and the others get errs.ErrConflict with nothing
// written. An unknown version is errs.ErrNotFound.
func (db *DB) ActivateRuleSet(ctx context.Context, version, expectActive int64, at time.Time, e audit.Entry) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		var found int64
		err := tx.queryRow(ctx, `SELECT version FROM fds_rule_sets WHERE version = ?`, version).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("fds rule set %d: %w", version, errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("read fds rule set %d: %w", version, err)
		}
		// The active row is locked before the rule set's, as SaveRuleSet
		// does, so writers never wait on each other in a cycle.
		res, err := tx.exec(ctx, `UPDATE fds_active SET version = ? WHERE id = 1 AND version = ?`, version, expectActive)
		if err != nil {
			return fmt.Errorf("activate fds rule set %d: %w", version, err)
		}
		if err := expectOne(res, "active fds rule set"); err != nil {
			return fmt.Errorf("active fds rule set is not %d: %w", expectActive, errs.ErrConflict)
		}
		if _, err := tx.exec(ctx, `UPDATE fds_rule_sets SET activated_at = ? WHERE version = ?`, nanos(at), version); err != nil {
			return fmt.Errorf("mark fds rule set %d active: %w", version, err)
		}
		return db.appendAudit(ctx, tx, e)
	})
}
