package checkout

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func get(method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, "http://gw.example", nil)
	// Set the path raw so that "..", "//" and escapes reach the handler
	// as a client could send them.
	r.URL = &url.URL{Path: target}
	Handler().ServeHTTP(w, r)
	return w
}

func TestHandlerServesAssets(t *testing.T) {
	tests := []struct {
		path, typ, contains string
	}{
		{"/checkout", "text/html; charset=utf-8", `<script src="/checkout/checkout.js" defer></script>`},
		{"/checkout/checkout.js", "text/javascript; charset=utf-8", `"/v1/checkout/transactions"`},
		{"/checkout/checkout.css", "text/css; charset=utf-8", "#error"},
		{"/checkout/return.js", "text/javascript; charset=utf-8", "function safeReturnPath"},
	}
	for _, tc := range tests {
		t.Run("ok"+tc.path, func(t *testing.T) {
			w := get("GET", tc.path)
			if w.Code != 200 {
				t.Fatalf("GET %s = %d", tc.path, w.Code)
			}
			h := w.Header()
			want := map[string]string{
				"Content-Type":            tc.typ,
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-store",
				"X-Frame-Options":         "DENY",
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(w.Body.String(), tc.contains) {
				t.Errorf("body of %s lacks %q", tc.path, tc.contains)
			}
		})
	}
}

func TestHandlerRefusesEverythingElse(t *testing.T) {
	for _, p := range []string{
		"/checkout/", "/checkout/index.html", "/checkout/static/checkout.js", "/checkout/static/",
		"/checkout/../checkout/checkout.js", "/checkout//checkout.js", "/checkout/checkout.js/",
		"/checkout/nope.js", "/checkout/CHECKOUT.JS", "/checkoutx", "/", "/checkout/checkout.go",
	} {
		t.Run("error"+p, func(t *testing.T) {
			w := get("GET", p)
			if w.Code != http.StatusNotFound {
				t.Fatalf("GET %s = %d, want 404", p, w.Code)
			}
			if strings.Contains(w.Body.String(), "<a href") || strings.Contains(w.Body.String(), "checkout.js") {
				t.Fatalf("GET %s listed files: %q", p, w.Body.String())
			}
		})
	}
	t.Run("error/POST", func(t *testing.T) {
		w := get("POST", "/checkout")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Fatalf("POST = %d, Allow %q", w.Code, w.Header().Get("Allow"))
		}
	})
	t.Run("ok/HEAD has headers, no body", func(t *testing.T) {
		w := get("HEAD", "/checkout")
		if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" ||
			w.Header().Get("Content-Security-Policy") != CSP {
			t.Fatalf("HEAD = %d, %d bytes, headers %v", w.Code, w.Body.Len(), w.Header())
		}
	})
}

func TestServesMatchesHandler(t *testing.T) {
	for _, p := range []string{"/checkout", "/checkout/checkout.js", "/checkout/return.js", "/checkout/checkout.css", "/checkout/", "/checkout/x"} {
		if got, want := Serves(p), get("GET", p).Code == 200; got != want {
			t.Errorf("Serves(%q) = %v, handler served it: %v", p, got, want)
		}
	}
}

