package passkey

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/testbrowser"
)

// browserTotal bounds the whole browser run, so a ceremony that never
// resolves fails in seconds rather than at the go test deadline.
const browserTotal = 60 * time.Second

// ceremonyPage is what a bank's web front end does: fetch the options,
// turn their base64url fields into ArrayBuffers for the WebAuthn API, and
// post the credential back with its ArrayBuffers as base64url.
const ceremonyPage = `<!doctype html>
<meta charset="utf-8">
<title>haechi passkey test</title>
<script>
const b64u = {
  decode(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    s += "=".repeat((4 - s.length % 4) % 4);
    return Uint8Array.from(atob(s), c => c.charCodeAt(0)).buffer;
  },
  encode(buf) {
    let s = "";
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) throw new Error(path + ": " + r.status + " " + j.code);
  return j;
}

function base(cred) {
  return {id: cred.id, rawId: b64u.encode(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults()};
}

async function register() {
  const {session, options} = await post("/register/begin", {});
  const pk = options.publicKey;
  pk.challenge = b64u.decode(pk.challenge);
  pk.user.id = b64u.decode(pk.user.id);
  for (const c of pk.excludeCredentials || []) c.id = b64u.decode(c.id);
  const cred = await navigator.credentials.create({publicKey: pk});
  const body = base(cred);
  body.response = {
    clientDataJSON: b64u.encode(cred.response.clientDataJSON),
    attestationObject: b64u.encode(cred.response.attestationObject),
    transports: cred.response.getTransports(),
  };
  return post("/register/finish?session=" + encodeURIComponent(session), body);
}

async function login() {
  const {session, options} = await post("/login/begin", {});
  const pk = options.publicKey;
  pk.challenge = b64u.decode(pk.challenge);
  for (const c of pk.allowCredentials || []) c.id = b64u.decode(c.id);
  const cred = await navigator.credentials.get({publicKey: pk});
  const body = base(cred);
  body.response = {
    clientDataJSON: b64u.encode(cred.response.clientDataJSON),
    authenticatorData: b64u.encode(cred.response.authenticatorData),
    signature: b64u.encode(cred.response.signature),
  };
  if (cred.response.userHandle) body.response.userHandle = b64u.encode(cred.response.userHandle);
  return post("/login/finish?session=" + encodeURIComponent(session), body);
}
</script>
<p>ready</p>
`

// relyingParty is the test's server side: the service, one customer and
// what the browser last posted, kept to replay it.
type relyingParty struct {
	svc *Service

	mu        sync.Mutex
	user      User
	lastID    map[string]string // ceremony → session id of the last finish
	lastBody  map[string][]byte
	loginSeen *Credential
}

func (rp *relyingParty) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, ceremonyPage)
	})
	mux.HandleFunc("POST /register/begin", rp.begin(rp.svc.BeginRegistration))
	mux.HandleFunc("POST /login/begin", rp.begin(rp.svc.BeginLogin))
	mux.HandleFunc("POST /register/finish", rp.finish("register", rp.finishRegistration))
	mux.HandleFunc("POST /login/finish", rp.finish("login", rp.finishLogin))
	return mux
}

func (rp *relyingParty) current() User {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	u := rp.user
	u.Existing = slices.Clone(u.Existing) // callers must not see later counter updates
	return u
}

func (rp *relyingParty) begin(fn func(context.Context, User) (json.RawMessage, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		opts, id, err := fn(r.Context(), rp.current())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"session": id, "options": opts})
	}
}

