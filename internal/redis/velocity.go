package redis

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/haechi/haechi/internal/fds"
)

var _ fds.VelocityCache = (*Velocity)(nil)

// VelocityPrefix namespaces velocity keys in a shared Redis.
const VelocityPrefix = "haechi:fds:v:"

// DefaultVelocityTTL keeps a subject's entries a day plus an hour of
// tolerance for clock skew between nodes.
const DefaultVelocityTTL = 25 * time.Hour

// markerTTL keeps a subject's marker well past its entries: a subject idle
// for longer than TTL has no entries in any window, which is a true
// answer, so it need not go cold again when it comes back.
const markerTTL = 8 * 24 * time.Hour

// horizon is the longest window: the cache answers only once it has seen
// all of it.
var horizon = fds.Windows[len(fds.Windows)-1]

var errBadEvent = errors.New("redis: velocity: event without id or time")

// Velocity is fds.VelocityCache in Redis: per subject (customer, device
// fingerprint, IP) a sorted set of attempts and one of failures scored by
// event time, and for devices and IPs a sorted set of customers scored by
// their last event. The database stays the record: a subject answers only
// once Redis has observed a full day of it and no observation has failed
// within that day; otherwise ok is false and the store is asked.
//
// Times are compared at microsecond precision (PostgreSQL's): exact in a
// Redis score, where nanoseconds since 1970 are not.
//
// Key names carry no raw value: the subject's value is hashed (HMAC-SHA-256
// with HashKey when set, else SHA-256) and truncated to 16 bytes. Redis
// should run with maxmemory-policy noeviction: an evicted set under a
// surviving marker would under-count.
type Velocity struct {
	Client  goredis.UniversalClient
	Prefix  string        // "": VelocityPrefix
	TTL     time.Duration // 0: DefaultVelocityTTL; less than 24 h is refused
	HashKey []byte        // optional; without it an IPv4 key can be found by trying every address

	// gap is the latest event time (µs) whose Observe failed and that is
	// not yet recorded in Redis; 0: none.
	gap atomic.Int64
}

// subject is one thing velocity is counted by.
type subject struct {
	kind  fds.SubjectKind
	value string
}

func subjectsOf(e *fds.Event) []subject {
	all := [3]subject{
		{fds.SubjectCustomer, e.CustomerID},
		{fds.SubjectDevice, e.Fingerprint},
		{fds.SubjectIP, e.IP},
	}
	out := all[:0]
	for _, s := range all {
		if s.value != "" {
			out = append(out, s)
		}
	}
	return out
}

