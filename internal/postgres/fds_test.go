package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/redis"
	"github.com/haechi/haechi/internal/storetest"
)

// TestFDSSharedSchema races rule set saves and activations through two
// pools on one schema, as two nodes would.
func TestFDSSharedSchema(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	a, b := open(t, url), open(t, url)
	if _, err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.FDSConcurrentRuleSets(t, a, b)
}

// BenchmarkFDSHistory measures the history lookups of one decision.
func BenchmarkFDSHistory(b *testing.B) {
	storetest.BenchFDSHistory(b, storetest.MustOpenPostgres(b, storetest.Options()))
}

// BenchmarkFDSDecide measures whole decisions with 100 active rules, on
// PostgreSQL alone and with the Redis velocity cache.
func BenchmarkFDSDecide(b *testing.B) {
	b.Run("postgres", func(b *testing.B) {
		storetest.BenchFDSDecide(b, storetest.MustOpenPostgres(b, storetest.Options()), nil)
	})
	b.Run("postgres+redis", func(b *testing.B) {
		url := os.Getenv("HAECHI_TEST_REDIS_URL")
		if url == "" {
			b.Skip("HAECHI_TEST_REDIS_URL not set")
		}
		client, err := redis.Open(b.Context(), url)
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		prefix := fmt.Sprintf("haechi:bench:%d:", time.Now().UnixNano())
		defer func() {
			keys, _ := client.Keys(context.Background(), prefix+"*").Result()
			if len(keys) > 0 {
				client.Del(context.Background(), keys...)
			}
		}()
		cache := &redis.Velocity{Client: client, Prefix: prefix}
		storetest.BenchFDSDecide(b, storetest.MustOpenPostgres(b, storetest.Options()), cache)
	})
}
