package deviceapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// maxRetryAfter bounds a Retry-After the client believes: a server asking
// for more than a year is broken, not busy.
const maxRetryAfter = 366 * 24 * time.Hour

// Problem is an RFC 9457 problem document the server answered with. Only
// what the server chose to show is here; Code is the stable thing to test.
type Problem struct {
	Status int
	Code   string
	Title  string
	Detail string
	Field  string
	// RemainingAttempts is how many more failures the customer and device
	// have before restriction, when the server says so.
	RemainingAttempts *int
	// RetryAfter is the Retry-After header (delay seconds); 0 when absent.
	RetryAfter time.Duration
}

func (p *Problem) Error() string {
	if p.Title == "" {
		return fmt.Sprintf("%d %s", p.Status, p.Code)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Title)
}

// problemBody is the wire form; unknown members are ignored, as RFC 9457
// asks of clients.
type problemBody struct {
	Code              string `json:"code"`
	Title             string `json:"title"`
	Detail            string `json:"detail"`
	Field             string `json:"field"`
	RemainingAttempts *int   `json:"remaining_attempts"`
}

// DecodeProblem turns an error answer into a Problem. A body that is not a
// problem document (a proxy's HTML page, say) still gives a Problem with the
// status and the code "http_<status>", so callers can always inspect one.
func DecodeProblem(status int, h http.Header, body []byte) *Problem {
	p := &Problem{Status: status, Code: "http_" + strconv.Itoa(status), RetryAfter: parseRetryAfter(h.Get("Retry-After"))}
	if !isProblemJSON(h.Get("Content-Type")) {
		return p
	}
	var b problemBody
	if err := json.Unmarshal(body, &b); err != nil {
		return p
	}
	if b.Code != "" {
		p.Code = b.Code
	}
	p.Title, p.Detail, p.Field = b.Title, b.Detail, b.Field
	if b.RemainingAttempts != nil && *b.RemainingAttempts >= 0 {
		p.RemainingAttempts = b.RemainingAttempts
	}
	return p
}

func isProblemJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/problem+json" || mt == "application/json")
}

// parseRetryAfter reads the delay-seconds form, the only one haechi sends.
// Anything else (an HTTP date, garbage, a negative or absurd number) is 0.
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

// AsProblem returns the Problem inside err, if any.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}

// CodeOf is the problem code of err, "" when err is not a server's answer
// (nil, a network failure, a decoding error).
func CodeOf(err error) string {
	if p, ok := AsProblem(err); ok {
		return p.Code
	}
	return ""
}
