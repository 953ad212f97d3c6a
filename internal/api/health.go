package api

import (
	"context"
	_ "embed"
	"net/http"
	"time"
)

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	respond(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 503 while the database does not; load balancers then send
// traffic elsewhere.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.Logger.WarnContext(ctx, "not ready", "err", err)
			return errNotReady.WithRetryAfter(5 * time.Second)
		}
	}
	respond(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) metricsPage(w http.ResponseWriter, r *http.Request) error {
	s.prom.ServeHTTP(w, r)
	return nil
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
	return nil
}

// jwks publishes the token verification keys; caches may keep them briefly,
// which is why a rotated-out key stays published for a while.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	b, err := s.Tokens.JWKS()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
	return nil
}
