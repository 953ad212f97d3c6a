package deviceapp

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Login methods.
const (
	MethodPIN       = "pin"
	MethodPattern   = "pattern"
	MethodBiometric = "biometric"
)

// Tokens are what a login or a refresh issues: a short-lived access token
// bound to the app key (each call with it carries a fresh DPoP proof) and a
// refresh token that the next refresh replaces.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Session is who an access token speaks for.
type Session struct {
	CustomerID string `json:"customer_id"`
	DeviceID   string `json:"device_id"`
}

// SetCredential sets (or replaces) the customer's PIN or pattern from this
// device, by a device-signed request.
func (a *App) SetCredential(ctx context.Context, method, secret string) error {
	in := map[string]string{"secret": secret}
	return a.SignedDo(ctx, http.MethodPut, credentialPath(method), in, nil)
}

// ChangeCredential replaces a PIN or pattern that is set: the device signs
// the request and the access token of a session on this device, with its
// DPoP proof, shows the customer logged in.
func (a *App) ChangeCredential(ctx context.Context, method, secret, accessToken string) error {
	path := credentialPath(method)
	proof, err := a.DPoPProof(http.MethodPut, endpoint(a.Server, path), accessToken)
	if err != nil {
		return err
	}
	extra := http.Header{HeaderDPoP: {proof}, "Authorization": {"DPoP " + accessToken}}
	return a.signedDoWith(ctx, http.MethodPut, path, map[string]string{"secret": secret}, nil, extra)
}

func credentialPath(method string) string { return "/v1/credentials/" + url.PathEscape(method) }

type loginRequest struct {
	Method    string `json:"method"`
	Secret    string `json:"secret,omitempty"`
	Biometric bool   `json:"biometric,omitempty"`
}

// Login logs in with a PIN or pattern: the device's signature over a fresh
// nonce proves possession, the secret knowledge, and the DPoP proof names
// the key the tokens are bound to.
func (a *App) Login(ctx context.Context, method, secret string) (*Tokens, error) {
	return a.login(ctx, loginRequest{Method: method, Secret: secret})
}

// LoginBiometric logs in by the phone's biometry, which unlocked the app
// key that signs the request.
func (a *App) LoginBiometric(ctx context.Context) (*Tokens, error) {
	return a.login(ctx, loginRequest{Method: MethodBiometric, Biometric: true})
}

func (a *App) login(ctx context.Context, in loginRequest) (*Tokens, error) {
	const path = "/v1/logins"
	proof, err := a.DPoPProof(http.MethodPost, endpoint(a.Server, path), "")
	if err != nil {
		return nil, err
	}
	var out Tokens
	extra := http.Header{HeaderDPoP: {proof}}
	if err := a.signedDoWith(ctx, http.MethodPost, path, in, &out, extra); err != nil {
		return nil, err
	}
	return &out, nil
}

// Refresh trades a refresh token for new tokens; the old refresh token is
// spent, and spending it again revokes the whole family.
func (a *App) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	var out Tokens
	in := map[string]string{"refresh_token": refreshToken}
	if err := a.dpopDo(ctx, http.MethodPost, "/v1/sessions/refresh", "", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Current asks who the access token speaks for.
func (a *App) Current(ctx context.Context, accessToken string) (*Session, error) {
	var out Session
	if err := a.dpopDo(ctx, http.MethodGet, "/v1/sessions/current", accessToken, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// dpopDo sends a request with a DPoP proof and, when accessToken is set,
// the DPoP-bound Authorization header.
func (a *App) dpopDo(ctx context.Context, method, path, accessToken string, in, out any) error {
	req, err := jsonRequest(method, endpoint(a.Server, path), in)
	if err != nil {
		return err
	}
	proof, err := a.DPoPProof(method, req.url, accessToken)
	if err != nil {
		return err
	}
	req.header.Set(HeaderDPoP, proof)
	if accessToken != "" {
		req.header.Set("Authorization", "DPoP "+accessToken)
	}
	return send(ctx, orDefault(a.HTTP), req, out)
}

// signedDoWith is SignedDo with extra headers (a DPoP proof) that the
// device signature does not cover.
func (a *App) signedDoWith(ctx context.Context, method, path string, in, out any, extra http.Header) error {
	req, err := jsonRequest(method, endpoint(a.Server, path), in)
	if err != nil {
		return err
	}
	nonce, err := a.Nonce(ctx)
	if err != nil {
		return err
	}
	unix := nowOr(a.Now).Unix()
	sig, err := a.SignRequest(method, path, req.body, nonce, unix)
	if err != nil {
		return err
	}
	for k, vs := range extra {
		req.header[http.CanonicalHeaderKey(k)] = vs
	}
	req.header.Set(HeaderDeviceID, a.DeviceID)
	req.header.Set(HeaderNonce, nonce)
	req.header.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
	req.header.Set(HeaderSignature, b64.EncodeToString(sig))
	return send(ctx, orDefault(a.HTTP), req, out)
}

// LoginStepUpResult is the outcome of a login step-up: the verification
// methods that passed and the login methods lifted out of protection mode,
// whose PIN or pattern must now be replaced.
type LoginStepUpResult struct {
	Passed     []string `json:"passed"`
	Lifted     []string `json:"lifted"`
	MustChange bool     `json:"must_change"`
}

// LoginStepUp re-verifies a customer in protection mode with at least two
// methods of evidence; the customer must then set a new credential.
func (c *InstitutionClient) LoginStepUp(ctx context.Context, customerID string, ev Evidence) (*LoginStepUpResult, error) {
	var out LoginStepUpResult
	if err := c.call(ctx, http.MethodPost, customerPath(customerID, "login-step-up"), ev, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MethodState is one login method's ladder as operators see it.
type MethodState struct {
	Method       string    `json:"method"`
	Failures     int       `json:"failures"`
	DelayedUntil time.Time `json:"delayed_until"` // zero: no delay in force
	LockedUntil  time.Time `json:"locked_until"`  // zero: no lock in force
	Protected    bool      `json:"protected"`
}

// LoginState is a customer's ladder, one state per method.
type LoginState struct {
	CustomerID string        `json:"customer_id"`
	Methods    []MethodState `json:"methods"`
}

// Method is the state of method m, zero when the answer has none.
func (s *LoginState) Method(m string) MethodState {
	for _, st := range s.Methods {
		if st.Method == m {
			return st
		}
	}
	return MethodState{Method: m}
}

// LoginState reads a customer's lockout state.
func (o *OperatorClient) LoginState(ctx context.Context, customerID string) (*LoginState, error) {
	var st LoginState
	path := "/v1/operator/customers/" + url.PathEscape(customerID) + "/login-state"
	if err := o.call(ctx, http.MethodGet, path, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ClearLogin ends (as an agent) a temporary lock or delay of one method;
// reason is one of the server's reason codes. The count of failures stays.
func (o *OperatorClient) ClearLogin(ctx context.Context, customerID, method, reason string) error {
	path := "/v1/operator/customers/" + url.PathEscape(customerID) + "/login-state/" + url.PathEscape(method) + "/clear"
	return o.call(ctx, http.MethodPost, path, map[string]string{"reason": reason}, nil)
}

// LiftLoginProtection is a teller's branch reset of one method's
// protection mode; the secret must then be replaced.
func (o *OperatorClient) LiftLoginProtection(ctx context.Context, customerID, method string) error {
	path := "/v1/operator/customers/" + url.PathEscape(customerID) + "/login-protection/" + url.PathEscape(method) + "/lift"
	return o.call(ctx, http.MethodPost, path, nil, nil)
}
