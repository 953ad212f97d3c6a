// Package console serves the operator console: static pages that drive the
// operator API (/v1/operator/...) from the browser. The pages carry no
// secrets and no inline script, so the strict Content-Security-Policy below
// holds; the session cookie is HttpOnly and every state change sends the
// CSRF token the login returned.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// CSP allows only same-origin scripts, styles and API calls.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the console under prefix (e.g. "/console/").
func Handler(prefix string) http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix(prefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}
