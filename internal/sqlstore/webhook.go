package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/webhook"
)

var (
	_ webhook.Store         = (*DB)(nil)
	_ webhook.EndpointStore = (*DB)(nil)
)

// EnqueueWebhookEvents adds events to the outbox in a transaction of their
// own, for a change that wrote nothing else. Either all are stored or none.
func (db *DB) EnqueueWebhookEvents(ctx context.Context, evs []webhook.Event) error {
	return db.write(ctx, func(tx *dbtx) error { return insertWebhookEvents(ctx, tx, evs) })
}

// DueWebhookEvents returns up to limit undelivered events whose next
// attempt is at or before now, oldest first, and claims them for
// webhook.Lease in the same statement, so a second dispatcher on the same
// database does not deliver them too. The outer conditions are repeated so
// that, on PostgreSQL, a claim that waited on another's row lock re-checks
// the row and skips it instead of claiming it twice.
func (db *DB) DueWebhookEvents(ctx context.Context, now time.Time, limit int) ([]webhook.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("due webhook events limit %d: %w", limit, errs.ErrInvalid)
	}
	if err := checkTimes(now, now.Add(webhook.Lease)); err != nil {
		return nil, err
	}
	var out []webhook.Event
	err := db.write(ctx, func(tx *dbtx) error {
		var err error
		out, err = queryAll(ctx, tx, "webhook events", scanWebhookEvent,
			`UPDATE webhook_events SET next_attempt_at = ?
			WHERE delivered_at IS NULL AND next_attempt_at <= ? AND id IN (
				SELECT id FROM webhook_events WHERE delivered_at IS NULL AND next_attempt_at <= ?
				ORDER BY created_at, id LIMIT ?)
			RETURNING `+webhookEventColumns,
			nanos(now.Add(webhook.Lease)), nanos(now), nanos(now), limit)
		return err
	})
	sortWebhookEvents(out)
	return out, err
}

// sortWebhookEvents puts them oldest first: RETURNING keeps no order.
func sortWebhookEvents(evs []webhook.Event) {
	slices.SortFunc(evs, func(a, b webhook.Event) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
}

func scanWebhookEvent(s scanner) (webhook.Event, error) {
	var e webhook.Event
	var payload string
	var created, next int64
	var delivered sql.NullInt64
	if err := s.Scan(&e.ID, &e.Owner, &e.Type, &payload, &created, &e.Attempts, &next, &delivered); err != nil {
		return e, fmt.Errorf("scan webhook event: %w", err)
	}
	e.Payload = []byte(payload)
	e.CreatedAt, e.NextAttemptAt, e.DeliveredAt = fromNanos(created), fromNanos(next), fromNullNanos(delivered)
	return e, nil
}

// MarkWebhookDelivered records the delivery. Marking one already delivered
// is a conflict: it means it was delivered twice.
func (db *DB) MarkWebhookDelivered(ctx context.Context, id string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE webhook_events SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL`, nanos(at), id)
		if err != nil {
			return fmt.Errorf("mark webhook event %s delivered: %w", id, err)
		}
		return whyNotUndelivered(ctx, tx, res, id)
	})
}

// MarkWebhookFailed counts one failed attempt and sets when to try again.
// The count is incremented in the statement, so failures reported by two
// dispatchers both count.
func (db *DB) MarkWebhookFailed(ctx context.Context, id string, next time.Time) error {
	if err := checkTimes(next); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = ?
			WHERE id = ? AND delivered_at IS NULL`, nanos(next), id)
		if err != nil {
			return fmt.Errorf("mark webhook event %s failed: %w", id, err)
		}
		return whyNotUndelivered(ctx, tx, res, id)
	})
}

