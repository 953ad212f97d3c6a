package notify

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/retry"
)

// Defaults of a Dispatcher's zero fields.
const (
	DefaultMaxAttempts = 10
	DefaultBatchSize   = 100
	// DefaultTimeout bounds one delivery. It must stay well under the
	// store's claim on a due notification (two minutes in sqlstore), or a
	// slow delivery could be claimed and sent again by another dispatcher.
	DefaultTimeout = 10 * time.Second
)

// parkedUntil is the next attempt given to a notification that failed
// MaxAttempts times: never due again, but kept in the outbox with its
// attempt count for an operator to inspect or requeue.
var parkedUntil = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// Dispatcher delivers due notifications from the outbox. Delivery is at
// least once: a crash between delivering and recording it delivers again
// once the store's claim runs out; a notification recorded as sent is
// never handed out again.
type Dispatcher struct {
	Store   Store
	Channel Channel
	Now     func() time.Time
	Logger  *slog.Logger
	// MaxAttempts is how many failed deliveries park a notification.
	MaxAttempts int
	// Backoff is the wait after the attempt-th failure (1-based).
	Backoff   func(attempt int) time.Duration
	BatchSize int
	Timeout   time.Duration
}

// RunOnce delivers every notification due now, batch after batch, and
// returns how many were delivered. A failed delivery is scheduled again and
// is not an error; only a store failure stops the run and is returned.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	sent := 0
	for {
		due, err := d.Store.DueNotifications(ctx, d.now(), d.batchSize())
		if err != nil {
			return sent, err
		}
		for _, n := range due {
			ok, err := d.dispatch(ctx, n)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
		if len(due) < d.batchSize() {
			return sent, nil
		}
	}
}

// Run calls RunOnce at once and then every interval until ctx ends. Store
// errors are logged and the next tick tries again.
func (d *Dispatcher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.logger().Error("notification dispatch", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dispatch delivers one notification and records the outcome.
func (d *Dispatcher) dispatch(ctx context.Context, n Notification) (bool, error) {
	dctx, cancel := context.WithTimeout(ctx, d.timeout())
	err := d.Channel.Deliver(dctx, n)
	cancel()
	if err == nil {
		return true, d.Store.MarkNotificationSent(ctx, n.ID, d.now())
	}
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: the claim runs out and it is retried
	}
	return false, d.fail(ctx, n, err)
}

// fail schedules the next attempt, or parks the notification after
// MaxAttempts failures.
func (d *Dispatcher) fail(ctx context.Context, n Notification, cause error) error {
	attempt := n.Attempts + 1
	next := d.now().Add(d.backoff(attempt))
	attrs := []any{slog.String("notification", n.ID), slog.String("kind", n.Kind),
		slog.Int("attempt", attempt), slog.String("error", cause.Error())}
	if attempt >= d.maxAttempts() {
		next = parkedUntil
		d.logger().Error("notification undeliverable; parked", attrs...)
	} else {
		d.logger().Warn("notification delivery failed; will retry", append(attrs, slog.Time("next", next))...)
	}
	return d.Store.MarkNotificationFailed(ctx, n.ID, next)
}

func (d *Dispatcher) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d.Logger
}

func (d *Dispatcher) backoff(attempt int) time.Duration {
	if d.Backoff == nil {
		return retry.Backoff(attempt)
	}
	return d.Backoff(attempt)
}

func (d *Dispatcher) maxAttempts() int { return orDefault(d.MaxAttempts, DefaultMaxAttempts) }
func (d *Dispatcher) batchSize() int   { return orDefault(d.BatchSize, DefaultBatchSize) }

func (d *Dispatcher) timeout() time.Duration {
	return orDefault(d.Timeout, DefaultTimeout)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
