package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/haechi/haechi/internal/ratelimit"
	"github.com/haechi/haechi/internal/redis"
)

// mustOpen connects to HAECHI_TEST_REDIS_URL, skipping when it is unset unless
// HAECHI_TEST_REQUIRE_SERVICES=1 says the services must be there.
func mustOpen(t *testing.T) *goredis.Client {
	t.Helper()
	url := os.Getenv("HAECHI_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("HAECHI_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("HAECHI_TEST_REDIS_URL is unset but HAECHI_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("HAECHI_TEST_REDIS_URL is unset; skipping Redis tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := redis.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// uniqueKey keeps tests (and repeated runs) from sharing limiter state.
func uniqueKey(t *testing.T) string {
	return "test:" + t.Name() + ":" + rand.Text() + ":"
}

func TestLimiterBurstThenLimited(t *testing.T) {
	c := mustOpen(t)
	l := redis.NewLimiter(c)
	ctx := context.Background()
	key := uniqueKey(t) + "ip"
	q := ratelimit.Quota{Rate: 0.5, Burst: 3}
	for i := range 3 {
		d, err := l.Allow(ctx, key, q)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d: %+v, %v; want allowed", i+1, d, err)
		}
	}
	d, err := l.Allow(ctx, key, q)
	if err != nil || d.Allowed {
		t.Fatalf("4th request: %+v, %v; want limited", d, err)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > 2*time.Second {
		t.Errorf("RetryAfter = %v, want in (0, 2s] at 0.5/s", d.RetryAfter)
	}
	if d, _ := l.Allow(ctx, uniqueKey(t)+"other", q); !d.Allowed {
		t.Error("a different key was limited")
	}
	t.Cleanup(func() { cleanup(t, c) })
}

func TestLimiterSharedAcrossInstances(t *testing.T) {
	c := mustOpen(t)
	a, b := redis.NewLimiter(c), redis.NewLimiter(c)
	ctx := context.Background()
	key := uniqueKey(t) + "client"
	q := ratelimit.Quota{Rate: 0.1, Burst: 2}
	for _, l := range []ratelimit.Limiter{a, b} {
		if d, err := l.Allow(ctx, key, q); err != nil || !d.Allowed {
			t.Fatalf("%+v, %v; want allowed", d, err)
		}
	}
	if d, _ := a.Allow(ctx, key, q); d.Allowed {
		t.Error("a third request over two nodes was allowed; want one shared budget")
	}
	t.Cleanup(func() { cleanup(t, c) })
}

func TestOpenRejectsBadURL(t *testing.T) {
	_, err := redis.Open(context.Background(), "http://user:hunter2@example.com")
	if err == nil {
		t.Fatal("want an error for a non-redis URL")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q repeats the password", err)
	}
}

// cleanup deletes the keys this test made.
func cleanup(t *testing.T, c *goredis.Client) {
	ctx := context.Background()
	keys, err := c.Keys(ctx, redis.KeyPrefix+"*test:"+t.Name()+":*").Result()
	if err == nil && len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}
