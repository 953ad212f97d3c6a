package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/postgres"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

const (
	scope = "mch_shop"
	key   = "order-42-attempt-0001"
)

// clock is the injected time; tests move it by hand and never sleep.
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

type fixture struct {
	t   *testing.T
	clk *clock
	db  *sqlstore.DB
	svc *idempotency.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	opts := storetest.Options()
	opts.Now = clk.Now
	db := storetest.MustOpenSQLite(t, opts)
	ring, err := crypto.LoadKeyring(context.Background(), testKeys(), db, clk.Now)
	must(t, err)
	svc := &idempotency.Service{Store: db, Ring: ring, Pepper: []byte(strings.Repeat("p", 32)), Now: clk.Now}
	return &fixture{t: t, clk: clk, db: db, svc: svc}
}

func testKeys() *crypto.KeyMaterial {
	k := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	return &crypto.KeyMaterial{MasterKeys: map[int][]byte{1: k(1)}, ActiveMaster: 1, BlindKey: k(2), Pepper: k(3), AuditSeed: k(4)}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// fp fingerprints a request the way a handler would.
func (f *fixture) fp(body string) []byte {
	return f.svc.Fingerprint([]byte("POST"), []byte("/v1/payments/{id}/confirm"), []byte(body))
}

// hold begins a call that must get the key.
func (f *fixture) hold(key string, fp []byte) *idempotency.Outcome {
	f.t.Helper()
	o, err := f.svc.Begin(f.t.Context(), scope, key, fp)
	must(f.t, err)
	if o.Replay != nil {
		f.t.Fatalf("Begin replayed %d %s, want the key", o.Replay.Status, o.Replay.Body)
	}
	return o
}

// replay begins a call that must be answered from the kept response.
func (f *fixture) replay(key string, fp []byte) *idempotency.Response {
	f.t.Helper()
	o, err := f.svc.Begin(f.t.Context(), scope, key, fp)
	must(f.t, err)
	if o.Replay == nil {
		f.t.Fatal("Begin gave the key, want a replay")
	}
	return o.Replay
}

func TestReplayIsTheKeptResponse(t *testing.T) {
	f := newFixture(t)
	fp := f.fp(`{"order_no":"42","amount":6900}`)
	o := f.hold(key, fp)
	body := []byte(`{"id":"pay_1","status":"confirmed","client_secret":"cs_secret"}` + "\n")
	must(t, f.svc.Finish(t.Context(), o, idempotency.Response{Status: 201, Body: body}))
	for range 2 {
		f.clk.Add(time.Hour)
		got := f.replay(key, fp)
		if got.Status != 201 || !bytes.Equal(got.Body, body) {
			t.Fatalf("replay %d %q, want 201 %q", got.Status, got.Body, body)
		}
	}
	t.Run("error/replay holds no key", func(t *testing.T) {
		o, err := f.svc.Begin(t.Context(), scope, key, fp)
		must(t, err)
		if f.svc.Finish(t.Context(), o, idempotency.Response{Status: 200, Body: []byte("{}")}) == nil {
			t.Fatal("Finish of a replay succeeded")
		}
		if f.svc.Abandon(t.Context(), o) == nil {
			t.Fatal("Abandon of a replay succeeded")
		}
		if got := f.replay(key, fp); !bytes.Equal(got.Body, body) {
			t.Fatalf("kept response changed to %q", got.Body)
		}
	})
}

func TestKeyReused(t *testing.T) {
	f := newFixture(t)
	first, other := f.fp(`{"amount":6900}`), f.fp(`{"amount":6901}`)
	o := f.hold(key, first)
	_, err := f.svc.Begin(t.Context(), scope, key, other)
	wantErr(t, err, idempotency.ErrKeyReused)
	must(t, f.svc.Finish(t.Context(), o, idempotency.Response{Status: 200, Body: []byte(`{}`)}))
	_, err = f.svc.Begin(t.Context(), scope, key, other)
	wantErr(t, err, idempotency.ErrKeyReused)
	t.Run("ok/another scope is another key", func(t *testing.T) {
		o, err := f.svc.Begin(t.Context(), "mch_other", key, other)
		must(t, err)
		if o.Replay != nil {
			t.Fatal("another merchant's key replayed")
		}
	})
}

func TestInProgressUntilTheLeaseLapses(t *testing.T) {
	f := newFixture(t)
	fp, other := f.fp(`{"amount":6900}`), f.fp(`{"amount":1}`)
	o := f.hold(key, fp)
	f.clk.Add(idempotency.Lease - time.Nanosecond)
	_, err := f.svc.Begin(t.Context(), scope, key, fp)
	wantErr(t, err, idempotency.ErrInProgress)
	if e := errs.As(err); e == nil || e.Kind != errs.Conflict {
		t.Fatalf("in-progress error %v is not a conflict", err)
	}
	_, err = f.svc.Begin(t.Context(), scope, key, other)
	wantErr(t, err, idempotency.ErrKeyReused)

	f.clk.Add(time.Nanosecond)
	retry := f.hold(key, other)
	// The first call outlived its lease and lost the key: it can neither
	// keep its response nor release the new claim.
	wantErr(t, f.svc.Finish(t.Context(), o, idempotency.Response{Status: 200, Body: []byte(`{"late":true}`)}), errs.ErrNotFound)
	must(t, f.svc.Abandon(t.Context(), o))
	_, err = f.svc.Begin(t.Context(), scope, key, other)
	wantErr(t, err, idempotency.ErrInProgress)
	must(t, f.svc.Finish(t.Context(), retry, idempotency.Response{Status: 200, Body: []byte(`{"retry":true}`)}))
	if got := f.replay(key, other); string(got.Body) != `{"retry":true}` {
		t.Fatalf("kept %q, want the retry's response", got.Body)
	}
}

func TestAbandonLetsARetryRun(t *testing.T) {
	f := newFixture(t)
	fp := f.fp(`{"amount":6900}`)
	must(t, f.svc.Abandon(t.Context(), f.hold(key, fp)))
	retry := f.hold(key, fp)
	must(t, f.svc.Abandon(t.Context(), retry))
	must(t, f.svc.Abandon(t.Context(), retry)) // nothing left to release is not an error
	if n := countRows(t, f.db); n != 0 {
		t.Fatalf("%d records after abandon, want none", n)
	}
	f.hold(key, f.fp(`{"amount":1}`)) // released: even another request may use it
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	fp := f.fp(`{"amount":6900}`)
	must(t, f.svc.Finish(t.Context(), f.hold(key, fp), idempotency.Response{Status: 200, Body: []byte(`{}`)}))
	f.clk.Add(idempotency.Retention - time.Nanosecond)
	f.replay(key, fp)
	f.clk.Add(time.Nanosecond)
	n, err := f.db.PurgeIdempotencyKeys(t.Context(), f.clk.Now())
	must(t, err)
	if n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	f.hold(key, f.fp(`{"amount":1}`))
}

func TestKeyRequired(t *testing.T) {
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"error/missing", "", false},
		{"error/15 characters", strings.Repeat("a", 15), false},
		{"ok/16 characters", strings.Repeat("a", 16), true},
		{"ok/uuid", "0b7c5f2e-6d3a-4c8e-9f41-2a6b7d8e9c10", true},
		{"ok/128 characters", strings.Repeat("Z9_-", 32), true},
		{"error/129 characters", strings.Repeat("a", 129), false},
		{"error/space", "order 42 attempt 1", false},
		{"error/slash", "order/42/attempt/1", false},
		{"error/nul", "order-42-attempt\x001", false},
		{"error/hangul", "주문-42-attempt-0001", false},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := idempotency.ValidKey(tc.key); got != tc.ok {
				t.Fatalf("ValidKey(%q) = %v", tc.key, got)
			}
			before := countRows(t, f.db)
			_, err := f.svc.Begin(t.Context(), scope, tc.key, f.fp("x"))
			if tc.ok {
				must(t, err)
				return
			}
			wantErr(t, err, idempotency.ErrKeyRequired)
			if countRows(t, f.db) != before {
				t.Fatal("a refused key was stored")
			}
		})
	}
}

