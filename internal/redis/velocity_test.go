package redis_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/redis"
)

// now is the decision time of every test: fixed, since the cache compares
// event times only with the now it is given.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	fp = "fp-3f9a"
	ip = "203.0.113.7"
)

// newVelocity gives the test its own key prefix and deletes its keys after.
func newVelocity(t testing.TB, c *goredis.Client) *redis.Velocity {
	t.Helper()
	prefix := "haechi:test:fds:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return &redis.Velocity{Client: c, Prefix: prefix}
}

var eventSeq atomic.Int64

// ev is an event of customer, on fp from ip, at now-ago.
func ev(customer string, ago time.Duration, r fds.Result) *fds.Event {
	return &fds.Event{
		ID:          fmt.Sprintf("ev-%d", eventSeq.Add(1)),
		Kind:        fds.KindLogin,
		CustomerID:  customer,
		Fingerprint: fp,
		IP:          ip,
		Result:      r,
		Time:        now.Add(-ago),
	}
}

func mustObserve(t testing.TB, v *redis.Velocity, events ...*fds.Event) {
	t.Helper()
	for _, e := range events {
		if err := v.Observe(context.Background(), e); err != nil {
			t.Fatalf("Observe(%s): %v", e.ID, err)
		}
	}
}

// warmUp observes an event older than every window, so the subjects have
// been watched for more than a day.
func warmUp(t testing.TB, v *redis.Velocity, customer string) {
	t.Helper()
	mustObserve(t, v, ev(customer, 25*time.Hour, fds.ResultSuccess))
}

func mustVelocity(t testing.TB, v *redis.Velocity, s fds.SubjectKind, value string) fds.Velocity {
	t.Helper()
	got, ok, err := v.Velocity(context.Background(), s, value, now)
	if err != nil || !ok {
		t.Fatalf("Velocity(%s) = ok %v, err %v; want a warm answer", s, ok, err)
	}
	return got
}

func TestVelocityWindowBoundaries(t *testing.T) {
	v := newVelocity(t, mustOpen(t))
	warmUp(t, v, "seed")
	// One customer per event, so distinct customers equal attempts.
	for i, ago := range []time.Duration{
		0, // the decision's own instant: not before now
		time.Microsecond,
		time.Minute, time.Minute + time.Microsecond,
		10 * time.Minute, 10*time.Minute + time.Microsecond,
		time.Hour, time.Hour + time.Microsecond,
		24 * time.Hour, 24*time.Hour + time.Microsecond,
	} {
		mustObserve(t, v, ev(fmt.Sprintf("c%d", i), ago, fds.ResultSuccess))
	}
	want := [4]int{2, 4, 6, 8}
	for _, s := range []struct {
		kind  fds.SubjectKind
		value string
	}{{fds.SubjectDevice, fp}, {fds.SubjectIP, ip}} {
		t.Run(string(s.kind), func(t *testing.T) {
			got := mustVelocity(t, v, s.kind, s.value)
			if got.Attempts != want || got.Customers != want || got.Failures != [4]int{} {
				t.Errorf("got %+v, want attempts and customers %v, no failures", got, want)
			}
		})
	}
}

func TestVelocityFailures(t *testing.T) {
	v := newVelocity(t, mustOpen(t))
	warmUp(t, v, "alice")
	retried := ev("alice", 10*time.Second, fds.ResultFailure)
	mustObserve(t, v,
		ev("alice", 50*time.Second, fds.ResultFailure),
		ev("alice", 40*time.Second, fds.ResultFailure),
		retried, retried, // a retried Observe counts once
		ev("alice", 30*time.Second, fds.ResultSuccess),
		ev("alice", 20*time.Second, fds.ResultNone),
		ev("alice", 30*time.Minute, fds.ResultFailure),
		ev("bob", 5*time.Second, fds.ResultFailure), // another customer, same device
	)
	got := mustVelocity(t, v, fds.SubjectCustomer, "alice")
	want := fds.Velocity{Attempts: [4]int{5, 5, 6, 6}, Failures: [4]int{3, 3, 4, 4}}
	if got != want {
		t.Errorf("customer: got %+v, want %+v", got, want)
	}
	dev := mustVelocity(t, v, fds.SubjectDevice, fp)
	if dev.Failures != [4]int{4, 4, 5, 5} {
		t.Errorf("device failures = %v, want [4 4 5 5]", dev.Failures)
	}
}

func TestVelocityDistinctCustomers(t *testing.T) {
	v := newVelocity(t, mustOpen(t))
	warmUp(t, v, "c1")
	anonymous := ev("", 20*time.Second, fds.ResultFailure) // before anyone signed in
	mustObserve(t, v,
		ev("c1", 2*time.Hour, fds.ResultSuccess),
		ev("c1", 30*time.Second, fds.ResultSuccess),
		ev("c2", 5*time.Minute, fds.ResultFailure),
		ev("c3", 3*time.Hour, fds.ResultSuccess),
		anonymous,
	)
	for _, s := range []struct {
		kind  fds.SubjectKind
		value string
	}{{fds.SubjectDevice, fp}, {fds.SubjectIP, ip}} {
		got := mustVelocity(t, v, s.kind, s.value)
		if want := [4]int{1, 2, 2, 3}; got.Customers != want {
			t.Errorf("%s customers = %v, want %v", s.kind, got.Customers, want)
		}
		if want := [4]int{2, 3, 3, 5}; got.Attempts != want {
			t.Errorf("%s attempts = %v, want %v", s.kind, got.Attempts, want)
		}
	}
	if got := mustVelocity(t, v, fds.SubjectCustomer, "c1"); got.Customers != [4]int{} {
		t.Errorf("customer subject counts customers: %v", got.Customers)
	}
}

