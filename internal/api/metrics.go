package api

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP layer's Prometheus series. Label values come from
// fixed sets (route patterns, known methods, error codes), never from raw
// request data, so an attacker cannot grow the series without bound.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	limitErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haechi_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "haechi_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"})),
		errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haechi_http_errors_total",
			Help: "Problem responses by error code.",
		}, []string{"code"})),
		limitErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "haechi_ratelimit_errors_total",
			Help: "Rate limiter backend failures; requests were let through.",
		})),
	}
}

// register adds c to reg, or returns the collector already there, so that a
// second Handler on the same registry shares its series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		panic(err) // a name clash between our own metrics: a programming error
	}
	return c
}

// methodLabel keeps the method label to the standard set.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}