// TestResponseSealedAtRest reads the row: neither the kept body (which may
// carry a client secret) nor the request behind the fingerprint is in the
// clear, and the sealed body is bound to its key.
func TestResponseSealedAtRest(t *testing.T) {
	f := newFixture(t)
	const pan, secret = "4111111111111111", "cs_live_secret_0123456789"
	fp := f.fp(`{"card":"` + pan + `"}`)
	body := []byte(`{"client_secret":"` + secret + `"}`)
	must(t, f.svc.Finish(t.Context(), f.hold(key, fp), idempotency.Response{Status: 201, Body: body}))

	var stored, storedFP []byte
	must(t, f.db.SQL().QueryRowContext(t.Context(), `SELECT response, fingerprint FROM idempotency_keys WHERE scope = ? AND key = ?`,
		scope, key).Scan(&stored, &storedFP))
	if len(stored) == 0 || bytes.Contains(stored, []byte(secret)) || bytes.Contains(stored, []byte("client_secret")) {
		t.Fatalf("response stored in the clear: %q", stored)
	}
	if bytes.Contains(storedFP, []byte(pan)) || !bytes.Equal(storedFP, fp) {
		t.Fatalf("fingerprint column %q is not the MAC", storedFP)
	}

	// Copied to another key's row, the sealed body no longer opens.
	const other = "order-43-attempt-0001"
	must(t, f.svc.Finish(t.Context(), f.hold(other, fp), idempotency.Response{Status: 201, Body: []byte(`{}`)}))
	_, err := f.db.SQL().ExecContext(t.Context(), `UPDATE idempotency_keys SET response = ? WHERE scope = ? AND key = ?`,
		stored, scope, other)
	must(t, err)
	o, err := f.svc.Begin(t.Context(), scope, other, fp)
	if err == nil {
		t.Fatalf("a body sealed for another key opened: %+v", o.Replay)
	}
	if errs.As(err) != nil {
		t.Fatalf("a broken seal surfaced as client error %v, want internal", err)
	}
}

