package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/retry"

	"github.com/haechi/haechi/internal/errs"
)

// Defaults of a Dispatcher's zero fields.
const (
	// DefaultMaxAttempts spreads retries over roughly half a day with the
	// default backoff, enough to outlast a receiver's maintenance window.
	DefaultMaxAttempts = 20
	DefaultBatchSize   = 100
	DefaultWorkers     = 16
	// DefaultTimeout bounds one delivery. A Timeout of Lease/2 or more is
	// cut to Lease/2, so a delivery always fits in its claim.
	DefaultTimeout = 10 * time.Second

	// minBackoff keeps a failed event from coming due again within the
	// same RunOnce, which would retry a dead receiver in a tight loop.
	minBackoff = time.Second
	// maxDrain is how much of a response is read (and discarded) so that
	// the connection can be reused; receivers answer with a few bytes.
	maxDrain = 64 << 10
)

// parkedUntil is the next attempt given to an event that failed
// MaxAttempts times: never due again, but kept in the outbox with its
// attempt count for an operator to inspect or requeue.
var parkedUntil = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// defaultClient is a Dispatcher's when it has none: public addresses only.
var defaultClient = NewClient(false)

// Dispatcher delivers due events from the outbox to their owners'
// endpoints. Delivery is at least once: a crash between delivering and
// recording it delivers again once the claim runs out, and receivers
// deduplicate by Haechi-Event-Id; an event recorded as delivered is never
// handed out again.
type Dispatcher struct {
	Store     Store
	Endpoints Resolver
	// Client sends deliveries; nil is NewClient(false). Redirects are
	// never followed, whatever the client says: a 3xx is a failure.
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger
	// MaxAttempts is how many failed deliveries park an event.
	MaxAttempts int
	// Backoff is the wait after the attempt-th failure (1-based).
	Backoff   func(attempt int) time.Duration
	BatchSize int
	// Workers is how many deliveries of a batch are in flight at once.
	Workers int
	Timeout time.Duration
}

// RunOnce delivers every event due now, batch after batch, and returns how
// many were delivered. A failed delivery is scheduled again and is not an
// error; only a store failure stops the run and is returned.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		claimed := d.now()
		due, err := d.Store.DueWebhookEvents(ctx, claimed, d.batchSize())
		if err != nil {
			return total, err
		}
		n, err := d.deliverBatch(ctx, due, claimed)
		total += n
		if err != nil || len(due) < d.batchSize() {
			return total, err
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
			d.logger().Error("webhook dispatch", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// batch is one claimed batch being delivered by several workers.
type batch struct {
	mu        sync.Mutex
	delivered int
	err       error // the first store error; no delivery starts after it
}

func (b *batch) done(ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.delivered++
	}
	if err != nil && b.err == nil {
		b.err = err
	}
}

func (b *batch) failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err != nil
}

// deliverBatch delivers a claimed batch, Workers at a time. It starts no
// delivery that could outlast the claim: the rest stays claimed and comes
// due again when the claim ends, without counting as an attempt.
func (d *Dispatcher) deliverBatch(ctx context.Context, due []Event, claimed time.Time) (int, error) {
	endpoints, err := d.resolve(ctx, due)
	if err != nil {
		return 0, err
	}
	last := claimed.Add(Lease - d.timeout())
	var b batch
	var wg sync.WaitGroup
	slots := make(chan struct{}, d.workers())
	for _, ev := range due {
		if !acquire(ctx, slots) {
			break
		}
		if b.failed() || d.now().After(last) {
			<-slots
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			b.done(d.dispatch(ctx, ev, endpoints[ev.Owner]))
		})
	}
	wg.Wait()
	if b.err == nil {
		b.err = ctx.Err()
	}
	return b.delivered, b.err
}

