// Package api is haechi's HTTP layer: routing, strict input decoding, RFC 9457
// problem responses, authentication of institutions and operators, rate
// limits, security headers, logs and metrics. Domain rules live in the
// capability packages; handlers here only translate HTTP to calls on them.
package api

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/oauth"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/ratelimit"
)

// Server holds what the handlers need. Set the fields, call Handler once, and
// change nothing afterwards.
type Server struct {
	Institutions *institution.Service
	Tokens       *oauth.Issuer
	Operators    *operator.Service
	Customers    *customer.Service
	// Devices runs device registration and its recoveries; WebAuthn is its
	// passkey path (nil: the passkey routes answer 503); DeviceRequests
	// verifies device-signed requests; Directory finds a customer's
	// institution for operator routes.
	Devices        *device.Service
	WebAuthn       *device.WebAuthn
	DeviceRequests *device.Requests
	Directory      Directory
	// Login runs customer logins, credentials, sessions and the lockout
	// ladder (nil: those routes answer 503).
	Login *login.Service
	// Verifications runs eKYC sessions (nil: those routes answer 503);
	// SecurityMedia registers institutions' OTP media and Webhooks sets
	// their event endpoints (each nil: its route answers 503).
	Verifications *ekyc.Service
	SecurityMedia SecurityMedia
	Webhooks      Webhooks
	// FDS scores events and serves the risk routes (nil: they answer 503);
	// Risk, when set, hears of every operator write as it finishes.
	FDS  *fds.Engine
	Risk RiskObserver
	// Payments is the payment gateway: checkout, authorization and the
	// merchant routes (nil: they answer 503). Idempotency keeps the
	// responses of its state-changing calls for retries.
	Payments    *payment.Service
	Idempotency *idempotency.Service

	Audit    audit.Store
	AuditKey ed25519.PublicKey
	// Ready reports whether the database answers; nil means always ready.
	Ready func(ctx context.Context) error

	// Limiter enforces IPLimit before authentication and ClientLimit after
	// it; nil (or a zero quota) means no limit.
	Limiter     ratelimit.Limiter
	IPLimit     ratelimit.Quota
	ClientLimit ratelimit.Quota

	Logger   *slog.Logger
	Registry *prometheus.Registry
	Now      func() time.Time
	// TLS turns on HSTS and Secure, __Host- session cookies.
	TLS bool
	// PublicURL is the base URL clients address (behind a proxy that
	// terminates TLS or rewrites Host); DPoP proofs must name it. Nil: the
	// request's own scheme and Host.
	PublicURL *url.URL
	// BodyLimit caps JSON request bodies (DefaultBodyLimit when 0).
	BodyLimit int64
	// TrustedProxies may set X-Forwarded-For; from anyone else it is ignored.
	TrustedProxies []netip.Prefix
	// Console serves the operator console under /console/ (nil: none).
	Console http.Handler
	// Simulators, when set, mounts the demo-only simulator routes. They are
	// not part of the API: outside the route table and the OpenAPI
	// document, and never set in production.
	Simulators *Simulators

	metrics *metrics
	prom    http.Handler
	// extra routes are added by tests only; they are not part of the API.
	extra []route
}

// Handler returns the whole API with its middleware.
func (s *Server) Handler() http.Handler {
	s.defaults()
	mux := http.NewServeMux()
	for _, rt := range slices.Concat(s.routes(), s.simulatorRoutes(), s.extra) {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	if s.Console != nil {
		// The console's pages are static files, not API routes: they sit
		// outside the route table and the OpenAPI document.
		mux.Handle("GET /console/", s.Console)
		mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	}
	// Outermost first: identify the request, set headers, observe it,
	// catch panics, then limit by IP before any route (and its auth) runs.
	var h http.Handler = s.dispatch(mux)
	h = s.limitIP(h)
	h = s.recoverer(h)
	h = s.observe(h)
	h = s.secureHeaders(h)
	return s.identify(h)
}

func (s *Server) defaults() {
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	if s.BodyLimit <= 0 {
		s.BodyLimit = DefaultBodyLimit
	}
	s.metrics = newMetrics(s.Registry)
	s.prom = promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
}

// handlerFunc is a route's handler; a returned error goes to s.error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap runs a route: it records the route for logs and metrics, then
// serves it, reporting operator writes to the risk observer.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = rt.pattern
		if s.observesOperator(rt, r) {
			s.runObserved(w, r, rt)
			return
		}
		s.serveRoute(w, r, rt)
	})
}

// serveRoute applies the route's authentication, then calls the handler.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt route) {
	var err error
	if rt.shed != nil {
		err = rt.shed()
	}
	if err == nil {
		r, err = s.authorize(w, r, rt)
	}
	if err == nil {
		err = rt.handle(w, r)
	}
	if err != nil {
		s.error(w, r, err)
	}
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rt route) (*http.Request, error) {
	switch rt.auth {
	case authInstitution:
		return s.authInstitution(w, r, rt)
	case authOperatorLogin:
		return r, s.checkSameOrigin(r)
	case authOperator:
		return s.authOperator(r, rt)
	case authDevice:
		return s.authDevice(w, r)
	case authApplicant:
		return s.authApplicant(w, r)
	}
	return r, nil
}

// dispatch answers unmatched requests with problem documents instead of the
// router's plain-text pages.
func (s *Server) dispatch(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Ask the router what it would have said, to tell 404 from 405.
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			s.error(w, r, errMethodNotAllowed)
			return
		}
		s.error(w, r, errRouteNotFound)
	})
}

// headerRecorder keeps a status and headers and drops the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }
