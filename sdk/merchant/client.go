package merchant

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of the gateway client.
const (
	maxAnswer      = 1 << 20          // bytes read of any gateway answer
	defaultTimeout = 15 * time.Second // per request, when no *http.Client is given
	maxRetries     = 3                // after the first attempt, all with the same Idempotency-Key
	firstBackoff   = 250 * time.Millisecond
	maxBackoff     = 5 * time.Second // a longer Retry-After is not waited for
	maxRetryAfter  = 366 * 24 * time.Hour
)

// APIError is a problem+json answer of the gateway. Code is the stable
// thing to test ("confirm_mismatch", "not_cancellable", …); the body's
// other members are kept only when harmless to log.
type APIError struct {
	Status     int
	Code       string
	Title      string
	Field      string
	RetryAfter time.Duration // Retry-After in seconds; 0 when absent
}

func (e *APIError) Error() string {
	return "merchant: gateway answered " + strconv.Itoa(e.Status) + " " + e.Code
}

// CodeOf is the gateway's problem code inside err, "" when err is not a
// gateway answer (a network failure, a local check).
func CodeOf(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// problemBody is the wire form; unknown members are ignored, as RFC 9457
// asks of clients.
type problemBody struct {
	Code  string `json:"code"`
	Title string `json:"title"`
	Field string `json:"field"`
}

// decodeProblem turns an error answer into an *APIError. An answer that is
// not a problem document (a proxy's HTML page) still gives one, with the
// code "http_<status>", so callers can always inspect it.
func decodeProblem(status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, Code: "http_" + strconv.Itoa(status), RetryAfter: parseRetryAfter(h.Get("Retry-After"))}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || (mt != "application/problem+json" && mt != "application/json") {
		return e
	}
	var b problemBody
	if json.Unmarshal(body, &b) != nil {
		return e
	}
	if b.Code != "" {
		e.Code = b.Code
	}
	e.Title, e.Field = b.Title, b.Field
	return e
}

// parseRetryAfter reads the delay-seconds form, the only one the gateway
// sends; anything else is 0.
func parseRetryAfter(s string) time.Duration {
	if s == "" || len(s) > 10 {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > int(maxRetryAfter/time.Second) {
		return 0
	}
	return time.Duration(n) * time.Second
}

// newIdempotencyKey is 26 random base32 characters, inside the gateway's
// 16–128 [A-Za-z0-9_-].
func newIdempotencyKey() string { return rand.Text() }

// call is one gateway request. A call with a key may be sent again: the
// gateway answers a repeated key with its first answer and runs nothing
// twice, so a lost answer or a 5xx is retried with the same key.
type call struct {
	method string
	path   string
	body   any
	key    string
}

// do sends c with the merchant's API key, retrying transient failures, and
// decodes a 2xx answer into out.
func (m *Merchant) do(ctx context.Context, c call, out any) error {
	var body []byte
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return fmt.Errorf("merchant: encode %s: %w", c.path, err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		err := m.once(ctx, c, body, out)
		if attempt == maxRetries || !retryable(ctx, err) {
			return err
		}
		if err := m.sleep(ctx, backoff(attempt, err)); err != nil {
			return err
		}
	}
}

// once is a single attempt.
func (m *Merchant) once(ctx context.Context, c call, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, strings.TrimRight(m.Gateway, "/")+c.path, rd)
	if err != nil {
		return fmt.Errorf("merchant: %s %s: %w", c.method, c.path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "ApiKey "+m.APIKey) // Bearer is for OAuth access tokens
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	res, err := m.client().Do(req)
	if err != nil {
		return &transportError{op: c.method + " " + c.path, err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return &transportError{op: c.method + " " + c.path, err: err}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return decodeProblem(res.StatusCode, res.Header, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("merchant: decode answer of %s: %w", c.path, err)
	}
	return nil
}

// transportError is a request that got no answer; with an idempotency key
// it is safe to send again.
type transportError struct {
	op  string
	err error
}

func (e *transportError) Error() string { return "merchant: " + e.op + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// retryable: no answer, a 5xx (the gateway keeps no 5xx result, so the
// retry runs) or the first attempt still running — unless the caller gave
// up.
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

func (m *Merchant) sleep(ctx context.Context, d time.Duration) error {
	if m.Sleep != nil {
		return m.Sleep(ctx, d)
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

// client is m.HTTP, or one that times out and follows no redirect: an
// API call redirected elsewhere is a misconfiguration, not something to
// chase with a bearer key.
func (m *Merchant) client() *http.Client {
	if m.HTTP != nil {
		return m.HTTP
	}
	return &http.Client{
		Timeout:       defaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// paymentPath is /v1/payments/{id}[suffix]; ids are checked first, so the
// escaping is belt and braces.
func paymentPath(id, suffix string) string {
	return "/v1/payments/" + url.PathEscape(id) + suffix
}

// validTransactionID is a gateway id ("ptx_…"): it goes into a URL path,
// so nothing that could change the path is sent.
func validTransactionID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
