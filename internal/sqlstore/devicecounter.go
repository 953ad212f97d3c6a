package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
)

// errCounterRace: a guarded counter statement found its subject restricted
// although the transaction had read it unrestricted. The transaction rolls
// back and runs again, and then sees the restriction. Counter rows are
// locked when read, so this is a second line of defence that should not
// fire.
var errCounterRace = errors.New("device counter changed under the attempt")

// maxAttemptRuns bounds the reruns after errCounterRace.
const maxAttemptRuns = 3

const counterColumns = `kind, subject, failures, restricted_until, blocked_at, block_reason, released_at`

// Counters returns the counters of subjects, in order, zero for a subject
// never counted.
func (db *DB) Counters(ctx context.Context, subjects ...device.Subject) ([]device.Counter, error) {
	var cs []device.Counter
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		cs, err = readCounters(ctx, tx, subjects, "")
		return err
	})
	return cs, err
}

// readCounters reads each subject's counter with lock (FOR UPDATE or "").
func readCounters(ctx context.Context, tx *dbtx, subjects []device.Subject, lock string) ([]device.Counter, error) {
	cs := make([]device.Counter, len(subjects))
	for i, s := range subjects {
		rows, err := queryAll(ctx, tx, "device counter", scanCounter,
			`SELECT `+counterColumns+` FROM device_counters WHERE kind = ? AND subject = ? `+lock, s.Kind, s.Key)
		if err != nil {
			return nil, err
		}
		cs[i] = device.Counter{Subject: s}
		if len(rows) == 1 {
			cs[i] = rows[0]
		}
	}
	return cs, nil
}

func scanCounter(s scanner) (device.Counter, error) {
	var c device.Counter
	var restricted, blocked, released int64
	if err := s.Scan(&c.Kind, &c.Key, &c.Failures, &restricted, &blocked, &c.BlockReason, &released); err != nil {
		return c, fmt.Errorf("scan device counter: %w", err)
	}
	c.RestrictedUntil, c.BlockedAt, c.ReleasedAt = fromNanos(restricted), fromNanos(blocked), fromNanos(released)
	return c, nil
}

// lockCounters makes sure each subject has a row, then reads them locked,
// in the given order (customer first). On PostgreSQL every attempt on a
// subject therefore waits for the one before it, so checks that read other
// rows (how many customers a fingerprint tried) cannot race either; on
// SQLite writing transactions are serial already.
func (db *DB) lockCounters(ctx context.Context, tx *dbtx, subjects []device.Subject, now time.Time) ([]device.Counter, error) {
	for _, s := range subjects {
		_, err := tx.exec(ctx, `INSERT INTO device_counters (kind, subject, failures, restricted_until, blocked_at,
			block_reason, released_at, updated_at) VALUES (?, ?, 0, 0, 0, '', 0, ?) ON CONFLICT (kind, subject) DO NOTHING`,
			s.Kind, s.Key, nanos(now))
		if err != nil {
			return nil, fmt.Errorf("ensure device counter %s: %w", s.Kind, err)
		}
	}
	return readCounters(ctx, tx, subjects, db.d.ForUpdate)
}

// FailedCustomers returns the distinct customer keys a fingerprint failed
// for since a time.
func (db *DB) FailedCustomers(ctx context.Context, fingerprint string, since time.Time) ([]string, error) {
	return list(ctx, db, "failed customers", scanString, `SELECT DISTINCT customer_key FROM device_attempts
		WHERE fingerprint = ? AND failed = ? AND at >= ? ORDER BY customer_key`, fingerprint, true, nanos(since))
}

func scanString(s scanner) (string, error) {
	var v string
	if err := s.Scan(&v); err != nil {
		return "", fmt.Errorf("scan: %w", err)
	}
	return v, nil
}