func file(t *testing.T, name string) string {
	t.Helper()
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPageKeepsToItsPolicy checks by reading the files what the CSP
// enforces in the browser, plus what it cannot: the script never builds
// HTML from strings, so a value from the address cannot become markup.
func TestPageKeepsToItsPolicy(t *testing.T) {
	html, js := file(t, "index.html"), file(t, "checkout.js")+file(t, "return.js")
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(\s[^>]*)?>[^<]+</script>`), // inline script
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`), // inline handlers
		regexp.MustCompile(`(src|href)="(https?:)?//`),
	} {
		if bad.MatchString(html) {
			t.Errorf("index.html matches %s", bad)
		}
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "Math.random"} {
		if strings.Contains(js, bad) {
			t.Errorf("checkout.js uses %s", bad)
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if !Serves(m[1]) {
			t.Errorf("index.html references %s, which is not served", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`\$\("#([a-z-]+)"\)`).FindAllStringSubmatch(js, -1) {
		if !strings.Contains(html, `id="`+m[1]+`"`) {
			t.Errorf("checkout.js uses #%s, which index.html lacks", m[1])
		}
	}
	for _, ac := range []string{`autocomplete="cc-number"`, `autocomplete="cc-exp"`, `autocomplete="cc-csc"`} {
		if !strings.Contains(html, ac) {
			t.Errorf("card form lacks %s", ac)
		}
	}
}

// FuzzHandlerPath: only the three known paths are ever served, whatever
// the path.
func FuzzHandlerPath(f *testing.F) {
	for _, s := range []string{"/checkout", "/checkout/checkout.js", "/checkout/../go.mod", "/checkout/%2e%2e/", "/checkout/\x00", "//checkout"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		w := get("GET", p)
		switch {
		case w.Code == 200 && !Serves(p):
			t.Fatalf("served %q", p)
		case w.Code != 200 && Serves(p):
			t.Fatalf("did not serve %q: %d", p, w.Code)
		case w.Code == 200 && w.Header().Get("Content-Security-Policy") != CSP:
			t.Fatalf("%q served without the CSP", p)
		}
	})
}

// runNode runs script under Node.js after return.js, or skips when Node
// is missing (fails when the services are required, as the browser tests
// do for Chromium).
func runNode(t *testing.T, script string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		const msg = "node not found on PATH; install it (apt-get install nodejs) to test the checkout page's script"
		if os.Getenv("HAECHI_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, "-e", file(t, "return.js")+"\n"+script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return string(out)
}

// TestReturnURLIsNeverAnOpenRedirect runs the page's own return_url check
// (return.js): only a path of the page's origin is followed.
func TestReturnURLIsNeverAnOpenRedirect(t *testing.T) {
	const origin = "http://gw.example:8080"
	tests := []struct{ raw, want string }{
		{"/demo-shop/return?order_no=o-1", "/demo-shop/return?order_no=o-1&transaction_id=pay_1"},
		{"/shop/back", "/shop/back?transaction_id=pay_1"},
		{"/shop?transaction_id=forged", "/shop?transaction_id=pay_1"}, // the page's id wins
		{"/shop#frag", "/shop?transaction_id=pay_1"},
		{"/a/../b", "/b?transaction_id=pay_1"},
		{"https://evil.example/steal", ""},
		{"http://gw.example:8080/shop", ""}, // absolute, even our own: only paths
		{"//evil.example/x", ""},
		{"/\\evil.example/x", ""},
		{"\\\\evil.example", ""},
		{"/\t/evil.example", ""},
		{"/ /evil.example", ""},
		{"javascript:alert(1)", ""},
		{"JavaScript:alert(1)", ""},
		{" /shop", ""},
		{"data:text/html,hi", ""},
		{"shop/back", ""},
		{"", ""},
		{"/" + strings.Repeat("a", 1100), ""},
	}
	var raws []string
	for _, tc := range tests {
		raws = append(raws, jsQuote(tc.raw))
	}
	out := runNode(t, "for (const r of ["+strings.Join(raws, ",")+"]) console.log(JSON.stringify(returnHref(r, "+
		jsQuote(origin)+", \"pay_1\")));\nconsole.log(JSON.stringify(returnHref(\"/shop\", "+jsQuote(origin)+", \"\")));")
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != len(tests)+1 {
		t.Fatalf("node printed %d lines for %d cases:\n%s", len(got), len(tests)+1, out)
	}
	for i, tc := range tests {
		var href string
		if err := json.Unmarshal([]byte(got[i]), &href); err != nil || href != tc.want {
			t.Errorf("returnHref(%q) = %s, want %q", tc.raw, got[i], tc.want)
		}
	}
	if got[len(tests)] != `""` {
		t.Errorf("a link without a transaction id: %s", got[len(tests)])
	}
}

// TestReturnLinkIsShownOnlyWhenApproved: the page asks return.js, and
// shows the link by setting an attribute, never markup.
func TestReturnLinkIsShownOnlyWhenApproved(t *testing.T) {
	js, html := file(t, "checkout.js"), file(t, "index.html")
	if !strings.Contains(js, "if (approved) showReturn(") || !strings.Contains(js, "returnHref(raw, location.origin") {
		t.Fatal("checkout.js does not gate the return link on approval through returnHref")
	}
	if strings.Index(html, "/checkout/return.js") > strings.Index(html, "/checkout/checkout.js") {
		t.Fatal("return.js must load before checkout.js")
	}
	for _, bad := range []string{"location.href =", "location.assign", "location.replace", "window.open"} {
		if strings.Contains(js, bad) || strings.Contains(file(t, "return.js"), bad) {
			t.Errorf("the page navigates by itself (%s); it must only offer a link", bad)
		}
	}
}

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
