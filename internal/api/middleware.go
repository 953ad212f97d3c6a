package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/ratelimit"
)

// reqInfo is filled as the request moves inward and read by the outer
// middleware (logs, metrics) once it is done.
type reqInfo struct {
	route string
	ip    netip.Addr
}

type infoKey struct{}

// infoFrom never returns nil, so code outside the middleware (tests) is safe.
func infoFrom(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

func routeOf(ctx context.Context) string {
	if r := infoFrom(ctx).route; r != "" {
		return r
	}
	return "unmatched"
}

// identify gives the request an id (the client's if well-formed) and the
// client's address, and puts both where audit entries pick them up.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = crypto.NewID("req_")
		}
		w.Header().Set("X-Request-Id", id)
		ip := s.clientIP(r)
		ctx := audit.WithMeta(r.Context(), audit.Meta{RequestID: id, ClientIP: ipString(ip)})
		ctx = context.WithValue(ctx, infoKey{}, &reqInfo{ip: ip})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID accepts ^[A-Za-z0-9._-]{1,64}$: safe to log and to echo.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For entry that is not itself a trusted proxy.
// Entries left of that were written by the client and prove nothing.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ip := peerAddr(r.RemoteAddr)
	if !s.trusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		ip = hop.Unmap().WithZone("")
		if !s.trusted(ip) {
			break
		}
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// secureHeaders sets the headers every response carries. The API serves no
// HTML, so its CSP forbids everything, framing included.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			h.Set("Cache-Control", "no-store")
		}
		if s.TLS {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs and counts each request. It logs the route pattern, never
// the raw URL (query strings may carry secrets) and never a header value.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		elapsed := time.Since(start)
		route, method, status := routeOf(r.Context()), methodLabel(r.Method), strconv.Itoa(sw.status)
		s.metrics.requests.WithLabelValues(route, method, status).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		meta := audit.MetaFrom(r.Context())
		s.Logger.LogAttrs(r.Context(), levelFor(sw.status), "request",
			slog.String("method", method), slog.String("route", route), slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("request_id", meta.RequestID), slog.String("client_ip", meta.ClientIP),
			slog.Int64("bytes", sw.bytes))
	})
}

// recoverer turns a panic into a logged internal error. The client sees the
// generic problem, never the panic value or a stack.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the server's own signal to drop the connection
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				s.Logger.ErrorContext(r.Context(), "panic after response started", "err", err)
				return
			}
			s.error(w, r, err)
		}()
		next.ServeHTTP(w, r)
	})
}

// levelFor logs server errors as errors and everything else as info.
func levelFor(status int) slog.Level {
	if status >= http.StatusInternalServerError {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// limitIP applies the per-IP quota before any route, so that unauthenticated
// floods (credential guessing included) are throttled before they cost a
// database lookup.
func (s *Server) limitIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := "ip:" + ipKey(infoFrom(r.Context()).ip)
		if err := s.limit(r.Context(), key, s.IPLimit); err != nil {
			s.error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ipKey groups IPv6 clients by /64: one subscriber usually holds a whole
// /64 and could otherwise rotate addresses to escape the limit.
func ipKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ipString(ip)
}

// limit charges one request to key. A failing backend lets the request
// through: limits protect capacity, not security state, which the database
// keeps. The failure is logged and counted so it does not go unnoticed.
func (s *Server) limit(ctx context.Context, key string, q ratelimit.Quota) error {
	if s.Limiter == nil || !q.Enabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	d, err := s.Limiter.Allow(ctx, key, q)
	if err != nil {
		s.metrics.limitErrors.Inc()
		s.Logger.WarnContext(ctx, "rate limiter failed; allowing request", "err", err)
		return nil
	}
	if !d.Allowed {
		return errRateLimited.WithRetryAfter(d.RetryAfter)
	}
	return nil
}