func TestFingerprint(t *testing.T) {
	f := newFixture(t)
	a := f.svc.Fingerprint([]byte("ab"), []byte("c"))
	if !bytes.Equal(a, f.svc.Fingerprint([]byte("ab"), []byte("c"))) {
		t.Fatal("fingerprint is not deterministic")
	}
	if bytes.Equal(a, f.svc.Fingerprint([]byte("a"), []byte("bc"))) {
		t.Fatal("parts are not framed")
	}
	if bytes.Equal(a, f.svc.Fingerprint([]byte("abc"))) {
		t.Fatal("part count is not framed")
	}
	other := &idempotency.Service{Pepper: []byte(strings.Repeat("q", 32))}
	if bytes.Equal(a, other.Fingerprint([]byte("ab"), []byte("c"))) {
		t.Fatal("fingerprint is not keyed by the pepper")
	}
	if len(a) != 32 {
		t.Fatalf("fingerprint is %d bytes, want an HMAC-SHA256", len(a))
	}
}

// TestRacingBegins: of concurrent calls with one key, exactly one runs.
func TestRacingBegins(t *testing.T) {
	f := newFixture(t)
	fp := f.fp(`{"amount":6900}`)
	const racers = 10
	var held, busy atomic.Int32
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			o, err := f.svc.Begin(t.Context(), scope, key, fp)
			switch {
			case err == nil && o.Replay == nil:
				held.Add(1)
			case errors.Is(err, idempotency.ErrInProgress):
				busy.Add(1)
			default:
				t.Errorf("begin: %v", err)
			}
		})
	}
	wg.Wait()
	if held.Load() != 1 || busy.Load() != racers-1 {
		t.Fatalf("held %d, in progress %d; want 1 and %d", held.Load(), busy.Load(), racers-1)
	}
}

// TestRacingNodes races claims through two handles on one database, as
// two haechi processes would.
func TestRacingNodes(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "haechi.db")
		a, b := openSQLite(t, path), openSQLite(t, path)
		migrate(t, a)
		storetest.ConcurrentIdempotencyClaims(t, a, b)
	})
	t.Run("postgres", func(t *testing.T) {
		url := storetest.PostgresSchemaURL(t)
		a, b := openPostgres(t, url), openPostgres(t, url)
		migrate(t, a)
		storetest.ConcurrentIdempotencyClaims(t, a, b)
	})
}

func openSQLite(t *testing.T, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(path, storetest.Options())
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url, storetest.Options())
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func migrate(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	_, err := db.Migrate(t.Context())
	must(t, err)
}

func countRows(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	must(t, db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM idempotency_keys`).Scan(&n))
	return n
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// FuzzValidKey holds ValidKey to the documented alphabet and lengths.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 16), strings.Repeat("-", 128), strings.Repeat("_", 129),
		"0b7c5f2e-6d3a-4c8e-9f41-2a6b7d8e9c10", "order 42 attempt 1", "주문-42-attempt-0001", "aaaaaaaaaaaaaaa\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := idempotency.ValidKey(s), keyPattern.MatchString(s); got != want {
			t.Fatalf("ValidKey(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzFingerprintFraming: two different splits of parts never share a
// fingerprint.
func FuzzFingerprintFraming(f *testing.F) {
	f.Add([]byte("ab"), []byte("c"), []byte("a"), []byte("bc"))
	f.Add([]byte(""), []byte("x"), []byte("x"), []byte(""))
	f.Add([]byte("same"), []byte("same"), []byte("same"), []byte("same"))
	svc := &idempotency.Service{Pepper: []byte(strings.Repeat("p", 32))}
	f.Fuzz(func(t *testing.T, a1, a2, b1, b2 []byte) {
		same := bytes.Equal(a1, b1) && bytes.Equal(a2, b2)
		if got := bytes.Equal(svc.Fingerprint(a1, a2), svc.Fingerprint(b1, b2)); got != same {
			t.Fatalf("(%q,%q) vs (%q,%q): equal fingerprints = %v", a1, a2, b1, b2, got)
		}
	})
}
