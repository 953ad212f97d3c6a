package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/haechi/haechi/internal/testbrowser"
	"github.com/pquerna/otp/totp"
)

// The whole browser run is bounded, and so is each step inside it, so a page
// that never shows what the test waits for fails in seconds, not at the
// `go test` deadline.
const (
	consoleTotal = 60 * time.Second
	consoleStep  = 15 * time.Second
)

// pageLog collects what the page writes to its console. The listener runs on
// chromedp's reading goroutine, so it only appends under the lock.
type pageLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *pageLog) listen(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			parts = append(parts, a.Description+string(a.Value))
		}
		line = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *log.EventEntryAdded:
		line = "log " + string(ev.Entry.Source) + "/" + string(ev.Entry.Level) + ": " + ev.Entry.Text
	case *runtime.EventExceptionThrown:
		line = "exception: " + ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			line += " " + ex.Description
		}
	default:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// matching returns the collected lines that contain sub.
func (l *pageLog) matching(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return out
}

// browser is one headless Chromium tab pointed at a demo server.
type browser struct {
	ctx  context.Context
	d    *demoServer
	page *pageLog
}

// newBrowser starts Chromium with a throwaway profile.
func newBrowser(t *testing.T, d *demoServer) *browser {
	t.Helper()
	b := &browser{d: d, page: &pageLog{}}
	b.ctx = testbrowser.Start(t, consoleTotal, []chromedp.ExecAllocatorOption{chromedp.WindowSize(1280, 1100)},
		chromedp.WithListener(b.page.listen))
	return b
}

// do runs steps under the per-step timeout; what names the step in failures.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.dump(t)
		t.Fatalf("%s: %v", what, err)
	}
}

// dump logs what a person would see when a step fails: the error line and
// the page's console.
func (b *browser) dump(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
	defer cancel()
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#error").textContent`))
	t.Logf("#error: %q (%v)\npage log:\n%s", msg, err, strings.Join(b.page.matching(""), "\n"))
}

// eval evaluates a JavaScript expression (promises awaited) into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the text content of the first element sel matches.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`document.querySelector(%s).textContent`, jsString(sel)))
}

// hidden reports whether the element sel matches carries the hidden attribute.
func (b *browser) hidden(t *testing.T, sel string) bool {
	t.Helper()
	return eval[bool](t, b, fmt.Sprintf(`document.querySelector(%s).hidden`, jsString(sel)))
}

// waitText waits until the text of sel contains want. The page fills its
// views after fetches resolve, so a single read would race them.
func (b *browser) waitText(t *testing.T, sel, want string) {
	t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").includes(%s)`, jsString(sel), jsString(want))
	ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("%s never contained %q (now %q): %v", sel, want, b.text(t, sel), err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// signIn fills the login form as a person types and submits it. The fields
// are emptied first through their value property: chromedp.Clear only resets
// the value attribute, which an input that was typed into ignores.
func (b *browser) signIn(t *testing.T, user, password, code string) {
	t.Helper()
	eval[bool](t, b, `(document.querySelectorAll("#login-form input").forEach(i => { i.value = ""; }), true)`)
	b.do(t, "fill the login form",
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("#login-button")),
	)
}

// wrongTOTP returns six digits that no nearby time step accepts, so the
// server's clock-skew window cannot turn the "wrong" code into a right one.
func wrongTOTP(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for step := -2; step <= 2; step++ {
		c, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(step)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		valid[c] = true
	}
	for d := '0'; d <= '9'; d++ {
		if c := strings.Repeat(string(d), 6); !valid[c] {
			return c
		}
	}
	t.Fatal("every candidate code is valid")
	return ""
}

// sessionCookie reads the HttpOnly session cookie from the browser's jar,
// which page script cannot do.
func (b *browser) sessionCookie(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.d.base + "/"}})
	if err != nil {
		t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == cookieName {
			return c.Value
		}
	}
	return ""
}

const cookieName = "haechi_session" // plain HTTP demo: no __Host- prefix

var shownSecretRe = regexp.MustCompile(`client_id: (\S+)\nclient_secret: (\S+)`)

// meWithCookie asks the API who the cookie belongs to, outside the browser.
func (b *browser) meWithCookie(t *testing.T, token string) int {
	t.Helper()
	code, _ := get(t, b.d.base+"/v1/operator/me", map[string]string{"Cookie": cookieName + "=" + token})
	return code
}

