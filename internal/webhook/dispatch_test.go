package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/webhook"
)

const payload = `{"id":"ekyc_1","status":"passed","name":"홍*동"}`

func TestDeliverSigned(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, e.clock.Now)
	secret := e.setEndpoint("cl_1", rcv.URL+"/hooks?token=receiver-token")
	rcv.setSecrets(secret)
	ev := e.event("cl_1", payload)
	e.enqueue(ev)
	d := e.dispatcher()

	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
	got, processed := rcv.got()
	if len(got) != 1 || got[0].err != nil {
		t.Fatalf("receiver got %d deliveries, verify: %v", len(got), got[0].err)
	}
	h := got[0].header
	checks := map[string][2]string{
		"body":         {string(got[0].body), payload},
		"content type": {h.Get("Content-Type"), "application/json"},
		"event id":     {h.Get(webhook.HeaderEventID), ev.ID},
		"event type":   {h.Get(webhook.HeaderEventType), "verification.passed"},
		"signature":    {h.Get(webhook.HeaderSignature), webhook.Sign([][]byte{[]byte(secret)}, e.clock.Now(), []byte(payload))},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	if !slices.Equal(processed, []string{ev.ID}) {
		t.Fatalf("processed %v", processed)
	}
	if _, _, delivered := e.row(ev.ID); !delivered {
		t.Fatal("not recorded as delivered")
	}
	e.clock.Advance(24 * time.Hour)
	if n := e.run(d); n != 0 || len(must2(rcv.got())) != 1 {
		t.Fatal("a delivered event was sent again")
	}
}

func must2[A, B any](a A, _ B) A { return a }

// TestReceiverDown: failures are retried after the backoff, not before,
// and the event is delivered once the receiver is back.
func TestReceiverDown(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, e.clock.Now)
	rcv.setSecrets(e.setEndpoint("cl_1", rcv.URL))
	ev := e.event("cl_1", payload)
	e.enqueue(ev)
	d := e.dispatcher()

	for attempt, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadRequest} {
		rcv.setStatus(status)
		if n := e.run(d); n != 0 {
			t.Fatalf("answered %d yet counted delivered", status)
		}
		attempts, next, delivered := e.row(ev.ID)
		if attempts != attempt+1 || !next.Equal(e.clock.Now().Add(time.Minute)) || delivered {
			t.Fatalf("after %d: attempts %d, next %v, delivered %v", status, attempts, next, delivered)
		}
		e.clock.Advance(time.Minute - time.Second)
		before := len(must2(rcv.got()))
		e.run(d)
		if len(must2(rcv.got())) != before {
			t.Fatal("retried before the backoff ran out")
		}
		e.clock.Advance(time.Second)
	}
	rcv.setStatus(0)
	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d once the receiver is back, want 1", n)
	}
	if _, processed := rcv.got(); !slices.Equal(processed, []string{ev.ID}) {
		t.Fatalf("processed %v", processed)
	}
}

// TestRestart: an event that failed before a restart is delivered by the
// new process; nothing lives only in the old one's memory.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, e.clock.Now)
	rcv.setSecrets(e.setEndpoint("cl_1", rcv.URL))
	ev := e.event("cl_1", payload)
	e.enqueue(ev)
	rcv.setStatus(http.StatusBadGateway)
	e.run(e.dispatcher())

	e.restart()
	rcv.setStatus(0)
	d := e.dispatcher()
	if n := e.run(d); n != 0 {
		t.Fatal("retried before the backoff ran out")
	}
	e.clock.Advance(time.Minute)
	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d after the restart, want 1", n)
	}
	got, processed := rcv.got()
	if len(got) != 2 || got[1].err != nil || !slices.Equal(processed, []string{ev.ID}) {
		t.Fatalf("deliveries %d, processed %v", len(got), processed)
	}
}

// crashingStore loses the record of a delivery, as a crash right after
// the receiver answered would.
type crashingStore struct {
	webhook.Store
}

var errCrash = errors.New("process died")

func (crashingStore) MarkWebhookDelivered(context.Context, string, time.Time) error { return errCrash }

