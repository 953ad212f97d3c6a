package checkout

import (
	"net/http"
	"net/http/httptest"
	"net/url"
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
	for _, p := range []string{"/checkout", "/checkout/checkout.js", "/checkout/checkout.css", "/checkout/", "/checkout/x"} {
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
	html, js := file(t, "index.html"), file(t, "checkout.js")
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
