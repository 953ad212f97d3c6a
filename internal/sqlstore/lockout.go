package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
)

var _ lockout.Store = (*DB)(nil)

// errLockoutRace: the guarded write found the row changed since it was read
// locked. It cannot happen while the lock holds; if it does, the whole
// transaction reruns on the fresh row.
var errLockoutRace = errors.New("lockout state changed under the update")

// errNoChange rolls back an update whose function chose to write nothing,
// so that not even the zero row it may have created remains.
var errNoChange = errors.New("lockout: no change")

const lockoutColumns = `customer_id, method, failures, last_failure, next_allowed, locked_until, protected_since,
	recent, pending, pending_until, version`

// LockoutState returns the key's state, zero if never written.
func (db *DB) LockoutState(ctx context.Context, k lockout.Key) (lockout.State, error) {
	var st lockout.State
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		st, err = readLockout(ctx, tx, k, "")
		return err
	})
	return st, err
}

// LockoutStates returns the customer's written states, by method.
func (db *DB) LockoutStates(ctx context.Context, customerID string) ([]lockout.State, error) {
	return list(ctx, db, "lockout states", scanLockout,
		`SELECT `+lockoutColumns+` FROM lockout_states WHERE customer_id = ? ORDER BY method`, customerID)
}

func readLockout(ctx context.Context, tx *dbtx, k lockout.Key, lock string) (lockout.State, error) {
	rows, err := queryAll(ctx, tx, "lockout state", scanLockout,
		`SELECT `+lockoutColumns+` FROM lockout_states WHERE customer_id = ? AND method = ? `+lock, k.CustomerID, string(k.Method))
	if err != nil || len(rows) == 0 {
		return lockout.State{Key: k}, err
	}
	return rows[0], nil
}

func scanLockout(s scanner) (lockout.State, error) {
	var st lockout.State
	var method, recent string
	var last, next, locked, protected, pendingUntil int64
	if err := s.Scan(&st.CustomerID, &method, &st.Failures, &last, &next, &locked, &protected,
		&recent, &st.Pending, &pendingUntil, &st.Version); err != nil {
		return st, fmt.Errorf("scan lockout state: %w", err)
	}
	st.Method = lockout.Method(method)
	st.LastFailure, st.NextAllowed, st.LockedUntil = fromNanos(last), fromNanos(next), fromNanos(locked)
	st.ProtectedSince, st.Protected, st.PendingUntil = fromNanos(protected), protected != 0, fromNanos(pendingUntil)
	var err error
	st.Recent, err = decodeTimes(recent)
	return st, err
}

// UpdateLockout runs fn on the key's state under lock and writes the result
// with its change in one transaction; see lockout.Store.
func (db *DB) UpdateLockout(ctx context.Context, k lockout.Key, fn func(*lockout.State) (*lockout.Change, error)) (lockout.State, error) {
	for range maxAttemptRuns {
		var st lockout.State
		err := db.write(ctx, func(tx *dbtx) error {
			var err error
			st, err = db.updateLockout(ctx, tx, k, fn)
			return err
		})
		if errors.Is(err, errNoChange) {
			return st, nil
		}
		if !errors.Is(err, errLockoutRace) {
			return st, err
		}
	}
	return lockout.State{}, fmt.Errorf("update lockout: %w", errLockoutRace)
}

// updateLockout is one run of UpdateLockout. Lock order: the state row,
// then source rows (fingerprint before IP), then the audit head, the same
// in every transaction, so two never wait on each other in a circle.
func (db *DB) updateLockout(ctx context.Context, tx *dbtx, k lockout.Key, fn func(*lockout.State) (*lockout.Change, error)) (lockout.State, error) {
	if err := ensureLockout(ctx, tx, k, db.now()); err != nil {
		return lockout.State{}, err
	}
	st, err := readLockout(ctx, tx, k, db.d.ForUpdate)
	if err != nil {
		return st, err
	}
	ch, err := fn(&st)
	if err != nil {
		return st, err
	} else if ch == nil {
		return st, errNoChange
	}
	if err := writeLockout(ctx, tx, &st, db.now()); err != nil {
		return st, err
	}
	if err := insertNotifications(ctx, tx, ch.Notes); err != nil {
		return st, err
	}
	entries := ch.Audit
	if ch.Source != nil {
		throttled, err := chargeSources(ctx, tx, db.d.ForUpdate, ch.Source)
		if err != nil {
			return st, err
		}
		for _, src := range throttled {
			st.Transitions = append(st.Transitions, lockout.SourceThrottled)
			entries = append(entries, throttleEntry(ch.Source, src))
		}
	}
	for _, e := range entries {
		if err := db.appendAudit(ctx, tx, e); err != nil {
			return st, err
		}
	}
	return st, nil
}

