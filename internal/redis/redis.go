// Package redis keeps haechi's rate-limit state in Redis, so that every node
// behind a load balancer shares one budget per client: spreading requests
// over nodes gains an attacker nothing. Nothing security-critical lives here.
package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"github.com/throttled/throttled/v2/store/goredisstore.v9"

	"github.com/haechi/haechi/internal/ratelimit"
)

// KeyPrefix namespaces haechi's rate-limit keys in a shared Redis.
const KeyPrefix = "haechi:rl:"

// Open parses a redis:// or rediss:// URL and checks the server answers.
// Errors never repeat the URL, which may hold a password.
func Open(ctx context.Context, url string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, errors.New("redis: the URL is not a valid redis:// or rediss:// URL")
	}
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
	}
	return client, nil
}

// NewLimiter returns a GCRA limiter whose state lives in Redis under
// KeyPrefix, with Redis's clock as the single time source for all nodes.
func NewLimiter(client *goredis.Client) ratelimit.Limiter {
	// NewCtx cannot fail; it returns an error only for interface symmetry.
	st, _ := goredisstore.NewCtx(client, KeyPrefix)
	return ratelimit.NewGCRA(st)
}