// Observe records e under each of its subjects in one pipeline. A failure
// is remembered and written with the next successful Observe, so every
// node treats the day after it as cold.
func (v *Velocity) Observe(ctx context.Context, e *fds.Event) error {
	ttl, err := v.ttl()
	if err != nil {
		return err
	}
	if e.ID == "" || e.Time.IsZero() {
		v.noteGap(e.Time)
		return errBadEvent
	}
	// A caller that gives up (a client disconnecting) must not leave the
	// record half written and the cache cold for a day.
	ctx = context.WithoutCancel(ctx)
	pipe := v.Client.Pipeline()
	for _, s := range subjectsOf(e) {
		v.queueObserve(ctx, pipe, s, e, ttl)
	}
	gap := v.gap.Load()
	if gap != 0 {
		pipe.ZAddGT(ctx, v.gapKey(), goredis.Z{Score: float64(gap), Member: "gap"})
		pipe.PExpire(ctx, v.gapKey(), ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		v.noteGap(e.Time)
		return fmt.Errorf("redis: velocity observe: %w", err)
	}
	if gap != 0 {
		v.gap.CompareAndSwap(gap, 0)
	}
	return nil
}

func (v *Velocity) queueObserve(ctx context.Context, pipe goredis.Pipeliner, s subject, e *fds.Event, ttl time.Duration) {
	base := v.key(s)
	at := e.Time.UnixMicro()
	// Trimming from the event's own time less TTL, not less 24 h, leaves
	// room for a node whose clock runs ahead.
	cutoff := "(" + strconv.FormatInt(e.Time.Add(-ttl).UnixMicro(), 10)
	add := func(suffix string, z goredis.Z, gt bool) {
		if gt {
			pipe.ZAddGT(ctx, base+suffix, z)
		} else {
			pipe.ZAdd(ctx, base+suffix, z)
		}
		pipe.ZRemRangeByScore(ctx, base+suffix, "-inf", cutoff)
		pipe.PExpire(ctx, base+suffix, ttl)
	}
	add(":a", goredis.Z{Score: float64(at), Member: e.ID}, false)
	if e.Result == fds.ResultFailure {
		add(":f", goredis.Z{Score: float64(at), Member: e.ID}, false)
	}
	if s.kind != fds.SubjectCustomer && e.CustomerID != "" {
		add(":c", goredis.Z{Score: float64(at), Member: e.CustomerID}, true)
	}
	pipe.SetNX(ctx, base+":m", at, markerTTL)
	pipe.PExpire(ctx, base+":m", markerTTL)
}

// Velocity counts the subject's events in each window [now-w, now) in one
// pipeline. ok is false when the cache is cold for the subject, and on any
// Redis error (returned too).
func (v *Velocity) Velocity(ctx context.Context, s fds.SubjectKind, value string, now time.Time) (fds.Velocity, bool, error) {
	if value == "" {
		return fds.Velocity{}, false, nil
	}
	pipe := v.Client.Pipeline()
	read := v.queueVelocity(ctx, pipe, subject{s, value}, now)
	// Errors are per command; read reports them.
	_, _ = pipe.Exec(ctx)
	return read()
}

// queueVelocity queues one subject's counts on pipe and returns the
// function that reads them once pipe has run; several subjects can share
// one round trip.
func (v *Velocity) queueVelocity(ctx context.Context, pipe goredis.Pipeliner, s subject, now time.Time) func() (fds.Velocity, bool, error) {
	base := v.key(s)
	nowUS := now.UnixMicro()
	before := "(" + strconv.FormatInt(nowUS, 10)
	var attempts, failures, customers [len(fds.Windows)]*goredis.IntCmd
	for i, w := range fds.Windows {
		from := strconv.FormatInt(nowUS-w.Microseconds(), 10)
		attempts[i] = pipe.ZCount(ctx, base+":a", from, before)
		failures[i] = pipe.ZCount(ctx, base+":f", from, before)
		if s.kind != fds.SubjectCustomer {
			customers[i] = pipe.ZCount(ctx, base+":c", from, before)
		}
	}
	marker := pipe.Get(ctx, base+":m")
	gap := pipe.ZScore(ctx, v.gapKey(), "gap")
	return func() (fds.Velocity, bool, error) {
		var out fds.Velocity
		for i := range fds.Windows {
			for _, c := range []struct {
				cmd *goredis.IntCmd
				dst *int
			}{{attempts[i], &out.Attempts[i]}, {failures[i], &out.Failures[i]}, {customers[i], &out.Customers[i]}} {
				if c.cmd == nil {
					continue
				}
				n, err := c.cmd.Result()
				if err != nil {
					return fds.Velocity{}, false, fmt.Errorf("redis: velocity: %w", err)
				}
				*c.dst = int(n)
			}
		}
		warm, err := warm(marker, gap, v.gap.Load(), nowUS-horizon.Microseconds())
		if err != nil || !warm {
			return fds.Velocity{}, false, err
		}
		return out, true, nil
	}
}

// warm: the subject has been observed since at or before dayAgo (µs) and
// no observation has failed since dayAgo, on any node (gap) or on this one
// before it could tell the others (local).
func warm(marker *goredis.StringCmd, gap *goredis.FloatCmd, local, dayAgo int64) (bool, error) {
	start, err := marker.Int64()
	switch {
	case errors.Is(err, goredis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("redis: velocity marker: %w", err)
	}
	g, err := gap.Result()
	switch {
	case errors.Is(err, goredis.Nil):
		g = 0
	case err != nil:
		return false, fmt.Errorf("redis: velocity gap: %w", err)
	}
	last := max(int64(g), local)
	return start <= dayAgo && (last == 0 || last < dayAgo), nil
}

// noteGap remembers the latest failed observation, for the next Observe
// to write.
func (v *Velocity) noteGap(t time.Time) {
	if t.IsZero() {
		t = time.Now()
	}
	at := t.UnixMicro()
	for {
		old := v.gap.Load()
		if old >= at || v.gap.CompareAndSwap(old, at) {
			return
		}
	}
}

func (v *Velocity) ttl() (time.Duration, error) {
	switch {
	case v.TTL == 0:
		return DefaultVelocityTTL, nil
	case v.TTL < horizon:
		return 0, fmt.Errorf("redis: velocity TTL %v is shorter than the %v window", v.TTL, horizon)
	}
	return v.TTL, nil
}

func (v *Velocity) prefix() string {
	if v.Prefix == "" {
		return VelocityPrefix
	}
	return v.Prefix
}

func (v *Velocity) gapKey() string { return v.prefix() + "gap" }

func (v *Velocity) key(s subject) string {
	var sum []byte
	if len(v.HashKey) > 0 {
		m := hmac.New(sha256.New, v.HashKey)
		m.Write([]byte(s.value))
		sum = m.Sum(nil)
	} else {
		h := sha256.Sum256([]byte(s.value))
		sum = h[:]
	}
	return v.prefix() + string(s.kind) + ":" + hex.EncodeToString(sum[:16])
}
