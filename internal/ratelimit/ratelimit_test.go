package ratelimit_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/ratelimit"
)

// clock is a settable time source for the memory store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newMemory(t *testing.T) (*ratelimit.GCRA, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return ratelimit.NewMemorySized(100, c.Now), c
}

func TestMemoryBurstThenLimited(t *testing.T) {
	l, clk := newMemory(t)
	ctx := context.Background()
	q := ratelimit.Quota{Rate: 1, Burst: 3}
	for i := range 3 {
		d, err := l.Allow(ctx, "ip:1", q)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d: %+v, %v; want allowed", i+1, d, err)
		}
		if d.Remaining != 2-i {
			t.Errorf("request %d: remaining %d, want %d", i+1, d.Remaining, 2-i)
		}
	}
	d, err := l.Allow(ctx, "ip:1", q)
	if err != nil || d.Allowed {
		t.Fatalf("4th request: %+v, %v; want limited", d, err)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > time.Second {
		t.Errorf("RetryAfter = %v, want in (0, 1s]", d.RetryAfter)
	}
	clk.Add(d.RetryAfter)
	if d, _ := l.Allow(ctx, "ip:1", q); !d.Allowed {
		t.Errorf("after waiting RetryAfter: %+v, want allowed", d)
	}
}

func TestMemoryKeysAreIndependent(t *testing.T) {
	l, _ := newMemory(t)
	ctx := context.Background()
	q := ratelimit.Quota{Rate: 0.5, Burst: 1}
	if d, _ := l.Allow(ctx, "a", q); !d.Allowed {
		t.Fatal("first request of a refused")
	}
	if d, _ := l.Allow(ctx, "a", q); d.Allowed {
		t.Fatal("second request of a allowed")
	} else if d.RetryAfter < 1500*time.Millisecond || d.RetryAfter > 2*time.Second {
		t.Errorf("RetryAfter = %v, want about 2s at 0.5/s", d.RetryAfter)
	}
	if d, _ := l.Allow(ctx, "b", q); !d.Allowed {
		t.Error("key b limited by key a")
	}
	// The same key under another quota has its own state.
	if d, _ := l.Allow(ctx, "a", ratelimit.Quota{Rate: 10, Burst: 5}); !d.Allowed {
		t.Error("key a under a second quota limited by the first")
	}
}

func TestQuotaValidate(t *testing.T) {
	tests := []struct {
		name string
		q    ratelimit.Quota
		ok   bool
	}{
		{"ok", ratelimit.Quota{Rate: 5, Burst: 10}, true},
		{"ok/fractional rate", ratelimit.Quota{Rate: 0.01, Burst: 1}, true},
		{"error/zero rate", ratelimit.Quota{Rate: 0, Burst: 1}, false},
		{"error/negative rate", ratelimit.Quota{Rate: -1, Burst: 1}, false},
		{"error/NaN rate", ratelimit.Quota{Rate: math.NaN(), Burst: 1}, false},
		{"error/infinite rate", ratelimit.Quota{Rate: math.Inf(1), Burst: 1}, false},
		{"error/zero burst", ratelimit.Quota{Rate: 1, Burst: 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.q.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			l, _ := newMemory(t)
			if _, err := l.Allow(context.Background(), "k", tt.q); (err == nil) != tt.ok {
				t.Errorf("Allow() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTooManyQuotas(t *testing.T) {
	l, _ := newMemory(t)
	var err error
	for i := 1; i <= 100 && err == nil; i++ {
		_, err = l.Allow(context.Background(), "k", ratelimit.Quota{Rate: float64(i), Burst: 1})
	}
	if err == nil {
		t.Fatal("100 distinct quotas accepted; want the cache bound to refuse")
	}
}

func TestMemoryConcurrentCountsEveryRequest(t *testing.T) {
	l, _ := newMemory(t)
	q := ratelimit.Quota{Rate: 0.001, Burst: 10}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			d, err := l.Allow(context.Background(), "shared", q)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("%d of 50 parallel requests allowed, want exactly the burst of 10", allowed)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	l := ratelimit.NewMemory()
	q := ratelimit.Quota{Rate: 1e6, Burst: 1000}
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Allow(ctx, "bench", q); err != nil {
			b.Fatal(err)
		}
	}
}