func TestVelocityCold(t *testing.T) {
	c := mustOpen(t)
	cases := []struct {
		name      string
		firstSeen time.Duration // before now; 0: never observed
		value     string
		ok        bool
	}{
		{"cold/never observed", 0, "dana", false},
		{"cold/empty value", 0, "", false},
		{"cold/observed for less than a day", 23 * time.Hour, "erin", false},
		{"cold/a microsecond short of a day", 24*time.Hour - time.Microsecond, "erin", false},
		{"ok/observed for exactly a day", 24 * time.Hour, "erin", true},
		{"ok/first seen a week ago", 7 * 24 * time.Hour, "erin", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVelocity(t, c)
			if tc.firstSeen > 0 {
				mustObserve(t, v, ev(tc.value, tc.firstSeen, fds.ResultSuccess))
			}
			got, ok, err := v.Velocity(context.Background(), fds.SubjectCustomer, tc.value, now)
			if err != nil || ok != tc.ok {
				t.Fatalf("Velocity = %+v, ok %v, err %v; want ok %v, no error", got, ok, err, tc.ok)
			}
			if !ok && got != (fds.Velocity{}) {
				t.Errorf("a cold answer carried counts: %+v", got)
			}
		})
	}
}

// closedClient is a client whose Redis is gone.
func closedClient(t *testing.T) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(os.Getenv("HAECHI_TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	c.Close()
	return c
}

func TestVelocityRedisDown(t *testing.T) {
	mustOpen(t) // skips without Redis, like the rest
	cases := map[string]*goredis.Client{
		"closed client": closedClient(t),
		"nothing listening": goredis.NewClient(&goredis.Options{
			Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1,
		}),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			v := &redis.Velocity{Client: c, Prefix: "haechi:test:down:"}
			got, ok, err := v.Velocity(context.Background(), fds.SubjectIP, ip, now)
			if ok || err == nil || got != (fds.Velocity{}) {
				t.Errorf("Velocity = %+v, ok %v, err %v; want not ok with an error", got, ok, err)
			}
			if err := v.Observe(context.Background(), ev("c1", time.Second, fds.ResultSuccess)); err == nil {
				t.Error("Observe succeeded with Redis down")
			}
		})
	}
}

// A failed observation leaves the counts short, so the day after it is
// cold: at once on the node that failed, and on every node once it can
// tell Redis.
func TestVelocityColdAfterFailedObserve(t *testing.T) {
	good := mustOpen(t)
	failing := newVelocity(t, good)
	other := &redis.Velocity{Client: good, Prefix: failing.Prefix}
	warmUp(t, failing, "frank")
	mustVelocity(t, other, fds.SubjectCustomer, "frank")

	failing.Client = closedClient(t)
	lost := ev("frank", 10*time.Second, fds.ResultFailure)
	if err := failing.Observe(context.Background(), lost); err == nil {
		t.Fatal("Observe succeeded on a closed client")
	}
	failing.Client = good
	if _, ok, err := failing.Velocity(context.Background(), fds.SubjectCustomer, "frank", now); ok || err != nil {
		t.Errorf("failing node: ok %v, err %v; want cold", ok, err)
	}
	mustVelocity(t, other, fds.SubjectCustomer, "frank") // not told yet

	mustObserve(t, failing, ev("grace", 5*time.Second, fds.ResultSuccess))
	for name, v := range map[string]*redis.Velocity{"failing": failing, "other": other} {
		if _, ok, err := v.Velocity(context.Background(), fds.SubjectCustomer, "frank", now); ok || err != nil {
			t.Errorf("%s node after the gap was written: ok %v, err %v; want cold", name, ok, err)
		}
	}
	dayLater := lost.Time.Add(24*time.Hour + time.Microsecond)
	if _, ok, err := other.Velocity(context.Background(), fds.SubjectCustomer, "frank", dayLater); !ok || err != nil {
		t.Errorf("a day after the gap: ok %v, err %v; want warm", ok, err)
	}
}