// whyNotUndelivered tells apart an update that matched no row because the
// event does not exist (not found) from one already delivered (conflict).
func whyNotUndelivered(ctx context.Context, tx *dbtx, res sql.Result, id string) error {
	err := expectOne(res, "webhook event "+id)
	if !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	var one int
	switch err := tx.queryRow(ctx, `SELECT 1 FROM webhook_events WHERE id = ?`, id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("webhook event %s: %w", id, errs.ErrNotFound)
	case err != nil:
		return fmt.Errorf("find webhook event %s: %w", id, err)
	}
	return fmt.Errorf("webhook event %s already delivered: %w", id, errs.ErrConflict)
}

// The sealed secrets are binary; the column is TEXT, which PostgreSQL
// refuses NUL bytes in, so they are stored in base64.
var sealedText = base64.StdEncoding

// PutWebhookEndpoint stores r with its audit entry if the owner's record is
// still what the caller read: none when prev is empty, else sealed secrets
// equal to prev. Sealing draws a fresh nonce each time, so equal sealed
// bytes mean an unchanged record.
func (db *DB) PutWebhookEndpoint(ctx context.Context, r webhook.EndpointRecord, prev []byte, e audit.Entry) error {
	if r.Owner == "" || r.URL == "" || len(r.SealedSecrets) == 0 {
		return fmt.Errorf("webhook endpoint %q lacks owner, url or secrets: %w", r.Owner, errs.ErrInvalid)
	}
	if err := checkTimes(r.UpdatedAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		var err error
		if len(prev) == 0 {
			err = insertWebhookEndpoint(ctx, tx, r)
		} else {
			err = replaceWebhookEndpoint(ctx, tx, r, prev)
		}
		if err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

func insertWebhookEndpoint(ctx context.Context, tx *dbtx, r webhook.EndpointRecord) error {
	_, err := tx.exec(ctx, `INSERT INTO webhook_endpoints (owner, url, secrets, updated_at) VALUES (?, ?, ?, ?)`,
		r.Owner, r.URL, sealedText.EncodeToString(r.SealedSecrets), nanos(r.UpdatedAt))
	if tx.isUnique(err) {
		return fmt.Errorf("webhook endpoint of %s exists: %w", r.Owner, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert webhook endpoint of %s: %w", r.Owner, err)
	}
	return nil
}

func replaceWebhookEndpoint(ctx context.Context, tx *dbtx, r webhook.EndpointRecord, prev []byte) error {
	res, err := tx.exec(ctx, `UPDATE webhook_endpoints SET url = ?, secrets = ?, updated_at = ? WHERE owner = ? AND secrets = ?`,
		r.URL, sealedText.EncodeToString(r.SealedSecrets), nanos(r.UpdatedAt), r.Owner, sealedText.EncodeToString(prev))
	if err != nil {
		return fmt.Errorf("update webhook endpoint of %s: %w", r.Owner, err)
	}
	if err := expectOne(res, "webhook endpoint of "+r.Owner); errors.Is(err, errs.ErrNotFound) {
		return fmt.Errorf("webhook endpoint of %s changed since read: %w", r.Owner, errs.ErrConflict)
	} else if err != nil {
		return err
	}
	return nil
}

// WebhookEndpointRecord returns owner's endpoint as stored.
func (db *DB) WebhookEndpointRecord(ctx context.Context, owner string) (*webhook.EndpointRecord, error) {
	var r *webhook.EndpointRecord
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		r, err = scanWebhookEndpoint(tx.queryRow(ctx,
			`SELECT owner, url, secrets, updated_at FROM webhook_endpoints WHERE owner = ?`, owner))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("webhook endpoint: %w", errs.ErrNotFound)
		}
		return err
	})
	return r, err
}

func scanWebhookEndpoint(s scanner) (*webhook.EndpointRecord, error) {
	var r webhook.EndpointRecord
	var sealed string
	var updated int64
	if err := s.Scan(&r.Owner, &r.URL, &sealed, &updated); err != nil {
		return nil, err
	}
	b, err := sealedText.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint of %s: secrets column is not base64: %w", r.Owner, err)
	}
	r.SealedSecrets, r.UpdatedAt = b, fromNanos(updated)
	return &r, nil
}
