package api

import "net/http"

// AddTestRoute adds a public route that exists only in tests (a handler that
// panics, for instance). It must be called before Handler.
func AddTestRoute(s *Server, method, pattern string, h http.HandlerFunc) {
	s.extra = append(s.extra, route{method: method, pattern: pattern, handle: func(w http.ResponseWriter, r *http.Request) error {
		h(w, r)
		return nil
	}})
}

// AddScopedTestRoute adds an institution route needing scope that answers
// 204, so that scope enforcement can be tested before any capability route
// names a scope.
func AddScopedTestRoute(s *Server, method, pattern, scope string) {
	s.extra = append(s.extra, route{method: method, pattern: pattern, auth: authInstitution, scope: scope,
		handle: func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
}
