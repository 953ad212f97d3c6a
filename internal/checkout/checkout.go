// Package checkout serves the browser checkout page, the gateway's "PG
// program" of Heo & Lee's protocol (steps 4–15): the merchant redirects the
// buyer to /checkout with the order's payment information S in the query;
// the page shows it, sends it as C with TID_C to the gateway, and asks for
// card data only when the gateway answers NORMAL. An optional return_url
// in the query is the merchant's way back: after an approved payment the
// page links to it with transaction_id added, but only when it is a path
// of this origin ("/shop/return?…"); anything else is ignored, so the page
// is no open redirect (static/return.js).
//
// The page is four static files with no inline script or style, so the
// strict Content-Security-Policy below holds: scripts, styles and API calls
// from this origin only, and no form may be submitted natively (the card
// form is sent by script; a native submit would put the card number in a
// URL). Nothing is served but those files: no directory listing, no index
// redirects.
package checkout

import (
	"embed"
	"net/http"
	"strconv"
)

//go:embed static
var static embed.FS

// CSP is the page's Content-Security-Policy.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Path is where the page lives; its assets are under Path + "/".
const Path = "/checkout"

// asset is one served file.
type asset struct {
	name string // file under static/
	typ  string
}

// assets maps request paths to files; anything else is 404.
var assets = map[string]asset{
	Path:                   {"index.html", "text/html; charset=utf-8"},
	Path + "/checkout.js":  {"checkout.js", "text/javascript; charset=utf-8"},
	Path + "/return.js":    {"return.js", "text/javascript; charset=utf-8"},
	Path + "/checkout.css": {"checkout.css", "text/css; charset=utf-8"},
}

// Serves reports whether path is the page or one of its assets.
func Serves(path string) bool {
	_, ok := assets[path]
	return ok
}

// Handler serves the page and its assets to GET and HEAD.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := static.ReadFile("static/" + a.name)
	if err != nil { // cannot happen: the files are embedded
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The page's address carries the order; it must not leak to other
	// origins through Referer, nor stay in shared caches.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", a.typ)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
