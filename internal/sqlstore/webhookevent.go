package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/webhook"
)

const webhookEventColumns = `id, owner, type, payload, created_at, attempts, next_attempt_at, delivered_at`

// insertWebhookEvents adds events to the webhook outbox inside the caller's
// transaction, so that an event exists exactly when the change it announces
// commits, and survives a restart until delivered.
func insertWebhookEvents(ctx context.Context, tx *dbtx, evs []webhook.Event) error {
	for i := range evs {
		if err := insertWebhookEvent(ctx, tx, &evs[i]); err != nil {
			return err
		}
	}
	return nil
}

func insertWebhookEvent(ctx context.Context, tx *dbtx, e *webhook.Event) error {
	if e.ID == "" || e.Owner == "" || e.Type == "" || !json.Valid(e.Payload) {
		return fmt.Errorf("webhook event %q: %w", e.ID, errs.ErrInvalid)
	}
	if err := checkTimes(e.CreatedAt, e.NextAttemptAt); err != nil {
		return err
	}
	_, err := tx.exec(ctx, `INSERT INTO webhook_events (`+webhookEventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Owner, e.Type, string(e.Payload), nanos(e.CreatedAt), e.Attempts, nanos(e.NextAttemptAt), nullNanos(e.DeliveredAt))
	if tx.isUnique(err) {
		return fmt.Errorf("webhook event %s: %w", e.ID, errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert webhook event %s: %w", e.ID, err)
	}
	return nil
}
