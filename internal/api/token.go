package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
)

// tokenBodyLimit is ample for a client-credentials form.
const tokenBodyLimit = 4 << 10

// maxScopeLen bounds the scope parameter.
const maxScopeLen = 256

var errUnsupportedGrant = errs.New(errs.Invalid, "unsupported_grant_type", "Only the client_credentials grant is supported.", "client_credentials 그랜트만 지원합니다.")

// token is the OAuth2 client credentials grant (RFC 6749 §4.4). Errors use
// the RFC's codes as problem codes.
func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	switch grant := form.Get("grant_type"); {
	case grant == "":
		return errs.ErrInvalid.WithField("grant_type")
	case grant != "client_credentials":
		return errUnsupportedGrant.WithField("grant_type")
	}
	id, secret, err := clientCredentials(r, form)
	if err == nil {
		err = s.issue(w, r, id, secret, form)
	}
	if errors.Is(err, institution.ErrBadClient) {
		w.Header().Set("WWW-Authenticate", `Basic realm="haechi"`)
		s.auditFailure(r.Context(), institution.ErrBadClient.Code)
	}
	return err
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request, id, secret string, form url.Values) error {
	scopes, err := parseScope(form)
	if err != nil {
		return err
	}
	p, err := s.Institutions.AuthenticateSecret(r.Context(), id, secret, scopes)
	if err != nil {
		return err
	}
	tok, exp, err := s.Tokens.Issue(r.Context(), p)
	if err != nil {
		return err
	}
	w.Header().Set("Pragma", "no-cache") // RFC 6749 §5.1, for HTTP/1.0 caches
	respond(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int64(exp.Sub(s.Now()).Seconds()),
		"scope":        strings.Join(p.Scopes, " "),
	})
	return nil
}

// readForm reads the urlencoded body. Parameters in the URL are refused (a
// secret there ends up in logs), and no parameter may repeat (RFC 6749 §3.2).
// Unknown parameters are ignored, as the RFC requires.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.URL.RawQuery != "" {
		return nil, errs.ErrInvalid.WithField("query")
	}
	if checkMediaType(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") != nil {
		return nil, errContentForm
	}
	body, err := readBody(w, r, tokenBodyLimit)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errs.ErrInvalid
	}
	for k, v := range form {
		if len(v) != 1 {
			return nil, errs.ErrInvalid.WithField(safeField(k))
		}
	}
	return form, nil
}

// clientCredentials takes the client's id and secret from HTTP Basic or from
// the form, never both (RFC 6749 §2.3.1 allows one method per request).
func clientCredentials(r *http.Request, form url.Values) (id, secret string, err error) {
	authz := r.Header.Values("Authorization")
	_, formID := form["client_id"]
	_, formSecret := form["client_secret"]
	switch {
	case len(authz) > 1:
		return "", "", errs.ErrInvalid.WithField("Authorization")
	case len(authz) == 1 && (formID || formSecret):
		return "", "", errs.ErrInvalid.WithField("client_secret")
	case len(authz) == 1:
		return basicCredentials(r)
	case formID && formSecret:
		return form.Get("client_id"), form.Get("client_secret"), nil
	}
	return "", "", institution.ErrBadClient
}

// basicCredentials decodes Basic auth, whose parts are form-encoded first
// (RFC 6749 §2.3.1).
func basicCredentials(r *http.Request) (id, secret string, err error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", institution.ErrBadClient
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return "", "", institution.ErrBadClient
	}
	return id, secret, nil
}

// parseScope splits the space-delimited scope parameter (RFC 6749 §3.3).
// Absent means every scope the client holds.
func parseScope(form url.Values) ([]string, error) {
	raw, ok := form["scope"]
	if !ok {
		return nil, nil
	}
	if raw[0] == "" || len(raw[0]) > maxScopeLen {
		return nil, institution.ErrBadScope.WithField("scope")
	}
	scopes := strings.Split(raw[0], " ")
	for _, sc := range scopes {
		if sc == "" {
			return nil, institution.ErrBadScope.WithField("scope")
		}
	}
	return scopes, nil
}
