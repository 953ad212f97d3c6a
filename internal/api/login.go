package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/session"
)

// headerDPoP carries the DPoP proof (RFC 9449).
const headerDPoP = "DPoP"

var errDPoPScheme = errs.New(errs.Unauthenticated, "dpop_required",
	"Use Authorization: DPoP <token> with a DPoP proof.", "Authorization 헤더에 DPoP <토큰>과 DPoP 증명을 보내세요.")

// loginService returns the login service, or 503 when the server has none.
func (s *Server) loginService() (*login.Service, error) {
	if s.Login == nil {
		return nil, errs.ErrUnavailable
	}
	return s.Login, nil
}

// loginBusy sheds logins while the hash pool is full: checked before the
// device signature, whose nonce and proof would each cost a database write
// that a login refused for lack of a hash slot does not need. Biometric
// logins, which hash nothing, are shed with the rest; the answer is the
// same 503 with Retry-After either way.
func (s *Server) loginBusy() error {
	if s.Login != nil && s.Login.Credentials != nil && s.Login.Credentials.Hasher.Full() {
		return crypto.ErrBusy
	}
	return nil
}

// requestURL is the URL the client addressed, as a DPoP proof's htu names
// it: scheme, host and path, without query or fragment. Behind a proxy the
// configured public URL names scheme, host and path prefix, since the Host
// and scheme the server sees are the proxy's, not the client's.
func (s *Server) requestURL(r *http.Request) string {
	if s.PublicURL != nil {
		return s.PublicURL.Scheme + "://" + s.PublicURL.Host + s.PublicURL.EscapedPath() + r.URL.EscapedPath()
	}
	scheme := "http"
	if r.TLS != nil || s.TLS {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

// dpopProof returns the one DPoP header of a request.
func dpopProof(r *http.Request) (string, error) {
	v := r.Header.Values(headerDPoP)
	if len(v) != 1 || v[0] == "" {
		return "", session.ErrProofInvalid
	}
	return v[0], nil
}

// secretText reads a secret sent as a PIN string, or a pattern as an array
// of nodes (or a string holding one), in the form the credential package
// reads.
func secretText(b json.RawMessage) (string, error) {
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	if b[0] == '[' {
		return string(b), nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", errs.ErrInvalid.WithField("secret")
	}
	return s, nil
}

type credentialRequest struct {
	Secret json.RawMessage `json:"secret"`
}

// setCredential sets a PIN or pattern for the signing device's customer. A
// session of the same device (Authorization: DPoP) allows replacing one.
func (s *Server) setCredential(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	dev, ok := deviceFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	var req credentialRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	secret, err := secretText(req.Secret)
	if err != nil {
		return err
	}
	loggedIn, err := s.sessionOfDevice(r, dev.ID)
	if err != nil {
		return err
	}
	if err := ls.SetCredential(r.Context(), dev, r.PathValue("method"), secret, loggedIn); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionOfDevice reports whether the request carries a valid session of
// this device; no Authorization header is simply false.
func (s *Server) sessionOfDevice(r *http.Request, deviceID string) (bool, error) {
	if len(r.Header.Values("Authorization")) == 0 {
		return false, nil
	}
	p, err := s.authenticateSession(r)
	if err != nil {
		return false, err
	}
	if p.DeviceID != deviceID {
		return false, session.ErrTokenInvalid
	}
	return true, nil
}

type customerLoginRequest struct {
	Method    string          `json:"method"`
	Secret    json.RawMessage `json:"secret"`
	Biometric bool            `json:"biometric"`
}

type tokensView struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) viewTokens(t *session.Tokens) tokensView {
	secs := int64(t.AccessExpires.Sub(s.Now()).Round(time.Second) / time.Second)
	return tokensView{AccessToken: t.Access, TokenType: "DPoP", ExpiresIn: max(secs, 0), RefreshToken: t.Refresh}
}

// createLogin is a customer's login: the device signature (checked by the
// route's auth), the DPoP proof of the same key, and the PIN, pattern or
// biometric flag, under the lockout ladder.
func (s *Server) createLogin(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	dev, ok := deviceFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	var req customerLoginRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	secret, err := secretText(req.Secret)
	if err != nil {
		return err
	}
	jkt, err := s.spendLoginProof(r)
	if err != nil {
		return err
	}
	meta := lockout.Meta{Actor: dev.InstitutionID, RequestID: audit.MetaFrom(r.Context()).RequestID, IP: s.clientIP(r).String(), Fingerprint: dev.Fingerprint}
	in := login.Input{Method: req.Method, Secret: secret, Biometric: req.Biometric}
	t, err := ls.Login(r.Context(), dev, in, jkt, meta)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	respond(w, http.StatusOK, s.viewTokens(t))
	return nil
}

// spendLoginProof verifies the login's DPoP proof for this request and
// spends its jti, returning its key's thumbprint.
func (s *Server) spendLoginProof(r *http.Request) (string, error) {
	proof, err := dpopProof(r)
	if err != nil {
		return "", err
	}
	return s.Login.Sessions.SpendProof(r.Context(), proof, r.Method, s.requestURL(r))
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (q *refreshRequest) Validate() error {
	if q.RefreshToken == "" {
		return errs.ErrInvalid.WithField("refresh_token")
	}
	return nil
}

func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	var req refreshRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	proof, err := dpopProof(r)
	if err != nil {
		return err
	}
	t, err := ls.Sessions.Refresh(r.Context(), req.RefreshToken, proof, r.Method, s.requestURL(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	respond(w, http.StatusOK, s.viewTokens(t))
	return nil
}

// authenticateSession checks Authorization: DPoP <token> with its proof.
func (s *Server) authenticateSession(r *http.Request) (*session.Principal, error) {
	ls, err := s.loginService()
	if err != nil {
		return nil, err
	}
	authz := r.Header.Values("Authorization")
	if len(authz) != 1 {
		return nil, errDPoPScheme
	}
	scheme, token, _ := strings.Cut(authz[0], " ")
	if !strings.EqualFold(scheme, "DPoP") || token == "" {
		return nil, errDPoPScheme
	}
	proof, err := dpopProof(r)
	if err != nil {
		return nil, err
	}
	return ls.Sessions.Authenticate(r.Context(), token, proof, r.Method, s.requestURL(r))
}

func (s *Server) currentSession(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateSession(r)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `DPoP realm="haechi", algs="ES256"`)
		}
		return err
	}
	respond(w, http.StatusOK, map[string]string{"customer_id": p.CustomerID, "device_id": p.DeviceID})
	return nil
}
