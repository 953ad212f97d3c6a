package notify_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

var base = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

// clock is an injected, shiftable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counting wraps a channel and counts every delivery attempt.
type counting struct {
	notify.Channel
	n atomic.Int64
}

func (c *counting) Deliver(ctx context.Context, n notify.Notification) error {
	c.n.Add(1)
	return c.Channel.Deliver(ctx, n)
}

const retryAfter = 30 * time.Second

func newDispatcher(db notify.Store, ch notify.Channel, c *clock) *notify.Dispatcher {
	return &notify.Dispatcher{Store: db, Channel: ch, Now: c.Now,
		Backoff: func(int) time.Duration { return retryAfter }}
}

func enqueue(t *testing.T, db *sqlstore.DB, c *clock, customers ...string) {
	t.Helper()
	var ns []notify.Notification
	for _, id := range customers {
		ns = append(ns, notify.New(id, notify.KindDeviceRegistered, map[string]string{"model": "SM-S918N"}, c.Now()))
	}
	if err := db.EnqueueNotifications(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
}

func runOnce(t *testing.T, d *notify.Dispatcher, want int) {
	t.Helper()
	sent, err := d.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if sent != want {
		t.Fatalf("sent %d, want %d", sent, want)
	}
}

func wantInbox(t *testing.T, sim *notify.Simulator, customer string, want int) []notify.Notification {
	t.Helper()
	in := sim.Inbox(customer)
	if len(in) != want {
		t.Fatalf("inbox of %s holds %d, want %d", customer, len(in), want)
	}
	return in
}

func TestNew(t *testing.T) {
	data := map[string]string{"model": "SM-S918N"}
	n := notify.New("cus_1", notify.KindDeviceRevoked, data, base)
	data["model"] = "changed"
	if !strings.HasPrefix(n.ID, "ntf_") || len(n.ID) < 20 {
		t.Fatalf("id %q", n.ID)
	}
	if n.CustomerID != "cus_1" || n.Kind != notify.KindDeviceRevoked || n.Data["model"] != "SM-S918N" {
		t.Fatalf("notification %+v", n)
	}
	if !n.CreatedAt.Equal(base) || !n.NextAttemptAt.Equal(base) || n.Attempts != 0 || n.SentAt != nil {
		t.Fatalf("not due now: %+v", n)
	}
	if other := notify.New("cus_1", notify.KindDeviceRevoked, nil, base); other.ID == n.ID {
		t.Fatal("two notifications share an id")
	}
}

func TestDispatcher(t *testing.T) {
	t.Run("ok/delivers each due notification once", func(t *testing.T) {
		c, sim := &clock{t: base}, notify.NewSimulator()
		db := storetest.MustOpenSQLite(t, storetest.Options())
		d := newDispatcher(db, sim, c)
		enqueue(t, db, c, "cus_1", "cus_1", "cus_2")
		runOnce(t, d, 3)
		c.Add(1000 * time.Hour)
		runOnce(t, d, 0)
		wantInbox(t, sim, "cus_1", 2)
		wantInbox(t, sim, "cus_2", 1)
	})
	t.Run("ok/drains more than one batch", func(t *testing.T) {
		c, sim := &clock{t: base}, notify.NewSimulator()
		db := storetest.MustOpenSQLite(t, storetest.Options())
		d := newDispatcher(db, sim, c)
		d.BatchSize = 2
		enqueue(t, db, c, "cus_1", "cus_1", "cus_1", "cus_1", "cus_1")
		runOnce(t, d, 5)
		wantInbox(t, sim, "cus_1", 5)
	})
	t.Run("ok/failed delivery is retried after the backoff", func(t *testing.T) {
		c, sim := &clock{t: base}, notify.NewSimulator()
		db := storetest.MustOpenSQLite(t, storetest.Options())
		d := newDispatcher(db, sim, c)
		enqueue(t, db, c, "cus_1")
		sim.FailNext(1)
		runOnce(t, d, 0)
		c.Add(retryAfter - time.Second)
		runOnce(t, d, 0)
		wantInbox(t, sim, "cus_1", 0)
		c.Add(time.Second)
		runOnce(t, d, 1)
		if in := wantInbox(t, sim, "cus_1", 1); in[0].Attempts != 1 {
			t.Fatalf("delivered with %d attempts, want 1", in[0].Attempts)
		}
	})
	t.Run("ok/parked after MaxAttempts", func(t *testing.T) {
		c, sim := &clock{t: base}, notify.NewSimulator()
		ch := &counting{Channel: sim}
		db := storetest.MustOpenSQLite(t, storetest.Options())
		d := newDispatcher(db, ch, c)
		d.MaxAttempts = 3
		enqueue(t, db, c, "cus_1")
		sim.FailNext(100)
		for range 10 {
			runOnce(t, d, 0)
			c.Add(retryAfter)
		}
		if got := ch.n.Load(); got != 3 {
			t.Fatalf("%d delivery attempts, want 3", got)
		}
	})
}

// TestDispatcherRestart: what one process delivered a new one never
// delivers again, and what it failed to deliver a new one retries.
func TestDispatcherRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haechi.db")
	open := func() *sqlstore.DB {
		db, err := sqlite.Open(path, storetest.Options())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	}
	c, sim := &clock{t: base}, notify.NewSimulator()
	db := open()
	enqueue(t, db, c, "cus_1", "cus_2")
	sim.FailNext(1) // the older one fails, the other is delivered
	runOnce(t, newDispatcher(db, sim, c), 1)
	db.Close()

	c.Add(retryAfter)
	runOnce(t, newDispatcher(open(), sim, c), 1)
	c.Add(1000 * time.Hour)
	runOnce(t, newDispatcher(open(), sim, c), 0)
	if n := len(sim.Inbox("cus_1")) + len(sim.Inbox("cus_2")); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

// failingStore fails every call.
type failingStore struct{}

var errStore = errors.New("store down")

func (failingStore) DueNotifications(context.Context, time.Time, int) ([]notify.Notification, error) {
	return nil, errStore
}
func (failingStore) MarkNotificationSent(context.Context, string, time.Time) error { return errStore }
func (failingStore) MarkNotificationFailed(context.Context, string, time.Time) error {
	return errStore
}

func TestDispatcherStoreError(t *testing.T) {
	d := newDispatcher(failingStore{}, notify.NewSimulator(), &clock{t: base})
	if _, err := d.RunOnce(t.Context()); !errors.Is(err, errStore) {
		t.Fatalf("error = %v, want the store's", err)
	}
}

func TestDispatcherRun(t *testing.T) {
	c, sim := &clock{t: base}, notify.NewSimulator()
	db := storetest.MustOpenSQLite(t, storetest.Options())
	enqueue(t, db, c, "cus_1")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		newDispatcher(db, sim, c).Run(ctx, 5*time.Millisecond)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(sim.Inbox("cus_1")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	enqueue(t, db, c, "cus_1") // picked up by a later tick
	for len(sim.Inbox("cus_1")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	wantInbox(t, sim, "cus_1", 2)
}