// RecordAttempt records one registration attempt in one transaction; see
// device.Store. It reruns the transaction if a guarded statement lost a
// race (errCounterRace).
func (db *DB) RecordAttempt(ctx context.Context, a *device.Attempt) (*device.Outcome, error) {
	if a.CustomerKey == "" || a.Fingerprint == "" || a.Limits.Failures < 1 {
		return nil, fmt.Errorf("attempt without subjects or limits: %w", errs.ErrInvalid)
	}
	if err := checkTimes(a.Now, a.Now.Add(a.Limits.Restriction)); err != nil {
		return nil, err
	}
	for range maxAttemptRuns {
		var out *device.Outcome
		err := db.write(ctx, func(tx *dbtx) error {
			var err error
			out, err = db.recordAttempt(ctx, tx, a)
			return err
		})
		if !errors.Is(err, errCounterRace) {
			return out, err
		}
	}
	return nil, fmt.Errorf("record attempt: %w", errCounterRace)
}

// attemptRun is one run of RecordAttempt's transaction.
type attemptRun struct {
	a        *device.Attempt
	out      *device.Outcome
	counters []device.Counter // locked, in a.Subjects() order
	notes    []notify.Notification
}

func (db *DB) recordAttempt(ctx context.Context, tx *dbtx, a *device.Attempt) (*device.Outcome, error) {
	r := &attemptRun{a: a, out: &device.Outcome{Failure: a.Failure, Remaining: a.Limits.Failures}}
	var err error
	if r.counters, err = db.lockCounters(ctx, tx, a.Subjects(), a.Now); err != nil {
		return nil, err
	}
	if err := r.useToken(ctx, tx); err != nil {
		return nil, err
	}
	if refusal, until := device.CheckCounters(r.counters, a.Now); refusal != device.NotRefused {
		r.out.Refused, r.out.RestrictedUntil = refusal, until
		return r.out, db.appendAudit(ctx, tx, r.entry())
	}
	for _, step := range []func(context.Context, *dbtx) error{r.logAttempt, r.countFailure, r.checkSpread, r.checkRisk, r.apply} {
		if err := step(ctx, tx); err != nil {
			return nil, err
		}
	}
	if err := insertNotifications(ctx, tx, r.notes); err != nil {
		return nil, err
	}
	return r.out, db.appendAudit(ctx, tx, r.entry())
}

// useToken marks the integrity token used; a token seen before turns a
// success into a counted failure.
func (r *attemptRun) useToken(ctx context.Context, tx *dbtx) error {
	if r.a.TokenID == "" {
		return nil
	}
	res, err := tx.exec(ctx, `INSERT INTO device_integrity_tokens (token_id, used_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		r.a.TokenID, nanos(r.a.Now))
	if err != nil {
		return fmt.Errorf("mark integrity token used: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("mark integrity token used: rows affected: %w", err)
	}
	if n == 0 && r.out.Failure == "" {
		r.out.Failure = device.ErrTokenReused.Code
	}
	return nil
}

func (r *attemptRun) failed() bool { return r.out.Failure != "" }

func (r *attemptRun) logAttempt(ctx context.Context, tx *dbtx) error {
	_, err := tx.exec(ctx, `INSERT INTO device_attempts (fingerprint, customer_key, failed, at) VALUES (?, ?, ?, ?)`,
		r.a.Fingerprint, r.a.CustomerKey, r.failed(), nanos(r.a.Now))
	if err != nil {
		return fmt.Errorf("log device attempt: %w", err)
	}
	return nil
}

// countFailure adds one failure to each subject with a guarded upsert and
// imposes the restriction, and the hard block, that the new count calls for.
func (r *attemptRun) countFailure(ctx context.Context, tx *dbtx) error {
	if !r.failed() {
		return nil
	}
	for i, c := range r.counters {
		n, until, err := addFailure(ctx, tx, c.Subject, r.a.Limits, r.a.Now)
		if err != nil {
			return err
		}
		r.out.Remaining = max(0, min(r.out.Remaining, r.a.Limits.Failures-n))
		if until.After(r.a.Now) {
			if err := r.restrict(ctx, tx, i, until); err != nil {
				return err
			}
		}
	}
	return nil
}

// addFailure is the single statement that counts: it applies only while
// the subject is neither blocked nor restricted (a lapsed restriction
// starts the count afresh) and returns the new count and restriction end.
func addFailure(ctx context.Context, tx *dbtx, s device.Subject, l device.Limits, now time.Time) (int, time.Time, error) {
	var n int
	var until int64
	err := tx.queryRow(ctx, `UPDATE device_counters SET
		failures = CASE WHEN restricted_until = 0 THEN failures + 1 ELSE 1 END,
		restricted_until = CASE WHEN (CASE WHEN restricted_until = 0 THEN failures + 1 ELSE 1 END) >= ? THEN CAST(? AS BIGINT) ELSE 0 END,
		updated_at = ?
		WHERE kind = ? AND subject = ? AND blocked_at = 0 AND restricted_until <= ?
		RETURNING failures, restricted_until`,
		l.Failures, nanos(now.Add(l.Restriction)), nanos(now), s.Kind, s.Key, nanos(now)).Scan(&n, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, errCounterRace
	} else if err != nil {
		return 0, time.Time{}, fmt.Errorf("count device failure (%s): %w", s.Kind, err)
	}
	return n, fromNanos(until), nil
}

// restrict logs the restriction of counter i and hard-blocks the subject
// when it is the HardBlockRestrictions-th within the window since the last
// release.
func (r *attemptRun) restrict(ctx context.Context, tx *dbtx, i int, until time.Time) error {
	c, now := r.counters[i], r.a.Now
	r.out.RestrictedUntil = later(r.out.RestrictedUntil, until)
	if _, err := tx.exec(ctx, `INSERT INTO device_restrictions (kind, subject, at) VALUES (?, ?, ?)`, c.Kind, c.Key, nanos(now)); err != nil {
		return fmt.Errorf("log device restriction: %w", err)
	}
	since := later(now.Add(-r.a.Limits.HardBlockWindow), c.ReleasedAt)
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM device_restrictions WHERE kind = ? AND subject = ? AND at > ?`,
		c.Kind, c.Key, nanos(since)).Scan(&n); err != nil {
		return fmt.Errorf("count device restrictions: %w", err)
	}
	if n >= r.a.Limits.HardBlockRestrictions {
		return r.block(ctx, tx, i, device.BlockRestrictions)
	}
	r.notify(c, notify.KindRegistrationRestricted, map[string]string{"until": until.UTC().Format(time.RFC3339)})
	return nil
}

