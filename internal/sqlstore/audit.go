package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// AppendAudit records an event that goes with no other change.
func (db *DB) AppendAudit(ctx context.Context, e audit.Entry) error {
	return db.write(ctx, func(tx *dbtx) error { return db.appendAudit(ctx, tx, e) })
}

// appendAudit links e to the chain inside tx. Callers make it the last
// statement of their transaction: every audited write takes the head lock,
// so taking it last keeps one lock order everywhere (no deadlock) and holds
// it for the shortest time.
func (db *DB) appendAudit(ctx context.Context, tx *dbtx, e audit.Entry) error {
	e = db.prepareEntry(ctx, e)
	if err := checkTimes(e.Time); err != nil {
		return err
	}
	prev, err := db.lockHead(ctx, tx)
	if err != nil {
		return err
	}
	ev := audit.Event{Seq: prev.Seq + 1, PrevHash: prev.Hash, Entry: e}
	ev.Hash = audit.Link(ev.PrevHash, ev.Seq, e)
	if err := insertEvent(ctx, tx, ev); err != nil {
		return err
	}
	return db.advanceHead(ctx, tx, ev.Seq, ev.Hash)
}

// prepareEntry fills the entry the way it will be stored, so that the hash is
// computed over exactly what a reader gets back: request metadata, a time in
// UTC cut to microseconds, and text made valid UTF-8 without NUL (PostgreSQL
// refuses both, and JSON would rewrite them, breaking the hash).
func (db *DB) prepareEntry(ctx context.Context, e audit.Entry) audit.Entry {
	e = audit.Fill(ctx, e)
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	for _, s := range []*string{&e.Actor, &e.Action, &e.Target, &e.Result, &e.RequestID, &e.ClientIP} {
		*s = cleanText(*s)
	}
	if len(e.Details) > 0 {
		d := make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			d[cleanText(k)] = cleanText(v)
		}
		e.Details = d
	}
	return e
}

func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// lockHead reads the chain's head, locking it where the engine has row locks.
func (db *DB) lockHead(ctx context.Context, tx *dbtx) (audit.Checkpoint, error) {
	var h audit.Checkpoint
	q := `SELECT seq, hash FROM audit_head WHERE id = 1 ` + db.d.ForUpdate
	if err := tx.queryRow(ctx, q).Scan(&h.Seq, &h.Hash); err != nil {
		return h, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

func insertEvent(ctx context.Context, tx *dbtx, ev audit.Event) error {
	details, err := encodeDetails(ev.Details)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO audit_events
		(seq, time, actor, action, target, result, request_id, client_ip, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Seq, nanos(ev.Time), ev.Actor, ev.Action, ev.Target, ev.Result, ev.RequestID, ev.ClientIP,
		details, ev.PrevHash, ev.Hash)
	if err != nil {
		return fmt.Errorf("insert audit event %d: %w", ev.Seq, err)
	}
	return nil
}

// advanceHead moves the head to seq/hash, signs it, and stores a checkpoint
// when one is due. The signed head covers the events after the last
// checkpoint, so cutting the tail of the log is detected too.
func (db *DB) advanceHead(ctx context.Context, tx *dbtx, seq int64, hash []byte) error {
	head := audit.Checkpoint{Seq: seq, Hash: hash, Time: db.now().UTC(), Signature: []byte{}}
	if db.signer != nil {
		head = db.signer.Sign(seq, hash, head.Time)
		if db.signer.Due(seq) {
			if err := insertCheckpoint(ctx, tx, head); err != nil {
				return err
			}
		}
	}
	_, err := tx.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ?, time = ?, signature = ? WHERE id = 1`,
		head.Seq, head.Hash, nanos(head.Time), head.Signature)
	if err != nil {
		return fmt.Errorf("update audit head: %w", err)
	}
	return nil
}

func insertCheckpoint(ctx context.Context, tx *dbtx, c audit.Checkpoint) error {
	_, err := tx.exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, time, signature) VALUES (?, ?, ?, ?)`,
		c.Seq, c.Hash, nanos(c.Time), c.Signature)
	if err != nil {
		return fmt.Errorf("insert audit checkpoint %d: %w", c.Seq, err)
	}
	return nil
}

// AuditEvents returns up to limit events with Seq > after, in Seq order.
func (db *DB) AuditEvents(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("audit events: limit %d: %w", limit, errs.ErrInvalid)
	}
	var out []audit.Event
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		out, err = findEvents(ctx, tx, after, limit)
		return err
	})
	return out, err
}

func findEvents(ctx context.Context, tx *dbtx, after int64, limit int) ([]audit.Event, error) {
	return queryAll(ctx, tx, "audit events", scanEvent, `SELECT seq, time, actor, action, target, result, request_id, client_ip, details, prev_hash, hash
		FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

func scanEvent(rows scanner) (audit.Event, error) {
	var ev audit.Event
	var t int64
	var details string
	err := rows.Scan(&ev.Seq, &t, &ev.Actor, &ev.Action, &ev.Target, &ev.Result, &ev.RequestID, &ev.ClientIP,
		&details, &ev.PrevHash, &ev.Hash)
	if err != nil {
		return ev, fmt.Errorf("scan audit event: %w", err)
	}
	ev.Time = fromNanos(t)
	ev.Details, err = decodeDetails(details)
	return ev, err
}

// AuditCheckpoints returns every signed checkpoint in Seq order.
func (db *DB) AuditCheckpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	return list(ctx, db, "audit checkpoints", scanCheckpoint, `SELECT seq, hash, time, signature FROM audit_checkpoints ORDER BY seq`)
}

// AuditHead returns the signed head: the last sequence number and its hash.
// Before the first event it is Seq 0, GenesisHash and no signature.
func (db *DB) AuditHead(ctx context.Context) (audit.Checkpoint, error) {
	var c audit.Checkpoint
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		c, err = scanCheckpoint(tx.queryRow(ctx, `SELECT seq, hash, time, signature FROM audit_head WHERE id = 1`))
		return err
	})
	return c, err
}

type scanner interface{ Scan(dest ...any) error }

func scanCheckpoint(s scanner) (audit.Checkpoint, error) {
	var c audit.Checkpoint
	var t int64
	err := s.Scan(&c.Seq, &c.Hash, &t, &c.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("audit head: %w", errs.ErrNotFound)
	} else if err != nil {
		return c, fmt.Errorf("scan audit checkpoint: %w", err)
	}
	c.Time = fromNanos(t)
	return c, nil
}
