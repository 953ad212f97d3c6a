// Package notify is the customer notification outbox: capabilities write
// notifications in the same transaction as the change they announce (a new
// device, a restriction, a lock), and a dispatcher delivers them through a
// Channel with retries, so none is lost across a crash. Simulator is the
// built-in channel for the demo and tests (NOT a real push/SMS gateway).
package notify

import (
	"context"
	"maps"
	"time"

	"github.com/haechi/haechi/internal/crypto"
)

// Kinds of notification.
const (
	KindDeviceRegistered       = "device.registered"
	KindDeviceRevoked          = "device.revoked"
	KindRegistrationRestricted = "registration.restricted"
	KindRegistrationBlocked    = "registration.blocked"
	KindRegistrationReleased   = "registration.released"
)

// Notification is one message to a customer. Data holds masked values only.
type Notification struct {
	ID            string
	CustomerID    string
	Kind          string
	Data          map[string]string
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	SentAt        *time.Time
}

// Channel delivers a notification (push, SMS, e-mail...).
type Channel interface {
	Deliver(ctx context.Context, n Notification) error
}

// Store is the outbox. Capability stores insert notifications inside their
// own transactions; the dispatcher uses these.
//
// DueNotifications hands out unsent notifications due at now, oldest first,
// and claims them for a while (their next attempt moves ahead), so that two
// dispatchers on one database do not both deliver them.
// MarkNotificationFailed counts one more attempt and sets the next.
type Store interface {
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]Notification, error)
	MarkNotificationSent(ctx context.Context, id string, at time.Time) error
	MarkNotificationFailed(ctx context.Context, id string, next time.Time) error
}

// New builds a notification with a fresh id, due now.
// Data is copied, so the caller may reuse its map.
func New(customerID, kind string, data map[string]string, now time.Time) Notification {
	return Notification{
		ID:            crypto.NewID("ntf_"),
		CustomerID:    customerID,
		Kind:          kind,
		Data:          maps.Clone(data),
		CreatedAt:     now,
		NextAttemptAt: now,
	}
}
