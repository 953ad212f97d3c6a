// Package ratelimit throttles requests with the generic cell-rate algorithm
// (GCRA). Limits here are an accelerator against floods, never security state:
// lockout counters and the like live durably in the database, so a limiter
// that forgets (a restart, an evicted key, a Redis outage) weakens nothing
// but throughput protection.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/throttled/throttled/v2"
)

// Quota allows Rate requests per second on average and Burst at once.
// The zero Quota means "no limit".
type Quota struct {
	Rate  float64 // per second
	Burst int
}

// Enabled reports whether q limits anything.
func (q Quota) Enabled() bool { return q.Rate > 0 }

// Validate rejects quotas the algorithm cannot honour.
func (q Quota) Validate() error {
	if math.IsNaN(q.Rate) || math.IsInf(q.Rate, 0) || q.Rate <= 0 || q.Rate > 1e9 {
		return fmt.Errorf("ratelimit: rate %v must be above 0 and at most 1e9 per second", q.Rate)
	}
	if q.Burst < 1 {
		return fmt.Errorf("ratelimit: burst %d must be at least 1", q.Burst)
	}
	return nil
}

// String names the quota; it also namespaces stored keys so that one key
// limited under two quotas keeps two independent states.
func (q Quota) String() string {
	return strconv.FormatFloat(q.Rate, 'g', -1, 64) + "/s~" + strconv.Itoa(q.Burst)
}

// Decision is the outcome of one Allow. RetryAfter is set when !Allowed.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
	Remaining  int
}

// Limiter decides whether one more request under key fits in q.
type Limiter interface {
	Allow(ctx context.Context, key string, q Quota) (Decision, error)
}

// maxQuotas bounds the limiter cache; a deployment uses a handful of quotas.
const maxQuotas = 64

// GCRA is a Limiter over any throttled store (memory or Redis). It keeps one
// throttled limiter per distinct quota.
type GCRA struct {
	store throttled.GCRAStoreCtx

	mu       sync.Mutex
	limiters map[Quota]*throttled.GCRARateLimiterCtx
}

var _ Limiter = (*GCRA)(nil)

// NewGCRA returns a Limiter keeping its state in store.
func NewGCRA(store throttled.GCRAStoreCtx) *GCRA {
	return &GCRA{store: store, limiters: make(map[Quota]*throttled.GCRARateLimiterCtx)}
}

// ErrTooManyQuotas is returned when callers use more distinct quotas than
// the cache holds, which means quotas are being built from request data.
var ErrTooManyQuotas = errors.New("ratelimit: too many distinct quotas")

// Allow counts one request under key and reports whether it fits.
func (g *GCRA) Allow(ctx context.Context, key string, q Quota) (Decision, error) {
	l, err := g.limiter(q)
	if err != nil {
		return Decision{}, err
	}
	limited, res, err := l.RateLimitCtx(ctx, q.String()+"|"+key, 1)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	d := Decision{Allowed: !limited, Remaining: max(res.Remaining, 0)}
	if limited {
		d.RetryAfter = max(res.RetryAfter, time.Millisecond)
	}
	return d, nil
}

func (g *GCRA) limiter(q Quota) (*throttled.GCRARateLimiterCtx, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.limiters[q]; ok {
		return l, nil
	}
	if len(g.limiters) >= maxQuotas {
		return nil, ErrTooManyQuotas
	}
	l, err := throttled.NewGCRARateLimiterCtx(g.store, rateQuota(q))
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	g.limiters[q] = l
	return l, nil
}

// rateQuota converts q: throttled's MaxBurst counts requests beyond the first.
func rateQuota(q Quota) throttled.RateQuota {
	period := time.Duration(float64(time.Second) / q.Rate)
	return throttled.RateQuota{
		MaxRate:  throttled.PerDuration(1, max(period, time.Nanosecond)),
		MaxBurst: q.Burst - 1,
	}
}