func TestVelocityConcurrentObserve(t *testing.T) {
	v := newVelocity(t, mustOpen(t))
	warmUp(t, v, "c0")
	const workers, each = 16, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				r := fds.ResultSuccess
				if n%3 == 0 {
					r = fds.ResultFailure
				}
				e := ev(fmt.Sprintf("c%d", n%10), time.Duration(n+1)*100*time.Millisecond, r)
				if err := v.Observe(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	const total = workers * each // all within the last 40 s
	got := mustVelocity(t, v, fds.SubjectDevice, fp)
	want := fds.Velocity{
		Attempts:  [4]int{total, total, total, total},
		Failures:  [4]int{134, 134, 134, 134}, // n%3 == 0 for n in [0, 400)
		Customers: [4]int{10, 10, 10, 10},
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestVelocityKeys(t *testing.T) {
	c := mustOpen(t)
	v := newVelocity(t, c)
	mustObserve(t, v, ev("henry", time.Minute, fds.ResultFailure))
	ctx := context.Background()
	keys, err := c.Keys(ctx, v.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 11 { // customer a f m; device and IP a f c m
		t.Errorf("%d keys, want 11: %v", len(keys), keys)
	}
	for _, k := range keys {
		for _, raw := range []string{ip, fp, "henry"} {
			if strings.Contains(k, raw) {
				t.Errorf("key %q names %q", k, raw)
			}
		}
		ttl := c.PTTL(ctx, k).Val()
		limit := redis.DefaultVelocityTTL
		if strings.HasSuffix(k, ":m") {
			limit = 8 * 24 * time.Hour
		}
		if ttl <= 0 || ttl > limit {
			t.Errorf("key %q TTL %v, want in (0, %v]", k, ttl, limit)
		}
	}
	hashed := &redis.Velocity{Client: c, Prefix: v.Prefix + "k:", HashKey: []byte("server secret")}
	mustObserve(t, hashed, ev("henry", time.Minute, fds.ResultSuccess))
	keyed, _ := c.Keys(ctx, hashed.Prefix+"customer:*").Result()
	plain, _ := c.Keys(ctx, v.Prefix+"customer:*").Result()
	if len(keyed) == 0 || len(plain) == 0 ||
		strings.TrimPrefix(keyed[0], hashed.Prefix) == strings.TrimPrefix(plain[0], v.Prefix) {
		t.Errorf("HashKey did not change the key names: %v vs %v", keyed, plain)
	}
}

func TestVelocityTrimsOldEntries(t *testing.T) {
	c := mustOpen(t)
	v := newVelocity(t, c)
	mustObserve(t, v,
		ev("ivan", 27*time.Hour, fds.ResultFailure),
		ev("ivan", 25*time.Hour-time.Second, fds.ResultFailure), // within TTL of the next: kept
		ev("ivan", time.Minute, fds.ResultFailure),
	)
	keys, err := c.Keys(context.Background(), v.Prefix+"customer:*:a").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if n := c.ZCard(context.Background(), keys[0]).Val(); n != 2 {
		t.Errorf("%d entries after trimming, want 2", n)
	}
}

func TestVelocityRefuses(t *testing.T) {
	c := mustOpen(t)
	v := newVelocity(t, c)
	noID := ev("judy", time.Second, fds.ResultSuccess)
	noID.ID = ""
	if err := v.Observe(context.Background(), noID); err == nil {
		t.Error("an event without id was observed")
	}
	short := &redis.Velocity{Client: c, Prefix: v.Prefix, TTL: time.Hour}
	if err := short.Observe(context.Background(), ev("judy", time.Second, fds.ResultSuccess)); err == nil {
		t.Error("a TTL shorter than the 24 h window was accepted")
	}
}

// openTB is mustOpen for benchmarks too.
func openTB(tb testing.TB) *goredis.Client {
	tb.Helper()
	url := os.Getenv("HAECHI_TEST_REDIS_URL")
	if url == "" {
		tb.Skip("HAECHI_TEST_REDIS_URL is unset; skipping Redis benchmarks")
	}
	c, err := redis.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkVelocity reads the three subjects of one decision.
func BenchmarkVelocity(b *testing.B) {
	c := openTB(b)
	v := newVelocity(b, c)
	for i := range 200 {
		mustObserve(b, v, ev(fmt.Sprintf("c%d", i%20), time.Duration(i)*7*time.Minute+time.Second, fds.ResultFailure))
	}
	ctx := context.Background()
	kinds := []fds.SubjectKind{fds.SubjectCustomer, fds.SubjectDevice, fds.SubjectIP}
	values := []string{"c1", fp, ip}
	run := func(b *testing.B, decide func() error) {
		for b.Loop() {
			if err := decide(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/decision")
	}
	b.Run("three round trips", func(b *testing.B) {
		run(b, func() error {
			for i := range kinds {
				if _, _, err := v.Velocity(ctx, kinds[i], values[i], now); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("three concurrent round trips", func(b *testing.B) {
		run(b, func() error {
			errs := make(chan error, len(kinds))
			for i := range kinds {
				go func() { _, _, err := v.Velocity(ctx, kinds[i], values[i], now); errs <- err }()
			}
			var first error
			for range kinds {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
			return first
		})
	})
	b.Run("one pipeline", func(b *testing.B) {
		run(b, func() error {
			_, err := redis.VelocityBatch(ctx, v, kinds, values, now)
			return err
		})
	})
}

func BenchmarkObserve(b *testing.B) {
	v := newVelocity(b, openTB(b))
	ctx := context.Background()
	for b.Loop() {
		if err := v.Observe(ctx, ev("c1", time.Second, fds.ResultFailure)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/event")
}
