package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
)

var (
	errTwoCredentials = errs.ErrInvalid.WithField("Authorization")
	errBadScheme      = errs.New(errs.Unauthenticated, "unsupported_auth_scheme", "Use Authorization: Bearer <token> or ApiKey <key>.", "Authorization 헤더에 Bearer <토큰> 또는 ApiKey <키>를 사용하세요.")
)

// Credential kinds, as named in audit entries and challenges.
const (
	viaJWT    = "jwt"
	viaAPIKey = "api_key"
)

type principalKey struct{}

// principalFrom returns the authenticated institution, if any.
func principalFrom(ctx context.Context) (*institution.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*institution.Principal)
	return p, ok && p != nil
}

// authInstitution authenticates the caller, enforces the route's scope and
// charges the client's quota.
func (s *Server) authInstitution(w http.ResponseWriter, r *http.Request, rt route) (*http.Request, error) {
	via, raw, err := credentialOf(r)
	if err != nil {
		challenge(w, "")
		return r, err
	}
	p, err := s.authenticate(r.Context(), via, raw)
	if err != nil {
		return r, s.authFailed(w, r, via, err)
	}
	if rt.scope != "" && !p.Has(rt.scope) {
		return r, institution.ErrScope
	}
	if err := s.limit(r.Context(), "client:"+p.ClientID, s.ClientLimit); err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), nil
}

// credentialOf finds the one credential of a request. Two at once is refused
// (RFC 6750 §2): which one counted would depend on our parsing order.
func credentialOf(r *http.Request) (via, raw string, err error) {
	authz, keys := r.Header.Values("Authorization"), r.Header.Values("X-Api-Key")
	switch {
	case len(authz)+len(keys) == 0:
		return "", "", errs.ErrUnauth
	case len(authz)+len(keys) > 1:
		return "", "", errTwoCredentials
	case len(keys) == 1:
		return viaAPIKey, strings.TrimSpace(keys[0]), nil
	}
	scheme, value, _ := strings.Cut(authz[0], " ")
	value = strings.TrimSpace(value)
	switch {
	case strings.EqualFold(scheme, "Bearer") && value != "":
		return viaJWT, value, nil
	case strings.EqualFold(scheme, "ApiKey") && value != "":
		return viaAPIKey, value, nil
	}
	return "", "", errBadScheme
}

func (s *Server) authenticate(ctx context.Context, via, raw string) (*institution.Principal, error) {
	if via == viaJWT {
		return s.Tokens.Verify(ctx, raw)
	}
	return s.Institutions.AuthenticateAPIKey(ctx, raw)
}

// authFailed records a refused credential and sets the challenge. Only the
// reason code is recorded: a wrong key may be a real key with a typo.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, via string, err error) error {
	e := errs.As(err)
	if e == nil || e.Kind != errs.Unauthenticated {
		return err // the lookup failed, not the caller
	}
	challenge(w, via)
	s.auditFailure(r.Context(), e.Code)
	return err
}

// auditFailure appends an auth.failure entry. A failure to record it is
// logged but does not change the answer, which is a refusal either way.
func (s *Server) auditFailure(ctx context.Context, reason string) {
	entry := audit.Fill(ctx, audit.Entry{
		Time:    s.Now().UTC(),
		Actor:   "anonymous",
		Action:  "auth.failure",
		Target:  routeOf(ctx),
		Result:  audit.ResultFailure,
		Details: map[string]string{"reason": reason},
	})
	if err := s.Audit.AppendAudit(ctx, entry); err != nil {
		s.Logger.ErrorContext(ctx, "audit append failed", "err", err, "action", entry.Action)
	}
}

// challenge sets WWW-Authenticate for the scheme tried, or both when none.
func challenge(w http.ResponseWriter, via string) {
	h := w.Header()
	switch via {
	case viaJWT:
		h.Set("WWW-Authenticate", `Bearer realm="haechi", error="invalid_token"`)
	case viaAPIKey:
		h.Set("WWW-Authenticate", `ApiKey realm="haechi"`)
	default:
		h.Set("WWW-Authenticate", `Bearer realm="haechi"`)
		h.Add("WWW-Authenticate", `ApiKey realm="haechi"`)
	}
}

// ping is the authenticated no-op: it shows who the caller is.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	respond(w, http.StatusOK, map[string]any{"client_id": p.ClientID, "scopes": scopes, "via": p.Via})
	return nil
}

// maxApplicantToken bounds the token read from the header.
const maxApplicantToken = 256

// authApplicant checks the applicant token against the {id} session: a
// token opens its own session and no other. Any refusal, an unknown
// session included, is the same 401, so a token holder learns nothing
// about other sessions' ids. The session's institution must still be
// allowed eKYC: revoking it ends its applicants' access too.
func (s *Server) authApplicant(w http.ResponseWriter, r *http.Request) (*http.Request, error) {
	v, err := s.verifications()
	if err != nil {
		return r, err
	}
	id, token, ok := applicantCredential(r)
	if !ok {
		return r, s.applicantRefused(w, r, ekyc.ErrApplicantToken)
	}
	instID, err := v.Authenticate(r.Context(), id, token)
	if k := errs.KindOf(err); k == errs.Unauthenticated || k == errs.NotFound {
		return r, s.applicantRefused(w, r, err)
	} else if err != nil {
		return r, err
	}
	switch ok, err := s.institutionOffers(r.Context(), instID, institution.ScopeEKYC); {
	case err != nil:
		return r, err
	case !ok:
		return r, s.applicantRefused(w, r, institution.ErrScope)
	}
	if err := s.limit(r.Context(), "applicant:"+id, s.ClientLimit); err != nil {
		return r, err
	}
	a := &applicant{sessionID: id}
	return r.WithContext(context.WithValue(r.Context(), applicantKey{}, a)), nil
}

// applicantCredential reads the {id} session and the one Bearer token.
func applicantCredential(r *http.Request) (id, token string, ok bool) {
	authz := r.Header.Values("Authorization")
	if len(authz) != 1 || len(r.Header.Values("X-Api-Key")) != 0 {
		return "", "", false
	}
	scheme, token, _ := strings.Cut(authz[0], " ")
	token = strings.TrimSpace(token)
	id, err := pathID(r)
	if err != nil || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxApplicantToken {
		return "", "", false
	}
	return id, token, true
}

// applicantRefused records the refusal by the reason's code and answers
// the one applicant-token problem with its challenge.
func (s *Server) applicantRefused(w http.ResponseWriter, r *http.Request, reason error) error {
	code := ekyc.ErrApplicantToken.Code
	if e := errs.As(reason); e != nil {
		code = e.Code
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="haechi-applicant", error="invalid_token"`)
	s.auditFailure(r.Context(), code)
	return ekyc.ErrApplicantToken
}