// TestCrashBetweenDeliverAndRecord: the event is delivered again once the
// claim runs out, and a receiver deduplicating by event id processes it
// once.
func TestCrashBetweenDeliverAndRecord(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, e.clock.Now)
	rcv.setSecrets(e.setEndpoint("cl_1", rcv.URL))
	ev := e.event("cl_1", payload)
	e.enqueue(ev)
	crashing := e.dispatcher()
	crashing.Store = crashingStore{e.db}
	if _, err := crashing.RunOnce(t.Context()); !errors.Is(err, errCrash) {
		t.Fatalf("RunOnce = %v, want the crash", err)
	}

	d := e.dispatcher()
	e.clock.Advance(webhook.Lease - time.Second)
	if n := e.run(d); n != 0 {
		t.Fatal("delivered again while the dead dispatcher's claim held")
	}
	e.clock.Advance(time.Second)
	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d after the claim ran out, want 1", n)
	}
	got, processed := rcv.got()
	if len(got) != 2 || got[0].header.Get(webhook.HeaderEventID) != got[1].header.Get(webhook.HeaderEventID) {
		t.Fatalf("want the same event delivered twice, got %d deliveries", len(got))
	}
	if !slices.Equal(processed, []string{ev.ID}) {
		t.Fatalf("receiver processed %v, want %s once", processed, ev.ID)
	}
	if attempts, _, delivered := e.row(ev.ID); attempts != 0 || !delivered {
		t.Fatalf("attempts %d, delivered %v", attempts, delivered)
	}
}

// TestRotation: during a rotation each delivery carries a v1 per secret,
// so a receiver still holding the old secret verifies it.
func TestRotation(t *testing.T) {
	e := newEnv(t)
	oldRcv := newReceiver(t, e.clock.Now)
	old := e.setEndpoint("cl_1", oldRcv.URL)
	current := e.setEndpoint("cl_1", oldRcv.URL)
	oldRcv.setSecrets(old)
	e.enqueue(e.event("cl_1", payload))
	d := e.dispatcher()
	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d, want 1", n)
	}
	got, _ := oldRcv.got()
	h := got[0].header.Get(webhook.HeaderSignature)
	if strings.Count(h, "v1=") != 2 {
		t.Fatalf("signature %q, want two v1", h)
	}
	body := got[0].body
	for name, secrets := range map[string][]string{"old": {old}, "new": {current}} {
		if err := verifyWith(h, body, e.clock.Now(), secrets...); err != nil {
			t.Errorf("receiver holding the %s secret: %v", name, err)
		}
	}
	if err := verifyWith(h, body, e.clock.Now(), "whsec_someone-else"); !errors.Is(err, webhook.ErrSignatureMismatch) {
		t.Errorf("unrelated secret: %v, want mismatch", err)
	}

	if err := e.svc.EndRotation(t.Context(), "op_test", "cl_1"); err != nil {
		t.Fatal(err)
	}
	e.enqueue(e.event("cl_1", payload))
	e.run(d)
	got, _ = oldRcv.got()
	if err := got[1].err; !errors.Is(err, webhook.ErrSignatureMismatch) {
		t.Fatalf("after the rotation ended the old secret verified: %v", err)
	}
	if err := verifyWith(got[1].header.Get(webhook.HeaderSignature), got[1].body, e.clock.Now(), current); err != nil {
		t.Fatalf("new secret after the rotation ended: %v", err)
	}
}

func verifyWith(header string, body []byte, now time.Time, secrets ...string) error {
	var ss [][]byte
	for _, s := range secrets {
		ss = append(ss, []byte(s))
	}
	return webhook.Verify(header, body, ss, now, webhook.Tolerance)
}

// TestNoEndpoint: an owner without an endpoint keeps its events, retried
// with backoff, until it sets one.
func TestNoEndpoint(t *testing.T) {
	e := newEnv(t)
	ev := e.event("cl_1", payload)
	e.enqueue(ev)
	d := e.dispatcher()
	if n := e.run(d); n != 0 {
		t.Fatal("delivered without an endpoint")
	}
	if attempts, _, delivered := e.row(ev.ID); attempts != 1 || delivered {
		t.Fatalf("attempts %d, delivered %v", attempts, delivered)
	}
	if !strings.Contains(e.logs.String(), "no webhook endpoint") {
		t.Fatalf("the failure was not logged: %s", e.logs)
	}
	rcv := newReceiver(t, e.clock.Now)
	rcv.setSecrets(e.setEndpoint("cl_1", rcv.URL))
	e.clock.Advance(time.Minute)
	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d once the endpoint exists, want 1", n)
	}
}