func acquire(ctx context.Context, slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// resolved is an owner's endpoint, or why there is none to deliver to.
type resolved struct {
	ep  *Endpoint
	err error
}

// resolve looks each owner of the batch up once. A missing endpoint or one
// whose secrets do not open fails that owner's events, not the run.
func (d *Dispatcher) resolve(ctx context.Context, due []Event) (map[string]resolved, error) {
	out := make(map[string]resolved)
	for _, ev := range due {
		if _, ok := out[ev.Owner]; ok {
			continue
		}
		ep, err := d.Endpoints.Endpoint(ctx, ev.Owner)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, errs.ErrNotFound) {
			err = errors.New("owner has no webhook endpoint")
		}
		out[ev.Owner] = resolved{ep: ep, err: err}
	}
	return out, nil
}

// dispatch delivers one event and records the outcome.
func (d *Dispatcher) dispatch(ctx context.Context, ev Event, r resolved) (bool, error) {
	err := r.err
	if err == nil {
		err = d.deliver(ctx, ev, r.ep)
	}
	if err == nil {
		return d.delivered(ctx, ev)
	}
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: the claim runs out and it is retried
	}
	return false, d.fail(ctx, ev, err)
}

// deliver POSTs the event, signed now with every secret of the endpoint.
func (d *Dispatcher) deliver(ctx context.Context, ev Event, ep *Endpoint) error {
	if len(ep.Secrets) == 0 {
		return errors.New("endpoint has no secret; refusing to send unsigned")
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(ev.Payload))
	if err != nil {
		return errors.New("endpoint URL does not make a request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "haechi-webhook/1")
	req.Header.Set(HeaderEventID, ev.ID)
	req.Header.Set(HeaderEventType, ev.Type)
	req.Header.Set(HeaderSignature, Sign(ep.Secrets, d.now(), ev.Payload))
	resp, err := d.client().Do(req)
	if err != nil {
		return withoutURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// withoutURL drops the URL an *url.Error names, which may carry the
// receiver's own token in its query, before the error is logged.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// delivered records a delivery. Another dispatcher having recorded it
// first (its claim ran out while this one delivered) is no failure: the
// receiver got it twice and deduplicates by event id.
func (d *Dispatcher) delivered(ctx context.Context, ev Event) (bool, error) {
	err := d.Store.MarkWebhookDelivered(ctx, ev.ID, d.now())
	if errors.Is(err, errs.ErrConflict) {
		d.logger().Info("webhook event already recorded as delivered", slog.String("event", ev.ID))
		return true, nil
	}
	return err == nil, err
}

// fail schedules the next attempt, or parks the event after MaxAttempts
// failures.
func (d *Dispatcher) fail(ctx context.Context, ev Event, cause error) error {
	attempt := ev.Attempts + 1
	next := d.now().Add(max(d.backoff(attempt), minBackoff))
	attrs := []any{slog.String("event", ev.ID), slog.String("type", ev.Type), slog.String("owner", ev.Owner),
		slog.Int("attempt", attempt), slog.String("error", cause.Error())}
	if attempt >= d.maxAttempts() {
		next = parkedUntil
		d.logger().Error("webhook event undeliverable; parked", attrs...)
	} else {
		d.logger().Warn("webhook delivery failed; will retry", append(attrs, slog.Time("next", next))...)
	}
	err := d.Store.MarkWebhookFailed(ctx, ev.ID, next)
	if errors.Is(err, errs.ErrConflict) {
		return nil // another dispatcher delivered it meanwhile
	}
	return err
}

// client is the configured one with redirects turned off: a receiver must
// not be able to send a signed delivery on to a third party.
func (d *Dispatcher) client() *http.Client {
	if d.Client == nil {
		return defaultClient
	}
	c := *d.Client
	c.CheckRedirect = noRedirect
	return &c
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
func (d *Dispatcher) workers() int     { return orDefault(d.Workers, DefaultWorkers) }

func (d *Dispatcher) timeout() time.Duration {
	return min(orDefault(d.Timeout, DefaultTimeout), Lease/2)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
