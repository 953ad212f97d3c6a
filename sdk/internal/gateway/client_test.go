package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder answers with the queued problems, then 200 with an approved
// payment, and keeps what each request carried.
type recorder struct {
	mu       sync.Mutex
	problems []problem
	reqs     []http.Header
	bodies   []string
}

type problem struct {
	status int
	code   string
}

func (g *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.reqs = append(g.reqs, r.Header.Clone())
	g.bodies = append(g.bodies, string(b))
	var p problem
	if len(g.problems) > 0 {
		p, g.problems = g.problems[0], g.problems[1:]
	}
	g.mu.Unlock()
	if p.status != 0 {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(p.status)
		w.Write([]byte(`{"code":"` + p.code + `"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"id":"ptx_1","status":"approved"}`))
}

func testClient(t *testing.T, g *recorder, auth string) (Client, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	var sleeps []time.Duration
	return Client{SDK: "merchant", Base: srv.URL + "/", Authorization: auth, Sleep: func(_ context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return nil
	}}, &sleeps
}

// TestDoHeaders: Authorization, Content-Type and Idempotency-Key are sent
// only when there is something to send.
func TestDoHeaders(t *testing.T) {
	g := &recorder{}
	c, _ := testClient(t, g, "ApiKey hk_x")
	var p Payment
	if err := c.Do(context.Background(), Call{Method: http.MethodGet, Path: "/v1/payments/ptx_1"}, &p); err != nil || !p.Approved() {
		t.Fatalf("%+v, %v", p, err)
	}
	c.Authorization = ""
	body := map[string]int{"amount": 6900}
	if err := c.Do(context.Background(), Call{Method: http.MethodPost, Path: "/x", Body: body, Key: "k0123456789abcdef"}, &p); err != nil {
		t.Fatal(err)
	}
	get, post := g.reqs[0], g.reqs[1]
	if get.Get("Authorization") != "ApiKey hk_x" || get.Get("Content-Type") != "" || get.Get("Idempotency-Key") != "" || g.bodies[0] != "" {
		t.Fatalf("GET sent %v %q", get, g.bodies[0])
	}
	if _, ok := post["Authorization"]; ok || post.Get("Content-Type") != "application/json" ||
		post.Get("Idempotency-Key") != "k0123456789abcdef" || g.bodies[1] != `{"amount":6900}` {
		t.Fatalf("POST sent %v %q", post, g.bodies[1])
	}
}

// TestDoRetries: a 5xx and a request still running are sent again with
// the same key and body, waiting Retry-After; any other 4xx is final.
func TestDoRetries(t *testing.T) {
	g := &recorder{problems: []problem{{503, "card_network_unavailable"}, {409, "idempotency_in_progress"}, {409, "confirm_mismatch"}}}
	c, sleeps := testClient(t, g, "")
	err := c.Do(context.Background(), Call{Method: http.MethodPost, Path: "/x", Body: 1, Key: "k0123456789abcdef"}, new(Payment))
	var e *APIError
	if !errors.As(err, &e) || e.Status != 409 || err.Error() != "merchant: gateway answered 409 confirm_mismatch" {
		t.Fatalf("err = %v", err)
	}
	if len(g.reqs) != 3 {
		t.Fatalf("%d requests", len(g.reqs))
	}
	for i := range g.reqs {
		if g.reqs[i].Get("Idempotency-Key") != "k0123456789abcdef" || g.bodies[i] != "1" {
			t.Fatalf("request %d: %v %q", i, g.reqs[i], g.bodies[i])
		}
	}
	if len(*sleeps) != 2 || (*sleeps)[0] != time.Second || (*sleeps)[1] != time.Second {
		t.Fatalf("sleeps = %v", *sleeps)
	}
}

// TestDoGivesUp: MaxRetries more attempts at the most, then the last
// answer; backoff doubles when there is no usable Retry-After.
func TestDoGivesUp(t *testing.T) {
	if got := backoff(2, errors.New("x")); got != 4*firstBackoff {
		t.Fatalf("backoff(2) = %v", got)
	}
	g := &recorder{}
	for range MaxRetries + 2 {
		g.problems = append(g.problems, problem{500, "internal"})
	}
	c, sleeps := testClient(t, g, "")
	err := c.Do(context.Background(), Call{Method: http.MethodPost, Path: "/x", Key: "k0123456789abcdef"}, new(Payment))
	if CodeOf(err) != "internal" || len(g.reqs) != 1+MaxRetries || len(*sleeps) != MaxRetries {
		t.Fatalf("err %v after %d requests, %d sleeps", err, len(g.reqs), len(*sleeps))
	}
}

// TestDoTransportError: no answer is retried, and the error names the
// SDK and the route but never the body.
func TestDoTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	var sleeps int
	c := Client{SDK: "checkout", Base: base, Sleep: func(context.Context, time.Duration) error { sleeps++; return nil }}
	err := c.Do(context.Background(), Call{Method: http.MethodPost, Path: "/v1/x", Body: map[string]string{"pan": "4111111111111111"}, Key: "k0123456789abcdef"}, new(Payment))
	if err == nil || !strings.HasPrefix(err.Error(), "checkout: POST /v1/x: ") || strings.Contains(err.Error(), "4111") || sleeps != MaxRetries {
		t.Fatalf("err %v after %d sleeps", err, sleeps)
	}
}

// TestDoStopsWhenCancelled: a caller that gave up is not retried for.
func TestDoStopsWhenCancelled(t *testing.T) {
	c, sleeps := testClient(t, &recorder{}, "")
	ctx, cancel := context.WithCancel(context.Background())
	c.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		cancel()
		return http.DefaultTransport.RoundTrip(r)
	})}
	if err := c.Do(ctx, Call{Method: http.MethodGet, Path: "/x"}, new(Payment)); err == nil {
		t.Fatal("no error")
	}
	if len(*sleeps) != 0 {
		t.Fatalf("slept %v after cancel", *sleeps)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
