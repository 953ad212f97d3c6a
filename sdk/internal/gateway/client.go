package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Limits of a gateway call.
const (
	maxAnswer      = 1 << 20          // bytes read of any gateway answer
	defaultTimeout = 15 * time.Second // per request, when no *http.Client is given
	MaxRetries     = 3                // after the first attempt, all with the same Idempotency-Key
	firstBackoff   = 250 * time.Millisecond
	maxBackoff     = 5 * time.Second // a longer Retry-After is not waited for
)

// Client is one SDK's settings for calling the gateway. The SDKs build
// one from their own exported fields for each call.
type Client struct {
	SDK           string       // "checkout" or "merchant": the prefix of every error
	Base          string       // the gateway's base URL
	Authorization string       // the Authorization header; "" sends none
	HTTP          *http.Client // nil: a 15 s client that follows no redirect

	// Sleep waits between retries; nil waits on a timer that ctx cancels.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Call is one gateway request. A call with a key may be sent again: the
// gateway answers a repeated key with its first answer and runs nothing
// twice, so a lost answer or a 5xx is retried with the same key.
type Call struct {
	Method string
	Path   string
	Body   any    // sent as JSON; nil sends no body
	Key    string // the Idempotency-Key; "" sends none
}

// Do sends call, retrying what is safe to retry (up to MaxRetries more
// times, with the same key), and decodes a 2xx answer into out; an error
// answer is an *APIError. The body may hold card data: no error ever
// quotes it.
func (c Client) Do(ctx context.Context, call Call, out any) error {
	var body []byte
	if call.Body != nil {
		b, err := json.Marshal(call.Body)
		if err != nil {
			return fmt.Errorf("%s: encode %s: %w", c.SDK, call.Path, err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, call, body, out)
		if attempt == MaxRetries || !retryable(ctx, err) {
			return err
		}
		if err := c.sleep(ctx, backoff(attempt, err)); err != nil {
			return err
		}
	}
}

// once is a single attempt.
func (c Client) once(ctx context.Context, call Call, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, strings.TrimRight(c.Base, "/")+call.Path, rd)
	if err != nil {
		return fmt.Errorf("%s: %s %s: %w", c.SDK, call.Method, call.Path, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Authorization != "" {
		req.Header.Set("Authorization", c.Authorization)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if call.Key != "" {
		req.Header.Set("Idempotency-Key", call.Key)
	}
	res, err := c.client().Do(req)
	if err != nil {
		return &transportError{sdk: c.SDK, op: call.Method + " " + call.Path, err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return &transportError{sdk: c.SDK, op: call.Method + " " + call.Path, err: err}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return decodeProblem(c.SDK, res.StatusCode, res.Header, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode answer of %s: %w", c.SDK, call.Path, err)
	}
	return nil
}

// transportError is a request that got no answer: it may or may not have
// run, so only the same key may send it again.
type transportError struct {
	sdk string
	op  string
	err error
}

func (e *transportError) Error() string { return e.sdk + ": " + e.op + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// retryable: no answer, a 5xx (the gateway keeps no 5xx result, so the
// retry runs; 503 card_network_unavailable is the common one) or the
// first attempt still running — unless the caller gave up.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var t *transportError
	if errors.As(err, &t) {
		return true
	}
	var e *APIError
	return errors.As(err, &e) && (e.Status >= 500 || e.Code == "idempotency_in_progress")
}

// backoff doubles from firstBackoff; a Retry-After the gateway gave wins
// when it is not absurd.
func backoff(attempt int, err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) && e.RetryAfter > 0 && e.RetryAfter <= maxBackoff {
		return e.RetryAfter
	}
	return firstBackoff << attempt
}

func (c Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// client is c.HTTP, or one that times out and follows no redirect: a
// call redirected elsewhere is a misconfiguration, not something to chase
// with card data or an API key.
func (c Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{
		Timeout:       defaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
