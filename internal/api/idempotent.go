package api

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idempotency"
)

var errIdempotencyOff = errs.New(errs.Unavailable, "idempotency_not_configured",
	"Idempotency keys are not configured on this server.", "이 서버에는 Idempotency-Key 처리가 설정되어 있지 않습니다.")

// replayedHeader marks a response answered from the one kept for its key,
// so a client can tell that nothing ran this time.
const replayedHeader = "Idempotent-Replayed"

// keepTimeout bounds keeping or releasing a key after the call ran.
const keepTimeout = 5 * time.Second

// idempotent runs a state-changing call at most once per Idempotency-Key
// under scope and writes its response. A repeat with the same fingerprint
// gets the kept status and body byte for byte; see package idempotency for
// the refusals. A result a retry could change (5xx, 429) is not kept: the
// key is released so the retry runs.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, scope string, fingerprint []byte,
	run func() (status int, body any, err error)) {
	if s.Idempotency == nil {
		s.error(w, r, errIdempotencyOff)
		return
	}
	o, err := s.Idempotency.Begin(r.Context(), scope, r.Header.Get(idempotency.Header), fingerprint)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if o.Replay != nil {
		writeReplay(w, *o.Replay)
		return
	}
	buf := s.runHeld(w, r, o, run)
	if kept(buf.status) {
		s.keep(r, o, idempotency.Response{Status: buf.status, Body: buf.body.Bytes()})
	} else {
		s.release(r, o)
	}
	buf.copyTo(w)
}

// runHeld runs the call and renders its response, success or problem, to a
// buffer: the bytes kept are then exactly the bytes sent. Headers go
// straight to w, which has sent nothing yet. A panic releases
// the key before it goes on to the recoverer, so a retry is not refused as
// in progress until the lease lapses.
func (s *Server) runHeld(w http.ResponseWriter, r *http.Request, o *idempotency.Outcome, run func() (int, any, error)) *responseBuffer {
	defer func() {
		if p := recover(); p != nil {
			s.release(r, o)
			panic(p)
		}
	}()
	buf := &responseBuffer{header: w.Header()}
	status, body, err := run()
	if err != nil {
		s.error(buf, r, err)
	} else {
		respond(buf, status, body)
	}
	return buf
}

// kept reports whether a response is final for its key. Server failures
// and rate limits say nothing about the request, so a retry must run.
func kept(status int) bool {
	return status < http.StatusInternalServerError && status != http.StatusTooManyRequests
}

// keep stores the response for the key. The call has run by now, so the
// client gets its answer even if keeping it fails; the key then stays
// pending until its lease lapses. The store is reached even when the client
// has gone, or its retry would find the key in progress and then run again.
func (s *Server) keep(r *http.Request, o *idempotency.Outcome, resp idempotency.Response) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), keepTimeout)
	defer cancel()
	if err := s.Idempotency.Finish(ctx, o, resp); err != nil {
		s.Logger.ErrorContext(ctx, "keep idempotent response", "err", err,
			"request_id", audit.MetaFrom(r.Context()).RequestID, "route", routeOf(r.Context()))
	}
}

// release frees the key so a retry runs anew.
func (s *Server) release(r *http.Request, o *idempotency.Outcome) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), keepTimeout)
	defer cancel()
	if err := s.Idempotency.Abandon(ctx, o); err != nil {
		s.Logger.ErrorContext(ctx, "release idempotency key", "err", err,
			"request_id", audit.MetaFrom(r.Context()).RequestID, "route", routeOf(r.Context()))
	}
}

// writeReplay sends a kept response. Only errors below 500 are kept and
// every one of them is a problem document.
func writeReplay(w http.ResponseWriter, resp idempotency.Response) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if resp.Status >= http.StatusBadRequest {
		h.Set("Content-Type", "application/problem+json")
	}
	h.Set(replayedHeader, "true")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// responseBuffer holds a response's status and body until it has been kept;
// its headers are the real response's.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// copyTo sends the buffered status and body.
func (b *responseBuffer) copyTo(w http.ResponseWriter) {
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
