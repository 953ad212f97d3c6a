package checkout

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
	"strconv"
	"strings"
	"time"
)

// Limits of the gateway client.
const (
	maxAnswer      = 1 << 20
	defaultTimeout = 15 * time.Second
	maxRetries     = 3 // after the first attempt, all with the same Idempotency-Key
	firstBackoff   = 250 * time.Millisecond
	maxBackoff     = 5 * time.Second // a longer Retry-After is not waited for
	maxRetryAfter  = 366 * 24 * time.Hour
	minKeyLen      = 16
	maxKeyLen      = 128
)

// APIError is a problem+json answer of the gateway. Code is the stable
// thing to test ("transaction_abnormal", "card_network_unavailable", …).
type APIError struct {
	Status     int
	Code       string
	Title      string
	Field      string
	RetryAfter time.Duration // Retry-After in seconds; 0 when absent
}

func (e *APIError) Error() string {
	return "checkout: gateway answered " + strconv.Itoa(e.Status) + " " + e.Code
}

// CodeOf is the gateway's problem code inside err, "" when err is not a
// gateway answer.
func CodeOf(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

type problemBody struct {
	Code  string `json:"code"`
	Title string `json:"title"`
	Field string `json:"field"`
}

// decodeProblem turns an error answer into an *APIError; one that is not
// a problem document still gives one, with the code "http_<status>".
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

// parseRetryAfter reads the delay-seconds form; anything else is 0.
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

// NewIdempotencyKey is 26 random base32 characters from crypto/rand.
func NewIdempotencyKey() string { return rand.Text() }

// ValidIdempotencyKey is the gateway's rule: 16–128 of [A-Za-z0-9_-].
func ValidIdempotencyKey(s string) bool {
	return len(s) >= minKeyLen && len(s) <= maxKeyLen && idChars(s)
}

// validTransactionID is a gateway id ("ptx_…"); it goes into a URL path.
func validTransactionID(s string) bool {
	return s != "" && len(s) <= maxKeyLen && idChars(s)
}

func idChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// post sends in as JSON with key, retrying what is safe to retry with the
// same key, and decodes a 2xx answer into out. The body may hold card
// data: no error ever quotes it.
func (c *Client) post(ctx context.Context, path, key string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("checkout: encode %s: %w", path, err)
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, path, key, body, out)
		if attempt == maxRetries || !retryable(ctx, err) {
			return err
		}
		if err := c.sleep(ctx, backoff(attempt, err)); err != nil {
			return err
		}
	}
}

// once is a single attempt.
func (c *Client) once(ctx context.Context, path, key string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Gateway, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("checkout: POST %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	res, err := c.client().Do(req)
	if err != nil {
		return &transportError{path: path, err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return &transportError{path: path, err: err}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return decodeProblem(res.StatusCode, res.Header, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("checkout: decode answer of %s: %w", path, err)
	}
	return nil
}

// transportError is a request that got no answer: it may or may not have
// run, so only the same key may send it again.
type transportError struct {
	path string
	err  error
}

func (e *transportError) Error() string { return "checkout: POST " + e.path + ": " + e.err.Error() }
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

// backoff doubles from firstBackoff; a sane Retry-After wins.
func backoff(attempt int, err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) && e.RetryAfter > 0 && e.RetryAfter <= maxBackoff {
		return e.RetryAfter
	}
	return firstBackoff << attempt
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
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

// client is c.HTTP, or one that times out and follows no redirect: card
// data is not re-sent wherever a redirect points.
func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{
		Timeout:       defaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