// checkSpread hard-blocks a fingerprint that has tried
// FingerprintCustomers distinct customers (or unknown phones) within the
// window.
func (r *attemptRun) checkSpread(ctx context.Context, tx *dbtx) error {
	i := len(r.counters) - 1 // the fingerprint
	since := later(r.a.Now.Add(-r.a.Limits.FingerprintWindow), r.counters[i].ReleasedAt)
	var n int
	if err := tx.queryRow(ctx, `SELECT count(DISTINCT customer_key) FROM device_attempts WHERE fingerprint = ? AND at > ?`,
		r.a.Fingerprint, nanos(since)).Scan(&n); err != nil {
		return fmt.Errorf("count fingerprint customers: %w", err)
	}
	if n >= r.a.Limits.FingerprintCustomers {
		return r.block(ctx, tx, i, device.BlockManyCustomer)
	}
	return nil
}

// checkRisk hard-blocks every subject of an attempt the risk hook judged
// high.
func (r *attemptRun) checkRisk(ctx context.Context, tx *dbtx) error {
	if !r.a.HighRisk {
		return nil
	}
	for i := range r.counters {
		if err := r.block(ctx, tx, i, device.BlockHighRisk); err != nil {
			return err
		}
	}
	return nil
}

// block hard-blocks counter i unless it already is.
func (r *attemptRun) block(ctx context.Context, tx *dbtx, i int, reason string) error {
	c := r.counters[i]
	res, err := tx.exec(ctx, `UPDATE device_counters SET blocked_at = ?, block_reason = ?, updated_at = ?
		WHERE kind = ? AND subject = ? AND blocked_at = 0`, nanos(r.a.Now), reason, nanos(r.a.Now), c.Kind, c.Key)
	if err != nil {
		return fmt.Errorf("block device subject (%s): %w", c.Kind, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("block device subject: rows affected: %w", err)
	} else if n == 0 {
		return nil // an earlier rule of this attempt blocked it already
	}
	r.counters[i].BlockedAt = r.a.Now
	r.out.Blocked = true
	r.notify(c, notify.KindRegistrationBlocked, map[string]string{"reason": reason})
	return nil
}

// notify tells a known customer about their own counter; a fingerprint's
// block or an unknown phone's restriction has nobody to tell.
func (r *attemptRun) notify(c device.Counter, kind string, data map[string]string) {
	if c.Kind != device.SubjectCustomer || r.a.CustomerID == "" {
		return
	}
	r.notes = append(r.notes, notify.New(r.a.CustomerID, kind, data, r.a.Now))
}

// apply makes the attempt's changes: a success's (unless a rule just
// blocked it), or a failure's ending of the registration.
func (r *attemptRun) apply(ctx context.Context, tx *dbtx) error {
	if r.failed() {
		return r.applyFailure(ctx, tx)
	}
	if r.out.Blocked {
		return nil
	}
	return r.applySuccess(ctx, tx)
}

// applyFailure ends the registration if the step asked for it; one that
// another attempt ended meanwhile stays as it is.
func (r *attemptRun) applyFailure(ctx context.Context, tx *dbtx) error {
	t := r.a.Transition
	if t == nil || t.To != device.StateFailed {
		return nil
	}
	_, err := transition(ctx, tx, t, r.a.Now)
	return err
}

func (r *attemptRun) applySuccess(ctx context.Context, tx *dbtx) error {
	a := r.a
	if a.Transition != nil {
		ok, err := transition(ctx, tx, a.Transition, a.Now)
		if err != nil {
			return err
		} else if !ok {
			return device.ErrStale
		}
	}
	if a.Registration != nil {
		if err := insertRegistration(ctx, tx, a.Registration); err != nil {
			return err
		}
	}
	if err := r.bindDevice(ctx, tx); err != nil {
		return err
	}
	if a.ResetCounters {
		if err := r.resetCounters(ctx, tx); err != nil {
			return err
		}
	}
	r.notes = append(r.notes, a.Notifications...)
	return nil
}

// bindDevice inserts the new device and revokes the customer's others.
func (r *attemptRun) bindDevice(ctx context.Context, tx *dbtx) error {
	d := r.a.Device
	if d == nil {
		return nil
	}
	if err := insertDevice(ctx, tx, d); err != nil {
		return err
	}
	if !r.a.RevokeOthers {
		return nil
	}
	ids, notes, err := revokeDevices(ctx, tx, d.CustomerID, d.ID, "replaced", r.a.Now)
	if err != nil {
		return err
	}
	r.out.Revoked, r.notes = ids, append(r.notes, notes...)
	return nil
}

// resetCounters ends both subjects' consecutive counts, guarded like
// counting so a subject restricted meanwhile is never reset.
func (r *attemptRun) resetCounters(ctx context.Context, tx *dbtx) error {
	for _, c := range r.counters {
		res, err := tx.exec(ctx, `UPDATE device_counters SET failures = 0, updated_at = ?
			WHERE kind = ? AND subject = ? AND blocked_at = 0 AND restricted_until <= ?`,
			nanos(r.a.Now), c.Kind, c.Key, nanos(r.a.Now))
		if err != nil {
			return fmt.Errorf("reset device counter (%s): %w", c.Kind, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("reset device counter: rows affected: %w", err)
		} else if n == 0 {
			return errCounterRace
		}
	}
	r.out.Remaining = r.a.Limits.Failures
	return nil
}

// entry is the attempt's audit entry with its result and outcome.
func (r *attemptRun) entry() audit.Entry {
	e := r.a.Audit
	e.Details = maps.Clone(e.Details)
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.Result, e.Details["outcome"] = r.result()
	if r.failed() && r.out.Refused == device.NotRefused {
		e.Details["reason"] = r.out.Failure
		e.Details["remaining"] = strconv.Itoa(r.out.Remaining)
	}
	return e
}

func (r *attemptRun) result() (string, string) {
	switch {
	case r.out.Refused != device.NotRefused:
		return audit.ResultDenied, "refused_" + string(r.out.Refused)
	case r.out.Blocked:
		return audit.ResultFailure, "blocked"
	case !r.out.RestrictedUntil.IsZero():
		return audit.ResultFailure, "restricted"
	case r.failed():
		return audit.ResultFailure, "counted"
	}
	return audit.ResultSuccess, "accepted"
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
