package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
)

var _ fds.Store = (*FDSStore)(nil)

// FDSStore is the DB as the fraud engine's store: the DB's methods, plus the
// history lookups every decision makes, run as statements prepared once.
// Preparing is most of a lookup's cost on SQLite (hundreds of microseconds
// for the aggregate queries, against tens to run them). It is also why this
// is a type of its own: fds.History names its device lookup Device, which
// the DB already has for the device registry.
type FDSStore struct {
	*DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// FDS returns the DB as the fraud engine's store. Make one and keep it:
// each holds its own prepared statements, which close with the DB.
func (db *DB) FDS() *FDSStore { return &FDSStore{DB: db, stmts: map[string]*sql.Stmt{}} }

// stmt returns query prepared, preparing it on first use. database/sql
// prepares it again on each pooled connection as needed.
func (s *FDSStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.Rebind(query))
	if err != nil {
		return nil, fmt.Errorf("prepare fds lookup: %w", err)
	}
	s.stmts[query] = st
	return st, nil
}

const fdsEventColumns = `id, institution_id, kind, action, customer_id, fingerprint, ip, gps_lat, gps_lon,
	ip_lat, ip_lon, country, anonymous, result, amount, bin, bot, time`

const fdsDecisionColumns = `id, event_id, institution_id, customer_id, kind, rule_set_version, score, outcome,
	matched, errors, features, case_id, created_at`

// SaveDecision records the event, its decision and the case it opens (nil:
// none) in one transaction. An event or decision already stored is
// errs.ErrConflict and nothing is written.
func (db *DB) SaveDecision(ctx context.Context, e *fds.Event, d *fds.Decision, c *fds.Case) error {
	if err := checkDecision(e, d, c); err != nil {
		return err
	}
	row, err := encodeDecision(d)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := insertFDSEvent(ctx, tx, e); err != nil {
			return err
		}
		if err := insertFDSDecision(ctx, tx, d, row); err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		return insertFDSCase(ctx, tx, c)
	})
}

// checkDecision refuses what would be stored inconsistently: a decision of
// another event, a case of another decision, and text PostgreSQL would
// refuse (NUL, invalid UTF-8) where SQLite would keep it, so that both
// engines answer alike.
func checkDecision(e *fds.Event, d *fds.Decision, c *fds.Case) error {
	if e == nil || d == nil {
		return fmt.Errorf("fds decision: event and decision are required: %w", errs.ErrInvalid)
	}
	if e.ID == "" || d.ID == "" || d.EventID != e.ID || e.Time.IsZero() {
		return fmt.Errorf("fds decision %q: needs ids, a time, and the id of its own event: %w", d.ID, errs.ErrInvalid)
	}
	if !outcomeKnown(d.Outcome) {
		return fmt.Errorf("fds decision %s: outcome %q: %w", d.ID, d.Outcome, errs.ErrInvalid)
	}
	if err := checkTimes(e.Time, d.CreatedAt); err != nil {
		return err
	}
	if err := checkText(e.ID, e.InstitutionID, string(e.Kind), e.Action, e.CustomerID, e.Fingerprint, e.IP,
		e.Country, e.BIN, d.ID, d.InstitutionID, d.CustomerID, string(d.Kind), d.CaseID); err != nil {
		return err
	}
	switch e.Result {
	case fds.ResultNone, fds.ResultSuccess, fds.ResultFailure:
	default:
		return fmt.Errorf("fds event %s: result %q: %w", e.ID, e.Result, errs.ErrInvalid)
	}
	if c == nil {
		return nil
	}
	if c.ID == "" || c.DecisionID != d.ID || d.CaseID != c.ID {
		return fmt.Errorf("fds case %q: must name decision %s, which must name it: %w", c.ID, d.ID, errs.ErrInvalid)
	}
	return checkCase(c)
}

func outcomeKnown(o fds.Outcome) bool { return o.Severity() >= 0 }

// checkText refuses strings PostgreSQL cannot store in TEXT.
func checkText(ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("text with NUL or invalid UTF-8: %w", errs.ErrInvalid)
		}
	}
	return nil
}

