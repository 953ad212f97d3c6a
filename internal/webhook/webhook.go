// Package webhook delivers signed event notifications to institutions and
// merchants: a durable outbox written in the same transaction as the change
// it announces, a dispatcher that retries with exponential backoff and
// jitter, and the signature scheme receivers verify.
//
// Signature: header Haechi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
// over "<t>.<raw body>">, one v1 per active secret, so that a receiver can
// rotate its secret without losing events. The HMAC key is the secret
// exactly as Service.SetEndpoint returned it ("whsec_…", prefix included).
// Receivers accept a timestamp within Tolerance (300 s) of their clock and
// deduplicate by the event id (header Haechi-Event-Id, also in the body),
// since delivery is at least once.
package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
)

// Header names of a delivery.
const (
	HeaderSignature = "Haechi-Signature"
	HeaderEventID   = "Haechi-Event-Id"
	HeaderEventType = "Haechi-Event-Type"
)

// Tolerance is how far a signature's timestamp may be from the receiver's
// clock.
const Tolerance = 300 * time.Second

// Event is one message to an owner's endpoint. Payload is the JSON body
// sent as is; it holds masked values only. ID is the idempotency key a
// receiver deduplicates by ("evt_" + random).
type Event struct {
	ID            string
	Owner         string // the institution (or merchant) whose endpoint receives it
	Type          string // e.g. "verification.passed"
	Payload       json.RawMessage
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   *time.Time
}

// Endpoint is where an owner receives its events, with the secrets each
// delivery is signed with (newest first; more than one during rotation).
type Endpoint struct {
	Owner     string
	URL       string
	Secrets   [][]byte
	UpdatedAt time.Time
}

// Lease is how long DueWebhookEvents claims the events it hands out. A
// dispatcher starts no delivery it could not finish within its claim, so
// that another dispatcher does not deliver the same event meanwhile; one
// that dies mid-delivery leaves its events due again once the lease ends.
const Lease = 2 * time.Minute

// Store is the outbox. Capability stores insert events inside their own
// transactions (sqlstore's insertWebhookEvents); the dispatcher uses the
// rest.
//
// DueWebhookEvents hands out undelivered events due at now, oldest first,
// and claims them for Lease (their next attempt moves ahead) so two
// dispatchers do not both deliver them. MarkWebhookFailed counts one more
// attempt and sets the next. Both marks refuse an event already delivered
// with errs.ErrConflict.
type Store interface {
	DueWebhookEvents(ctx context.Context, now time.Time, limit int) ([]Event, error)
	MarkWebhookDelivered(ctx context.Context, id string, at time.Time) error
	MarkWebhookFailed(ctx context.Context, id string, next time.Time) error
}

// Resolver finds an owner's endpoint with its secrets opened; errs.ErrNotFound
// when the owner has none. Service is the production one.
type Resolver interface {
	Endpoint(ctx context.Context, owner string) (*Endpoint, error)
}

// EndpointRecord is an endpoint as stored: its secrets sealed with the
// keyring (see Service), so a database dump does not give away the keys
// that let anyone forge a delivery.
type EndpointRecord struct {
	Owner         string
	URL           string
	SealedSecrets []byte
	UpdatedAt     time.Time
}

// EndpointStore keeps endpoint records. PutWebhookEndpoint writes r with
// its audit entry in one transaction, as a compare-and-set on what the
// caller read: prev nil inserts a new endpoint, otherwise it replaces the
// record only while its sealed secrets are still prev. Either way a record
// changed meanwhile is errs.ErrConflict and nothing is written, so two
// rotations at once cannot silently drop a secret one of them handed out.
type EndpointStore interface {
	PutWebhookEndpoint(ctx context.Context, r EndpointRecord, prev []byte, e audit.Entry) error
	WebhookEndpointRecord(ctx context.Context, owner string) (*EndpointRecord, error)
}

// NewEvent builds an event with a fresh id, due now. The payload must be
// the JSON body to send; it is sent as is.
func NewEvent(owner, typ string, payload json.RawMessage, now time.Time) Event {
	return Event{ID: crypto.NewID("evt_"), Owner: owner, Type: typ, Payload: payload,
		CreatedAt: now, NextAttemptAt: now}
}
