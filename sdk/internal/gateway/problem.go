package gateway

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// maxRetryAfter bounds a Retry-After worth reading at all.
const maxRetryAfter = 366 * 24 * time.Hour

// APIError is a problem+json answer of the gateway. Code is the stable
// thing to test ("transaction_abnormal", "confirm_mismatch", …); the
// body's other members are kept only when harmless to log.
type APIError struct {
	Status     int
	Code       string
	Title      string
	Field      string
	RetryAfter time.Duration // Retry-After in seconds; 0 when absent

	sdk string // the SDK that got the answer, which prefixes Error
}

func (e *APIError) Error() string {
	sdk := e.sdk
	if sdk == "" {
		sdk = "gateway"
	}
	return sdk + ": gateway answered " + strconv.Itoa(e.Status) + " " + e.Code
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
func decodeProblem(sdk string, status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, Code: "http_" + strconv.Itoa(status), RetryAfter: parseRetryAfter(h.Get("Retry-After")), sdk: sdk}
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
