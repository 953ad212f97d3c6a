package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/storetest"
)

const idemPattern = "/v1/test/idempotent"

var errTestRefused = errs.New(errs.Conflict, "test_refused", "Refused.", "거절되었습니다.")

// idemEnv serves one test route that runs under an Idempotency-Key and
// counts its runs; what the run answers is set per test.
type idemEnv struct {
	t   *testing.T
	s   *Server
	h   http.Handler
	now time.Time

	mu     sync.Mutex
	runs   int
	answer func(run int) (int, any, error)
}

func newIdemEnv(t *testing.T, withService bool) *idemEnv {
	t.Helper()
	s, _ := bare(t)
	e := &idemEnv{t: t, s: s, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	now := func() time.Time { return e.now }
	if withService {
		opts := storetest.Options()
		opts.Now = now
		db := storetest.MustOpenSQLite(t, opts)
		ring, err := crypto.LoadKeyring(context.Background(), crypto.NewKeyMaterial(), db, now)
		if err != nil {
			t.Fatal(err)
		}
		s.Idempotency = &idempotency.Service{Store: db, Ring: ring, Pepper: bytes.Repeat([]byte("p"), 32), Now: now}
	}
	e.answer = func(run int) (int, any, error) {
		return http.StatusCreated, map[string]any{"run": run, "client_secret": "cs_once"}, nil
	}
	s.extra = append(s.extra, route{method: "POST", pattern: idemPattern, handle: e.handle})
	e.h = s.Handler()
	return e
}

func (e *idemEnv) handle(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var fp []byte
	if e.s.Idempotency != nil {
		fp = e.s.Idempotency.Fingerprint([]byte("POST"), []byte(idemPattern), body)
	}
	e.s.idempotent(w, r, "mch_test", fp, func() (int, any, error) {
		e.mu.Lock()
		e.runs++
		run, answer := e.runs, e.answer
		e.mu.Unlock()
		return answer(run)
	})
	return nil
}

func (e *idemEnv) setAnswer(fn func(run int) (int, any, error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answer = fn
}

func (e *idemEnv) runCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs
}

func (e *idemEnv) post(key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", idemPattern, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set(idempotency.Header, key)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *idemEnv) wantRuns(n int) {
	e.t.Helper()
	if got := e.runCount(); got != n {
		e.t.Fatalf("the call ran %d times, want %d", got, n)
	}
}

const idemKey = "0b7c5f2e-6d3a-4c8e-9f41-2a6b7d8e9c10"

func TestIdempotentReplayIsByteIdentical(t *testing.T) {
	e := newIdemEnv(t, true)
	first := e.post(idemKey, `{"amount":6900}`)
	if first.Code != http.StatusCreated || first.Header().Get(replayedHeader) != "" {
		t.Fatalf("first call: %d, replayed %q, body %s", first.Code, first.Header().Get(replayedHeader), first.Body)
	}
	if want := `{"client_secret":"cs_once","run":1}` + "\n"; first.Body.String() != want {
		t.Fatalf("first body %q, want %q", first.Body, want)
	}
	for range 2 {
		again := e.post(idemKey, `{"amount":6900}`)
		if again.Code != first.Code || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
			t.Fatalf("replay %d %q, want %d %q", again.Code, again.Body, first.Code, first.Body)
		}
		if again.Header().Get(replayedHeader) != "true" || again.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("replay headers %v", again.Header())
		}
	}
	e.wantRuns(1)

	t.Run("error/same key, another request", func(t *testing.T) {
		w := e.post(idemKey, `{"amount":6901}`)
		if p := readProblem(t, w); w.Code != http.StatusConflict || p.Code != "idempotency_key_reused" {
			t.Fatalf("got %d %s", w.Code, p.Code)
		}
		e.wantRuns(1)
	})
	t.Run("ok/another key runs", func(t *testing.T) {
		if w := e.post("another-key-0123456789", `{"amount":6900}`); w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"run":2`) {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
}

func TestIdempotentKeyRequired(t *testing.T) {
	e := newIdemEnv(t, true)
	for _, key := range []string{"", "short-key-15chr", strings.Repeat("k", 129), "key with spaces 0123"} {
		w := e.post(key, `{"amount":6900}`)
		if p := readProblem(t, w); w.Code != http.StatusBadRequest || p.Code != "idempotency_key_required" {
			t.Fatalf("key %q: got %d %s", key, w.Code, p.Code)
		}
	}
	e.wantRuns(0)
}

func TestIdempotentInProgress(t *testing.T) {
	e := newIdemEnv(t, true)
	fp := e.s.Idempotency.Fingerprint([]byte("POST"), []byte(idemPattern), []byte(`{"amount":6900}`))
	if _, err := e.s.Idempotency.Begin(t.Context(), "mch_test", idemKey, fp); err != nil {
		t.Fatal(err)
	}
	w := e.post(idemKey, `{"amount":6900}`)
	if p := readProblem(t, w); w.Code != http.StatusConflict || p.Code != "idempotency_in_progress" {
		t.Fatalf("got %d %s", w.Code, p.Code)
	}
	e.wantRuns(0)
	e.now = e.now.Add(idempotency.Lease)
	if w := e.post(idemKey, `{"amount":6900}`); w.Code != http.StatusCreated {
		t.Fatalf("after the lease lapsed: %d %s", w.Code, w.Body)
	}
	e.wantRuns(1)
}

// TestIdempotentServerErrorReleasesKey: a 5xx (or 429) says nothing about
// the request, so the retry with the same key runs again.
func TestIdempotentServerErrorReleasesKey(t *testing.T) {
	tests := []struct {
		name   string
		status int
		fail   func() (int, any, error)
	}{
		{"unavailable", http.StatusServiceUnavailable, func() (int, any, error) {
			return 0, nil, errs.ErrUnavailable.WithRetryAfter(2 * time.Second)
		}},
		{"internal", http.StatusInternalServerError, func() (int, any, error) {
			return 0, nil, errors.New("database on fire")
		}},
		{"rate limited", http.StatusTooManyRequests, func() (int, any, error) { return 0, nil, errRateLimited }},
		{"panic", http.StatusInternalServerError, func() (int, any, error) { panic("handler bug") }},
	}
	for _, tc := range tests {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			e := newIdemEnv(t, true)
			e.setAnswer(func(int) (int, any, error) { return tc.fail() })
			w := e.post(idemKey, `{"amount":6900}`)
			readProblem(t, w)
			if w.Code != tc.status {
				t.Fatalf("failure answered %d, want %d", w.Code, tc.status)
			}
			if tc.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") != "2" {
				t.Fatalf("Retry-After %q, want 2", w.Header().Get("Retry-After"))
			}
			e.setAnswer(func(run int) (int, any, error) { return http.StatusOK, map[string]int{"run": run}, nil })
			w = e.post(idemKey, `{"amount":6900}`)
			if w.Code != http.StatusOK || w.Body.String() != `{"run":2}`+"\n" || w.Header().Get(replayedHeader) != "" {
				t.Fatalf("retry: %d %s, want the call to run again", w.Code, w.Body)
			}
			e.wantRuns(2)
		})
	}
}

// TestIdempotentClientErrorKept: a refusal (4xx) is the call's answer and
// is kept like a success, problem document and all.
func TestIdempotentClientErrorKept(t *testing.T) {
	e := newIdemEnv(t, true)
	e.setAnswer(func(int) (int, any, error) { return 0, nil, errTestRefused.WithField("amount") })
	first := e.post(idemKey, `{"amount":6900}`)
	if p := readProblem(t, first); first.Code != http.StatusConflict || p.Code != "test_refused" || p.Field != "amount" {
		t.Fatalf("got %d %+v", first.Code, p)
	}
	e.setAnswer(func(run int) (int, any, error) { return http.StatusOK, map[string]int{"run": run}, nil })
	again := e.post(idemKey, `{"amount":6900}`)
	readProblem(t, again)
	if again.Code != first.Code || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) || again.Header().Get(replayedHeader) != "true" {
		t.Fatalf("replay %d %q, want %d %q", again.Code, again.Body, first.Code, first.Body)
	}
	e.wantRuns(1)
}

func TestIdempotentWithoutService(t *testing.T) {
	e := newIdemEnv(t, false)
	w := e.post(idemKey, `{"amount":6900}`)
	if p := readProblem(t, w); w.Code != http.StatusServiceUnavailable || p.Code != "idempotency_not_configured" {
		t.Fatalf("got %d %s", w.Code, p.Code)
	}
	e.wantRuns(0)
}
