package webhook_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
	"github.com/haechi/haechi/internal/webhook"
)

// clock is a settable time source shared by the store, the dispatcher
// and the receiver, so retries are tested without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one haechi process: a database, its keyring and the endpoint
// service. Reopening the same file with the same key material is a restart.
type env struct {
	t     *testing.T
	clock *clock
	km    *crypto.KeyMaterial
	path  string
	db    *sqlstore.DB
	svc   *webhook.Service
	logs  *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), km: crypto.NewKeyMaterial(), path: filepath.Join(t.TempDir(), "haechi.db")}
	e.open()
	if _, err := e.db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// open (re)opens the database and loads the keyring from it.
func (e *env) open() {
	e.t.Helper()
	db, err := sqlite.Open(e.path, sqlstore.Options{Signer: storetest.Signer(), Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	e.db = db
	if _, err := db.Migrate(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	ring, err := crypto.LoadKeyring(e.t.Context(), e.km, db, e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = &webhook.Service{Store: db, Ring: ring, Now: e.clock.Now, AllowHTTP: true}
}

// restart closes the database and opens it again, as a new process would.
func (e *env) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// dispatcher delivers through the test's loopback receivers, retrying a
// minute after each failure.
func (e *env) dispatcher() *webhook.Dispatcher {
	e.logs = &bytes.Buffer{}
	return &webhook.Dispatcher{Store: e.db, Endpoints: e.svc, Client: webhook.NewClient(true), Now: e.clock.Now,
		Logger:  slog.New(slog.NewTextHandler(syncWriter(e.logs), nil)),
		Backoff: func(int) time.Duration { return time.Minute }, Timeout: 2 * time.Second}
}

func (e *env) setEndpoint(owner, url string) string {
	e.t.Helper()
	secret, err := e.svc.SetEndpoint(e.t.Context(), "op_test", owner, url)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

func (e *env) enqueue(evs ...webhook.Event) {
	e.t.Helper()
	if err := e.db.EnqueueWebhookEvents(e.t.Context(), evs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) event(owner, payload string) webhook.Event {
	return webhook.NewEvent(owner, "verification.passed", []byte(payload), e.clock.Now())
}

// run is one RunOnce that must not hit a store error.
func (e *env) run(d *webhook.Dispatcher) int {
	e.t.Helper()
	n, err := d.RunOnce(e.t.Context())
	if err != nil {
		e.t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// row is an event as the outbox holds it now.
func (e *env) row(id string) (attempts int, next time.Time, delivered bool) {
	e.t.Helper()
	var n, d int64
	var del *int64
	err := e.db.SQL().QueryRowContext(e.t.Context(),
		`SELECT attempts, next_attempt_at, delivered_at FROM webhook_events WHERE id = ?`, id).Scan(&n, &d, &del)
	if err != nil {
		e.t.Fatalf("event %s: %v", id, err)
	}
	return int(n), time.Unix(0, d).UTC(), del != nil
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
	err    error // what Verify said
}

// receiver verifies each delivery with the secrets it holds and processes
// each event id once, as the package documentation asks of institutions.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	secrets    [][]byte
	now        func() time.Time
	status     int // answer to every request; 0 is 204
	deliveries []delivery
	processed  []string
	seen       map[string]bool
}

func newReceiver(t *testing.T, now func() time.Time, secrets ...string) *receiver {
	r := &receiver{now: now, seen: map[string]bool{}}
	r.setSecrets(secrets...)
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setSecrets(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = nil
	for _, s := range secrets {
		r.secrets = append(r.secrets, []byte(s))
	}
}

func (r *receiver) setStatus(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = code
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	err := webhook.Verify(req.Header.Get(webhook.HeaderSignature), b, r.secrets, r.now(), webhook.Tolerance)
	r.deliveries = append(r.deliveries, delivery{header: req.Header.Clone(), body: b, err: err})
	switch {
	case r.status != 0:
		w.WriteHeader(r.status)
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
	default:
		if id := req.Header.Get(webhook.HeaderEventID); !r.seen[id] {
			r.seen[id] = true
			r.processed = append(r.processed, id)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *receiver) got() ([]delivery, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...), append([]string(nil), r.processed...)
}

// syncWriter lets concurrent workers log into one buffer.
func syncWriter(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
