package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
)

var _ notify.Store = (*DB)(nil)

// notificationLease is how long DueNotifications holds the rows it hands
// out. It must outlast one delivery; a dispatcher that dies mid-delivery
// leaves its rows due again once it runs out.
const notificationLease = 2 * time.Minute

const notificationColumns = `id, customer_id, kind, data, created_at, attempts, next_attempt_at, sent_at`

// EnqueueNotifications adds notifications to the outbox in a transaction of
// their own, for a change that wrote nothing else. Either all are stored or
// none.
func (db *DB) EnqueueNotifications(ctx context.Context, ns []notify.Notification) error {
	return db.write(ctx, func(tx *dbtx) error { return insertNotifications(ctx, tx, ns) })
}

// insertNotifications adds notifications to the outbox inside the caller's
// transaction, so that they exist exactly when the change they announce
// commits. Data must already hold masked values only.
func insertNotifications(ctx context.Context, tx *dbtx, ns []notify.Notification) error {
	for i := range ns {
		if err := insertNotification(ctx, tx, &ns[i]); err != nil {
			return err
		}
	}
	return nil
}

func insertNotification(ctx context.Context, tx *dbtx, n *notify.Notification) error {
	if err := checkNotification(n); err != nil {
		return err
	}
	data, err := encodeDetails(n.Data)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO notifications (`+notificationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.CustomerID, n.Kind, data, nanos(n.CreatedAt), n.Attempts, nanos(n.NextAttemptAt), nullNanos(n.SentAt))
	if tx.isUnique(err) {
		return fmt.Errorf("notification %s: %w", n.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert notification %s: %w", n.ID, err)
	}
	return nil
}

// checkNotification refuses a notification no dispatcher could deliver.
func checkNotification(n *notify.Notification) error {
	if n.ID == "" || n.CustomerID == "" || n.Kind == "" || n.Attempts < 0 {
		return fmt.Errorf("notification %q lacks id, customer or kind: %w", n.ID, errs.ErrInvalid)
	}
	ts := []time.Time{n.CreatedAt, n.NextAttemptAt}
	if n.SentAt != nil {
		ts = append(ts, *n.SentAt)
	}
	return checkTimes(ts...)
}

// DueNotifications returns up to limit unsent notifications whose next
// attempt is at or before now, oldest first, and claims them: their next
// attempt moves a lease ahead in the same statement, so a second dispatcher
// on the same database does not deliver them too. The outer conditions are
// repeated so that, on PostgreSQL, a claim that waited on another's row lock
// re-checks the row and skips it instead of claiming it twice.
func (db *DB) DueNotifications(ctx context.Context, now time.Time, limit int) ([]notify.Notification, error) {
	if limit < 1 {
		return nil, fmt.Errorf("due notifications limit %d: %w", limit, errs.ErrInvalid)
	}
	if err := checkTimes(now, now.Add(notificationLease)); err != nil {
		return nil, err
	}
	var out []notify.Notification
	err := db.write(ctx, func(tx *dbtx) error {
		var err error
		out, err = queryAll(ctx, tx, "notifications", scanNotification,
			`UPDATE notifications SET next_attempt_at = ?
			WHERE sent_at IS NULL AND next_attempt_at <= ? AND id IN (
				SELECT id FROM notifications WHERE sent_at IS NULL AND next_attempt_at <= ?
				ORDER BY created_at, id LIMIT ?)
			RETURNING `+notificationColumns,
			nanos(now.Add(notificationLease)), nanos(now), nanos(now), limit)
		return err
	})
	sortNotifications(out)
	return out, err
}

// sortNotifications puts them oldest first: RETURNING keeps no order.
func sortNotifications(ns []notify.Notification) {
	slices.SortFunc(ns, func(a, b notify.Notification) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
}

func scanNotification(s scanner) (notify.Notification, error) {
	var n notify.Notification
	var data string
	var created, next int64
	var sent sql.NullInt64
	err := s.Scan(&n.ID, &n.CustomerID, &n.Kind, &data, &created, &n.Attempts, &next, &sent)
	if err != nil {
		return n, fmt.Errorf("scan notification: %w", err)
	}
	if n.Data, err = decodeDetails(data); err != nil {
		return n, fmt.Errorf("notification %s data: %w", n.ID, err)
	}
	n.CreatedAt, n.NextAttemptAt, n.SentAt = fromNanos(created), fromNanos(next), fromNullNanos(sent)
	return n, nil
}

// MarkNotificationSent records the delivery. Marking one already sent is a
// conflict: it means it was delivered twice.
func (db *DB) MarkNotificationSent(ctx context.Context, id string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE notifications SET sent_at = ? WHERE id = ? AND sent_at IS NULL`, nanos(at), id)
		if err != nil {
			return fmt.Errorf("mark notification %s sent: %w", id, err)
		}
		return whyNotUnsent(ctx, tx, res, id)
	})
}

// MarkNotificationFailed counts one failed attempt and sets when to try
// again. The count is incremented in the statement, so failures reported
// by two dispatchers both count.
func (db *DB) MarkNotificationFailed(ctx context.Context, id string, next time.Time) error {
	if err := checkTimes(next); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?
			WHERE id = ? AND sent_at IS NULL`, nanos(next), id)
		if err != nil {
			return fmt.Errorf("mark notification %s failed: %w", id, err)
		}
		return whyNotUnsent(ctx, tx, res, id)
	})
}

// whyNotUnsent tells apart an update that matched no row because the
// notification does not exist (not found) from one already sent (conflict).
func whyNotUnsent(ctx context.Context, tx *dbtx, res sql.Result, id string) error {
	err := expectOne(res, "notification "+id)
	if !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	var one int
	switch err := tx.queryRow(ctx, `SELECT 1 FROM notifications WHERE id = ?`, id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("notification %s: %w", id, errs.ErrNotFound)
	case err != nil:
		return fmt.Errorf("find notification %s: %w", id, err)
	}
	return fmt.Errorf("notification %s already sent: %w", id, errs.ErrConflict)
}