func TestDeliveryFailures(t *testing.T) {
	elsewhere := atomic.Int32{}
	third := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(third.Close)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, third.URL, http.StatusTemporaryRedirect)
	})
	// Reading the body first lets the server notice the client giving up;
	// stop frees the handler in any case so the server can close.
	hang := func(stop <-chan struct{}) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		})
	}
	always := func(h http.Handler) func(<-chan struct{}) http.Handler {
		return func(<-chan struct{}) http.Handler { return h }
	}
	tests := []struct {
		name    string
		handler func(stop <-chan struct{}) http.Handler
		closed  bool
		client  *http.Client
		logged  string
	}{
		{"error/redirect not followed, whatever the client says", always(redirect), false, &http.Client{}, "receiver answered 307"},
		{"error/timeout", hang, false, nil, "deadline exceeded"},
		{"error/connection refused", always(http.NotFoundHandler()), true, nil, "connection refused"},
		{"error/loopback refused by the default client", always(http.NotFoundHandler()), false, webhook.NewClient(false), "webhook_private_address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			stop := make(chan struct{})
			srv := httptest.NewServer(tc.handler(stop))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(stop) })
			if tc.closed {
				srv.Close()
			}
			secret := e.setEndpoint("cl_1", srv.URL+"/?token=receiver-token")
			ev := e.event("cl_1", payload)
			e.enqueue(ev)
			d := e.dispatcher()
			d.Timeout = 100 * time.Millisecond
			if tc.client != nil {
				d.Client = tc.client
			}
			if n := e.run(d); n != 0 {
				t.Fatal("counted as delivered")
			}
			if attempts, _, delivered := e.row(ev.ID); attempts != 1 || delivered {
				t.Fatalf("attempts %d, delivered %v", attempts, delivered)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, tc.logged) {
				t.Fatalf("logs lack %q: %s", tc.logged, logs)
			}
			for _, leak := range []string{secret, "receiver-token", "홍", "ekyc_1"} {
				if strings.Contains(logs, leak) {
					t.Fatalf("logs hold %q: %s", leak, logs)
				}
			}
		})
	}
	if elsewhere.Load() != 0 {
		t.Fatal("a redirect was followed to a third party")
	}
}

// TestParked: after MaxAttempts failures the event is never due again but
// stays in the outbox.
func TestParked(t *testing.T) {
	e := newEnv(t)
	ev := e.event("cl_nobody", payload)
	e.enqueue(ev)
	d := e.dispatcher()
	d.MaxAttempts = 3
	for range 3 {
		e.run(d)
		e.clock.Advance(time.Minute)
	}
	attempts, next, delivered := e.row(ev.ID)
	if attempts != 3 || delivered || next.Year() < 2200 {
		t.Fatalf("attempts %d, next %v, delivered %v; want parked", attempts, next, delivered)
	}
	if !strings.Contains(e.logs.String(), "parked") {
		t.Fatal("parking was not logged")
	}
}

// TestClaimHonoured: a dispatcher starts no delivery its claim could not
// cover; what it leaves comes due when the claim ends, with no attempt
// counted.
func TestClaimHonoured(t *testing.T) {
	e := newEnv(t)
	var slow atomic.Bool
	rcv := newReceiver(t, e.clock.Now)
	rcv.setSecrets(e.setEndpoint("cl_1", rcv.URL))
	// Each delivery takes two fifths of a claim on the shared clock, so a
	// third one would start past the last moment (a Timeout before the
	// claim ends).
	slowHandler := rcv.Config.Handler
	rcv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			e.clock.Advance(webhook.Lease * 2 / 5)
		}
		slowHandler.ServeHTTP(w, r)
	})
	evs := []webhook.Event{e.event("cl_1", payload), e.event("cl_1", payload), e.event("cl_1", payload)}
	e.clock.Advance(time.Second) // all due, distinct from the claim time
	e.enqueue(evs...)
	d := e.dispatcher()
	d.Workers, d.Timeout = 1, webhook.Lease/4
	slow.Store(true)
	claimed := e.clock.Now()
	if n := e.run(d); n != 2 {
		t.Fatalf("delivered %d in one claim, want 2", n)
	}
	slow.Store(false)
	if n := e.run(d); n != 0 {
		t.Fatal("the rest was handed out before its claim ended")
	}
	left := 0
	for _, ev := range evs {
		if attempts, next, delivered := e.row(ev.ID); !delivered {
			left++
			if attempts != 0 || !next.Equal(claimed.Add(webhook.Lease)) {
				t.Fatalf("left event: attempts %d, next %v", attempts, next)
			}
		}
	}
	if left != 1 {
		t.Fatalf("%d left undelivered, want 1", left)
	}
	e.clock.Advance(claimed.Add(webhook.Lease).Sub(e.clock.Now()))
	if n := e.run(d); n != 1 {
		t.Fatalf("delivered %d once the claim ended, want 1", n)
	}
	if got, processed := rcv.got(); len(got) != 3 || len(processed) != 3 {
		t.Fatalf("%d deliveries, %d processed; want each event once", len(got), len(processed))
	}
}