func insertFDSEvent(ctx context.Context, tx *dbtx, e *fds.Event) error {
	gpsLat, gpsLon := nullLocation(e.GPS)
	ipLat, ipLon := nullLocation(e.IPLoc)
	_, err := tx.exec(ctx, `INSERT INTO fds_events (`+fdsEventColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.InstitutionID, string(e.Kind), e.Action, nullString(e.CustomerID), nullString(e.Fingerprint),
		nullString(e.IP), gpsLat, gpsLon, ipLat, ipLon, e.Country, e.Anonymous, string(e.Result), e.AmountKRW,
		nullString(e.BIN), e.BotSuspected, nanos(e.Time))
	if tx.isUnique(err) {
		return fmt.Errorf("fds event %s: %w", e.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert fds event %s: %w", e.ID, err)
	}
	return nil
}

func nullLocation(l *fds.Location) (lat, lon any) {
	if l == nil {
		return nil, nil
	}
	return l.Lat, l.Lon
}

func scanFDSEvent(s scanner) (*fds.Event, error) {
	var e fds.Event
	var kind, result string
	var customer, fingerprint, ip, bin sql.NullString
	var gpsLat, gpsLon, ipLat, ipLon sql.NullFloat64
	var at int64
	err := s.Scan(&e.ID, &e.InstitutionID, &kind, &e.Action, &customer, &fingerprint, &ip, &gpsLat, &gpsLon,
		&ipLat, &ipLon, &e.Country, &e.Anonymous, &result, &e.AmountKRW, &bin, &e.BotSuspected, &at)
	if err != nil {
		return nil, fmt.Errorf("scan fds event: %w", err)
	}
	e.Kind, e.Result, e.Time = fds.Kind(kind), fds.Result(result), fromNanos(at)
	e.CustomerID, e.Fingerprint, e.IP, e.BIN = customer.String, fingerprint.String, ip.String, bin.String
	e.GPS, e.IPLoc = location(gpsLat, gpsLon), location(ipLat, ipLon)
	return &e, nil
}

func location(lat, lon sql.NullFloat64) *fds.Location {
	if !lat.Valid || !lon.Valid {
		return nil
	}
	return &fds.Location{Lat: lat.Float64, Lon: lon.Float64}
}

// decisionJSON is a decision's JSON columns.
type decisionJSON struct{ matched, errors, features string }

func encodeDecision(d *fds.Decision) (decisionJSON, error) {
	matched, err := json.Marshal(d.Matched)
	if err != nil {
		return decisionJSON{}, fmt.Errorf("encode matched rules: %w", err)
	}
	ruleErrors, err := json.Marshal(d.Errors)
	if err != nil {
		return decisionJSON{}, fmt.Errorf("encode rule errors: %w", err)
	}
	features, err := encodeFeatures(d.Features)
	if err != nil {
		return decisionJSON{}, err
	}
	return decisionJSON{string(matched), string(ruleErrors), features}, nil
}

func insertFDSDecision(ctx context.Context, tx *dbtx, d *fds.Decision, row decisionJSON) error {
	_, err := tx.exec(ctx, `INSERT INTO fds_decisions (`+fdsDecisionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.EventID, d.InstitutionID, nullString(d.CustomerID), string(d.Kind), d.RuleSetVersion, d.Score,
		string(d.Outcome), row.matched, row.errors, row.features, nullString(d.CaseID), nanos(d.CreatedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("fds decision %s: %w", d.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert fds decision %s: %w", d.ID, err)
	}
	return nil
}

func scanFDSDecision(s scanner) (fds.Decision, error) {
	var d fds.Decision
	var customer, caseID sql.NullString
	var kind, outcome, matched, ruleErrors, features string
	var created int64
	err := s.Scan(&d.ID, &d.EventID, &d.InstitutionID, &customer, &kind, &d.RuleSetVersion, &d.Score, &outcome,
		&matched, &ruleErrors, &features, &caseID, &created)
	if err != nil {
		return d, fmt.Errorf("scan fds decision: %w", err)
	}
	d.CustomerID, d.CaseID, d.Kind, d.Outcome = customer.String, caseID.String, fds.Kind(kind), fds.Outcome(outcome)
	d.CreatedAt = fromNanos(created)
	if err := json.Unmarshal([]byte(matched), &d.Matched); err != nil {
		return d, fmt.Errorf("decode matched rules of %s: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(ruleErrors), &d.Errors); err != nil {
		return d, fmt.Errorf("decode rule errors of %s: %w", d.ID, err)
	}
	if d.Features, err = decodeFeatures(features); err != nil {
		return d, fmt.Errorf("decision %s: %w", d.ID, err)
	}
	return d, nil
}

// Decision returns a decision of the institution, or of any when
// institutionID is "" (operators); another institution's is not found,
// exactly like one that does not exist.
func (db *DB) Decision(ctx context.Context, institutionID, id string) (*fds.Decision, error) {
	where, args := `id = ?`, []any{id}
	if institutionID != "" {
		where, args = where+` AND institution_id = ?`, append(args, institutionID)
	}
	var d fds.Decision
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		d, err = scanFDSDecision(tx.queryRow(ctx, `SELECT `+fdsDecisionColumns+` FROM fds_decisions WHERE `+where, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("fds decision: %w", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Page sizes of Decisions and Cases: the default and the most one call
// returns.
const (
	defaultFDSPage = 100
	maxFDSPage     = 1000
)

func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return defaultFDSPage
	case limit > maxFDSPage:
		return maxFDSPage
	}
	return limit
}

// Decisions pages the decisions made in [since, until) in (created_at, id)
// order, after the decision afterID ("" from the start). An afterID that is
// not stored is errs.ErrNotFound rather than an empty page, which a
// backtest would take for the end. limit ≤ 0 is 100; at most 1000 are
// returned.
func (db *DB) Decisions(ctx context.Context, since, until time.Time, afterID string, limit int) ([]fds.Decision, error) {
	if err := checkTimes(since, until); err != nil {
		return nil, err
	}
	var out []fds.Decision
	err := db.read(ctx, func(tx *dbtx) error {
		afterAt, afterKey := nanos(since)-1, ""
		if afterID != "" {
			err := tx.queryRow(ctx, `SELECT created_at FROM fds_decisions WHERE id = ?`, afterID).Scan(&afterAt)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("fds decision %s to page after: %w", afterID, errs.ErrNotFound)
			} else if err != nil {
				return fmt.Errorf("read fds decision %s: %w", afterID, err)
			}
			afterKey = afterID
		}
		var err error
		out, err = queryAll(ctx, tx, "fds decisions", scanFDSDecision, `SELECT `+fdsDecisionColumns+`
			FROM fds_decisions WHERE created_at >= ? AND created_at < ? AND (created_at > ? OR (created_at = ? AND id > ?))
			ORDER BY created_at, id LIMIT ?`,
			nanos(since), nanos(until), afterAt, afterAt, afterKey, pageSize(limit))
		return err
	})
	return out, err
}