func TestConsoleInChromium(t *testing.T) {
	d := startDemo(t, t.TempDir())
	b := newBrowser(t, d)
	start := time.Now()
	var oldToken, clientID, secret string
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ok/login form shown", func(t *testing.T) {
			b.do(t, "open the console", chromedp.Navigate(d.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			if !b.hidden(t, "#home-view") {
				t.Fatal("home view visible before login")
			}
		}},
		{"error/wrong code stays on login", func(t *testing.T) {
			b.signIn(t, d.opUser, d.opPassword, wrongTOTP(t, d.totpSecret))
			b.do(t, "wait for the error", chromedp.WaitVisible(chromedp.CSS("#error")))
			b.waitText(t, "#error", "invalid_credentials")
			if b.hidden(t, "#login-view") || !b.hidden(t, "#home-view") {
				t.Fatal("a wrong code left the login view")
			}
		}},
		{"ok/login shows whoami", func(t *testing.T) {
			b.signIn(t, d.opUser, d.opPassword, mustTOTP(t, d.totpSecret))
			b.do(t, "wait for home", chromedp.WaitVisible(chromedp.CSS("#home-view")))
			b.waitText(t, "#whoami", d.opUser)
			if !b.hidden(t, "#login-view") || !b.hidden(t, "#error") {
				t.Fatal("login view or error still shown after login")
			}
			if eval[string](t, b, `document.querySelector("#password").value`) != "" {
				t.Fatal("password left in the form after login")
			}
		}},
		{"ok/audit panel lists seeding events", func(t *testing.T) {
			for _, action := range []string{"client.create", "api_key.create", "operator.create", "operator.login"} {
				b.waitText(t, "#events tbody", action)
			}
		}},
		{"ok/verify chain intact", func(t *testing.T) {
			b.do(t, "click verify", chromedp.Click(chromedp.CSS("#verify-button")))
			b.waitText(t, "#verify-result", "intact")
		}},
		{"ok/create institution", func(t *testing.T) {
			b.do(t, "fill the client form",
				chromedp.SendKeys(chromedp.CSS("#client-name"), "Chromedp Bank"),
				chromedp.Click(chromedp.CSS("#scope-ekyc")),
				chromedp.Click(chromedp.CSS("#client-create")),
				chromedp.WaitVisible(chromedp.CSS("#client-secret")),
			)
			b.waitText(t, "#client-secret", "client_secret:")
			b.waitText(t, "#clients tbody", "Chromedp Bank")
			rows := eval[[][]string](t, b, `[...document.querySelectorAll("#clients tbody tr")].map(r => [...r.cells].map(c => c.textContent))`)
			if !hasRow(rows, "Chromedp Bank", "ekyc", "active") {
				t.Fatalf("clients table lacks an active ekyc row for Chromedp Bank: %q", rows)
			}
			m := shownSecretRe.FindStringSubmatch(b.text(t, "#client-secret"))
			if m == nil {
				t.Fatalf("secret block = %q", b.text(t, "#client-secret"))
			}
			clientID, secret = m[1], m[2]
			// The shown secret must be the real one: it obtains a token.
			form := url.Values{"grant_type": {"client_credentials"}}
			req, _ := http.NewRequest("POST", d.base+"/v1/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(clientID, secret)
			if code, body := do(t, req); code != 200 {
				t.Fatalf("token with the shown secret = %d %v", code, body)
			}
		}},
		{"ok/screenshot of home", func(t *testing.T) {
			path := os.Getenv("HAECHI_TEST_CONSOLE_SCREENSHOT")
			if path == "" {
				t.Skip("set HAECHI_TEST_CONSOLE_SCREENSHOT=/tmp/console.png to save one")
			}
			ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
			defer cancel()
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, png, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"ok/sign out ends the session", func(t *testing.T) {
			oldToken = b.sessionCookie(t)
			if oldToken == "" || b.meWithCookie(t, oldToken) != 200 {
				t.Fatalf("no working session cookie before sign out (cookie set: %v)", oldToken != "")
			}
			b.do(t, "sign out", chromedp.Click(chromedp.CSS("#logout-button")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			if !b.hidden(t, "#home-view") || b.text(t, "#whoami") != "" {
				t.Fatal("home view or whoami still shown after sign out")
			}
			// Whoever sits down next must not find the last operator's
			// shown-once secret or tables left in the page.
			if eval[bool](t, b, fmt.Sprintf(`document.documentElement.outerHTML.includes(%s)`, jsString(secret))) {
				t.Fatal("the shown-once client secret stays in the page after sign out")
			}
			if n := eval[int](t, b, `document.querySelectorAll("#home-view tbody tr").length`); n != 0 {
				t.Fatalf("%d table rows stay in the page after sign out", n)
			}
			if got := eval[int](t, b, `fetch("/v1/operator/me", {credentials: "same-origin"}).then(r => r.status)`); got != 401 {
				t.Fatalf("page GET /me after sign out = %d; want 401", got)
			}
			// The browser dropped the cookie; the server must also have
			// ended the session, or a stolen copy would live on.
			if got := b.meWithCookie(t, oldToken); got != 401 {
				t.Fatalf("GET /me with the old cookie = %d; want 401", got)
			}
		}},
		{"ok/no CSP violations or exceptions", func(t *testing.T) {
			for _, sub := range []string{"Content Security Policy", "exception:"} {
				if bad := b.page.matching(sub); len(bad) > 0 {
					t.Fatalf("page logged %q:\n%s", sub, strings.Join(bad, "\n"))
				}
			}
		}},
		{"ok/CSP watcher sees a violation", func(t *testing.T) {
			// An inline style attribute breaks style-src 'self'; if the
			// listener missed this one, the check above proves nothing.
			eval[bool](t, b, `(document.body.setAttribute("style", "color: red"), true)`)
			deadline := time.Now().Add(5 * time.Second)
			for len(b.page.matching("Content Security Policy")) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("a deliberate CSP violation was not seen in the page log")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}
	t.Logf("browser scenario took %v", time.Since(start).Round(time.Millisecond))
}

// hasRow reports whether a table row has the name, scopes and status given.
func hasRow(rows [][]string, name, scopes, status string) bool {
	for _, r := range rows {
		if len(r) >= 4 && r[1] == name && r[2] == scopes && r[3] == status {
			return true
		}
	}
	return false
}