func ensureLockout(ctx context.Context, tx *dbtx, k lockout.Key, now time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO lockout_states (`+lockoutColumns+`, updated_at)
		VALUES (?, ?, 0, 0, 0, 0, 0, '[]', '', 0, 0, ?) ON CONFLICT (customer_id, method) DO NOTHING`,
		k.CustomerID, string(k.Method), nanos(now))
	if err != nil {
		return fmt.Errorf("ensure lockout state: %w", err)
	}
	return nil
}

// writeLockout is the guarded write: it applies only to the version that
// was read, and returns the new one.
func writeLockout(ctx context.Context, tx *dbtx, st *lockout.State, now time.Time) error {
	if err := checkTimes(st.LastFailure, st.NextAllowed, st.LockedUntil, st.ProtectedSince, st.PendingUntil); err != nil {
		return err
	}
	recent, err := encodeTimes(st.Recent)
	if err != nil {
		return err
	}
	protected := int64(0)
	if st.Protected {
		protected = max(1, nanos(st.ProtectedSince))
	}
	err = tx.queryRow(ctx, `UPDATE lockout_states SET failures = ?, last_failure = ?, next_allowed = ?, locked_until = ?,
		protected_since = ?, recent = ?, pending = ?, pending_until = ?, version = version + 1, updated_at = ?
		WHERE customer_id = ? AND method = ? AND version = ? RETURNING version`,
		st.Failures, nanos(st.LastFailure), nanos(st.NextAllowed), nanos(st.LockedUntil), protected, recent,
		st.Pending, nanos(st.PendingUntil), nanos(now), st.CustomerID, string(st.Method), st.Version).Scan(&st.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return errLockoutRace
	} else if err != nil {
		return fmt.Errorf("write lockout state: %w", err)
	}
	return nil
}

// chargeSources logs a failure against each source and throttles those
// that have now failed for enough distinct customers within the window. It
// returns the sources it throttled.
func chargeSources(ctx context.Context, tx *dbtx, lock string, f *lockout.SourceFailure) ([]string, error) {
	if err := checkTimes(f.At, f.At.Add(f.Rule.Throttle)); err != nil {
		return nil, err
	}
	var throttled []string
	for _, src := range f.Sources {
		until, err := lockSource(ctx, tx, lock, src, f.At)
		if err != nil {
			return nil, err
		}
		n, err := logSourceFailure(ctx, tx, src, f)
		if err != nil {
			return nil, err
		}
		if n < f.Rule.Customers || until.After(f.At) {
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE lockout_sources SET throttled_until = ?, updated_at = ? WHERE source = ?`,
			nanos(f.At.Add(f.Rule.Throttle)), nanos(f.At), src); err != nil {
			return nil, fmt.Errorf("throttle source: %w", err)
		}
		throttled = append(throttled, src)
	}
	return throttled, nil
}

// lockSource makes sure the source has a row and reads it locked.
func lockSource(ctx context.Context, tx *dbtx, lock, src string, now time.Time) (time.Time, error) {
	if _, err := tx.exec(ctx, `INSERT INTO lockout_sources (source, throttled_until, updated_at) VALUES (?, 0, ?)
		ON CONFLICT (source) DO NOTHING`, src, nanos(now)); err != nil {
		return time.Time{}, fmt.Errorf("ensure lockout source: %w", err)
	}
	var until int64
	if err := tx.queryRow(ctx, `SELECT throttled_until FROM lockout_sources WHERE source = ? `+lock, src).Scan(&until); err != nil {
		return time.Time{}, fmt.Errorf("lock lockout source: %w", err)
	}
	return fromNanos(until), nil
}

// logSourceFailure purges the source's failures older than the window,
// logs this one and returns how many distinct customers remain.
func logSourceFailure(ctx context.Context, tx *dbtx, src string, f *lockout.SourceFailure) (int, error) {
	since := nanos(f.At.Add(-f.Rule.Window))
	if _, err := tx.exec(ctx, `DELETE FROM lockout_source_failures WHERE source = ? AND at <= ?`, src, since); err != nil {
		return 0, fmt.Errorf("purge source failures: %w", err)
	}
	if _, err := tx.exec(ctx, `INSERT INTO lockout_source_failures (source, customer_id, at) VALUES (?, ?, ?)`,
		src, f.CustomerID, nanos(f.At)); err != nil {
		return 0, fmt.Errorf("log source failure: %w", err)
	}
	var n int
	if err := tx.queryRow(ctx, `SELECT count(DISTINCT customer_id) FROM lockout_source_failures WHERE source = ? AND at > ?`,
		src, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count source customers: %w", err)
	}
	return n, nil
}

func throttleEntry(f *lockout.SourceFailure, src string) audit.Entry {
	return audit.Entry{Time: f.At, Actor: f.Actor, Action: lockout.ActionThrottle, Target: src, Result: audit.ResultSuccess,
		RequestID: f.RequestID, Details: map[string]string{"until": f.At.Add(f.Rule.Throttle).UTC().Format(time.RFC3339)}}
}

// SourceThrottledUntil returns the latest throttle end among sources, zero
// when none is throttled.
func (db *DB) SourceThrottledUntil(ctx context.Context, sources []string) (time.Time, error) {
	var latest time.Time
	for _, src := range sources {
		untils, err := list(ctx, db, "lockout source", scanInt64,
			`SELECT throttled_until FROM lockout_sources WHERE source = ?`, src)
		if err != nil {
			return time.Time{}, err
		}
		for _, u := range untils {
			latest = later(latest, fromNanos(u))
		}
	}
	return latest, nil
}

func scanInt64(s scanner) (int64, error) {
	var v int64
	if err := s.Scan(&v); err != nil {
		return 0, fmt.Errorf("scan: %w", err)
	}
	return v, nil
}

func encodeTimes(ts []time.Time) (string, error) {
	ns := make([]int64, len(ts))
	for i, t := range ts {
		ns[i] = nanos(t)
	}
	b, err := json.Marshal(ns)
	if err != nil {
		return "", fmt.Errorf("encode lockout times: %w", err)
	}
	return string(b), nil
}

func decodeTimes(s string) ([]time.Time, error) {
	var ns []int64
	if err := json.Unmarshal([]byte(s), &ns); err != nil {
		return nil, fmt.Errorf("decode lockout times: %w: %w", err, errs.ErrInternal)
	}
	if len(ns) == 0 {
		return nil, nil
	}
	ts := make([]time.Time, len(ns))
	for i, n := range ns {
		ts[i] = fromNanos(n)
	}
	return ts, nil
}
