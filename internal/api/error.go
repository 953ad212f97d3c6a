package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/text/language"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
)

// problemBase prefixes every problem type URI; the suffix is the stable code.
const problemBase = "https://haechi.dev/problems/"

// Errors raised by the HTTP layer itself.
var (
	errRouteNotFound    = errs.New(errs.NotFound, "not_found", "No such route.", "해당 경로가 없습니다.")
	errMethodNotAllowed = errs.New(errs.Invalid, "method_not_allowed", "The method is not allowed on this route.", "이 경로에서 허용되지 않는 메서드입니다.")
	errRateLimited      = errs.New(errs.TooManyRequests, "rate_limited", "Too many requests; slow down.", "요청이 너무 많습니다. 잠시 후 다시 시도하세요.")
	errNotReady         = errs.New(errs.Unavailable, "not_ready", "The service is not ready.", "서비스가 준비되지 않았습니다.")
)

// problem is the RFC 9457 body. Only fields of an *errs.Error reach it, never
// a cause.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Code     string `json:"code"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Field    string `json:"field,omitempty"`
	// RemainingAttempts is how many more failures a counted refusal (a
	// device registration step) allows before restriction mode.
	RemainingAttempts *int `json:"remaining_attempts,omitempty"`
}

var kindStatus = map[errs.Kind]int{
	errs.Internal:         http.StatusInternalServerError,
	errs.Invalid:          http.StatusBadRequest,
	errs.Unauthenticated:  http.StatusUnauthorized,
	errs.Forbidden:        http.StatusForbidden,
	errs.NotFound:         http.StatusNotFound,
	errs.Conflict:         http.StatusConflict,
	errs.TooLarge:         http.StatusRequestEntityTooLarge,
	errs.UnsupportedMedia: http.StatusUnsupportedMediaType,
	errs.TooManyRequests:  http.StatusTooManyRequests,
	errs.Unavailable:      http.StatusServiceUnavailable,
	errs.Locked:           http.StatusLocked,
}

// statusOf maps an error to its status. The one code-based exception is 405,
// which has no kind of its own because only the router raises it.
func statusOf(e *errs.Error) int {
	if e.Code == errMethodNotAllowed.Code {
		return http.StatusMethodNotAllowed
	}
	if st, ok := kindStatus[e.Kind]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// error is the one way an error leaves the server: it logs what the client
// must not see, counts the code and writes a problem document.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	e := s.public(r, err)
	status := statusOf(e)
	ko := prefersKorean(r)
	p := problem{
		Type:     problemBase + e.Code,
		Title:    e.EN,
		Status:   status,
		Code:     e.Code,
		Instance: audit.MetaFrom(r.Context()).RequestID,
		Field:    e.Field,
	}
	if ko {
		p.Title = e.KO
	}
	if n, ok := device.Remaining(err); ok {
		p.RemainingAttempts = &n
	}
	h := w.Header()
	if secs := retryAfterSeconds(e, status); secs > 0 {
		h.Set("Retry-After", strconv.Itoa(secs))
		p.Detail = retryDetail(secs, ko)
	}
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="haechi"`)
	}
	s.metrics.errors.WithLabelValues(e.Code).Inc()
	writeProblem(w, p, ko)
}

func writeProblem(w http.ResponseWriter, p problem, ko bool) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Language", "en")
	if ko {
		h.Set("Content-Language", "ko")
	}
	h.Add("Vary", "Accept-Language")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	// The encoding of a struct of strings and an int cannot fail; a write
	// error means the client left.
	_ = json.NewEncoder(w).Encode(p)
}

// public turns err into what the client may see, logging anything hidden.
func (s *Server) public(r *http.Request, err error) *errs.Error {
	if errors.Is(err, crypto.ErrBusy) {
		return errs.ErrUnavailable.WithRetryAfter(time.Second)
	}
	e := errs.As(err)
	if e != nil && e.Kind != errs.Internal {
		return e
	}
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		s.Logger.InfoContext(r.Context(), "request abandoned by client", "err", err, "request_id", audit.MetaFrom(r.Context()).RequestID)
	} else {
		s.Logger.ErrorContext(r.Context(), "internal error", "err", err, "request_id", audit.MetaFrom(r.Context()).RequestID, "route", routeOf(r.Context()))
	}
	return errs.ErrInternal
}

// retryAfterSeconds rounds the wait up to whole seconds; 429 and 503 always
// carry at least one.
func retryAfterSeconds(e *errs.Error, status int) int {
	secs := int((e.RetryAfter + time.Second - 1) / time.Second)
	if secs < 1 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
		secs = 1
	}
	return secs
}

func retryDetail(secs int, ko bool) string {
	if ko {
		return strconv.Itoa(secs) + "초 후에 다시 시도하세요."
	}
	return "Retry after " + strconv.Itoa(secs) + " seconds."
}

// langMatcher knows what the server speaks, English first as the fallback. A Matcher
// is read-only, so one shared value is safe.
var langMatcher = language.NewMatcher([]language.Tag{language.English, language.Korean})

// prefersKorean applies the Accept-Language header. Oversized or malformed
// headers fall back to English.
func prefersKorean(r *http.Request) bool {
	h := r.Header.Get("Accept-Language")
	if h == "" || len(h) > 256 {
		return false
	}
	tags, _, err := language.ParseAcceptLanguage(h)
	if err != nil || len(tags) == 0 {
		return false
	}
	_, idx, conf := langMatcher.Match(tags...)
	return idx == 1 && conf != language.No
}