func (rp *relyingParty) finish(ceremony string, fn func(context.Context, string, []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			writeError(w, ErrInvalid.WithCause(err))
			return
		}
		id := r.URL.Query().Get("session")
		rp.mu.Lock()
		rp.lastID[ceremony], rp.lastBody[ceremony] = id, body
		rp.mu.Unlock()
		out, err := fn(r.Context(), id, body)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (rp *relyingParty) finishRegistration(ctx context.Context, id string, body []byte) (any, error) {
	c, err := rp.svc.FinishRegistration(ctx, id, rp.current(), body)
	if err != nil {
		return nil, err
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.user.Existing = append(rp.user.Existing, *c)
	return map[string]any{"format": c.AttestationFormat, "signCount": c.SignCount}, nil
}

func (rp *relyingParty) finishLogin(ctx context.Context, id string, body []byte) (any, error) {
	c, err := rp.svc.FinishLogin(ctx, id, rp.current(), body)
	if err != nil {
		return nil, err
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.loginSeen = c
	rp.user.Existing[0].SignCount = c.SignCount
	return map[string]any{"signCount": c.SignCount}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := "internal"
	if e := errs.As(err); e != nil {
		code = e.Code
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"code": code})
}

// startChromium opens a headless tab with a throwaway profile, bounded by
// browserTotal.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	return testbrowser.Start(t, browserTotal, nil)
}

// addPlatformAuthenticator gives the tab a virtual platform authenticator
// (a phone's secure element, as far as the page can tell) that verifies
// the user and answers presence checks at once.
func addPlatformAuthenticator(t *testing.T, tab context.Context) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

type ceremonyResult struct {
	Format    string `json:"format"`
	SignCount uint32 `json:"signCount"`
}

func runCeremony(t *testing.T, tab context.Context, call string) ceremonyResult {
	t.Helper()
	raw, err := chromedp.Run(tab, chromedp.Evaluate[json.RawMessage](call, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s in the browser: %v", call, err)
	}
	return decodeJSON[ceremonyResult](t, raw)
}

// TestBrowserCeremonies registers a passkey and logs in with it from real
// Chromium, whose virtual authenticator signs as a device would, then
// replays both answers the browser posted.
func TestBrowserCeremonies(t *testing.T) {
	tab := startChromium(t)
	rp := &relyingParty{lastID: map[string]string{}, lastBody: map[string][]byte{},
		user: User{ID: []byte("cus_browser0001"), Name: "010-****-5678", DisplayName: "김*수"}}
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	// http://localhost is a secure context, as WebAuthn requires; the
	// server listens on 127.0.0.1, which Chromium resolves localhost to.
	origin := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	svc, err := New(Config{RPID: "localhost", RPName: "Haechi Test Bank", Origins: []string{origin}}, newMemStore(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	rp.svc = svc
	srv.Config.Handler = rp.handler()

	if _, err := chromedp.Run(tab, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	authID := addPlatformAuthenticator(t, tab)

	reg := runCeremony(t, tab, "register()")
	stored := rp.current().Existing
	t.Run("ok/registration verified and stored", func(t *testing.T) {
		if len(stored) != 1 || len(stored[0].PublicKeyCOSE) == 0 || reg.Format != stored[0].AttestationFormat {
			t.Fatalf("stored %+v, browser saw %+v", stored, reg)
		}
		creds, err := chromedp.Call(tab, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
		if err != nil || len(creds.Credentials) != 1 || string(creds.Credentials[0].CredentialID) != string(stored[0].ID) {
			t.Fatalf("authenticator holds %+v (%v), server stored id %x", creds, err, stored[0].ID)
		}
		t.Logf("attestation %s/%s, sign count %d", stored[0].AttestationFormat, stored[0].AttestationType, stored[0].SignCount)
	})

	login := runCeremony(t, tab, "login()")
	t.Run("ok/assertion verified and counter advanced", func(t *testing.T) {
		rp.mu.Lock()
		seen := rp.loginSeen
		rp.mu.Unlock()
		if seen == nil || string(seen.ID) != string(stored[0].ID) {
			t.Fatalf("login used %+v, want credential %x", seen, stored[0].ID)
		}
		if login.SignCount <= stored[0].SignCount || seen.SignCount != login.SignCount {
			t.Fatalf("sign count after login %d (server %d), at registration %d", login.SignCount, seen.SignCount, stored[0].SignCount)
		}
	})

	for _, ceremony := range []string{"register", "login"} {
		t.Run("error/replayed "+ceremony+" answer", func(t *testing.T) {
			rp.mu.Lock()
			id, body := rp.lastID[ceremony], rp.lastBody[ceremony]
			rp.mu.Unlock()
			var err error
			if ceremony == "register" {
				_, err = svc.FinishRegistration(t.Context(), id, rp.current(), body)
			} else {
				_, err = svc.FinishLogin(t.Context(), id, rp.current(), body)
			}
			wantCode(t, err, ErrSessionInvalid)
		})
	}

	testRefusedAssertions(t, tab, rp, authID)

}

// testRefusedAssertions has the virtual authenticator send a bogus
// signature, then clear the user-verified bit: the server must refuse both
// and leave the stored counter alone.
func testRefusedAssertions(t *testing.T, tab context.Context, rp *relyingParty, authID webauthn.AuthenticatorID) {
	overrides := []struct {
		name string
		bits webauthn.SetResponseOverrideBitsParams
	}{
		{"error/bogus signature refused by the server", webauthn.SetResponseOverrideBitsParams{IsBogusSignature: ptr(true)}},
		{"error/user verification bit cleared refused by the server", webauthn.SetResponseOverrideBitsParams{IsBadUV: ptr(true)}},
	}
	for _, tc := range overrides {
		t.Run(tc.name, func(t *testing.T) {
			tc.bits.AuthenticatorID = authID
			if _, err := chromedp.Call(tab, webauthn.SetResponseOverrideBits, tc.bits); err != nil {
				t.Fatalf("WebAuthn.setResponseOverrideBits: %v", err)
			}
			defer chromedp.Call(tab, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: authID})
			before := rp.current().Existing[0].SignCount
			_, err := chromedp.Run(tab, chromedp.Evaluate[json.RawMessage]("login()", chromedp.EvalAwaitPromise))
			if err == nil || !strings.Contains(err.Error(), ErrInvalid.Code) {
				t.Fatalf("login() = %v, want the server to answer %s", err, ErrInvalid.Code)
			}
			if after := rp.current().Existing[0].SignCount; after != before {
				t.Fatalf("a refused login moved the stored counter from %d to %d", before, after)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
