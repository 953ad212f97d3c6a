package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
)

// Session cookie names. With TLS the __Host- prefix makes browsers refuse the
// cookie unless it is Secure, host-only and Path=/, so a sibling subdomain
// cannot plant or shadow it.
const (
	cookiePlain = "haechi_session"
	cookieHost  = "__Host-haechi_session"
)

var errCannotDisableSelf = errs.New(errs.Conflict, "cannot_disable_self", "You cannot disable your own account.", "자신의 계정은 비활성화할 수 없습니다.")

// operatorAuth is the logged-in operator of a request.
type operatorAuth struct {
	op    *operator.Operator
	sess  *operator.Session
	token string
}

type operatorKey struct{}

func operatorFrom(ctx context.Context) (*operatorAuth, bool) {
	a, ok := ctx.Value(operatorKey{}).(*operatorAuth)
	return a, ok && a != nil
}

// actorOf names an operator in audit entries.
func actorOf(a *operatorAuth) string { return a.op.ID }

func (s *Server) cookieName() string {
	if s.TLS {
		return cookieHost
	}
	return cookiePlain
}

// authOperator resolves the session cookie; on requests that change state it
// also requires a same-origin request carrying the session's CSRF token.
func (s *Server) authOperator(r *http.Request, rt route) (*http.Request, error) {
	unsafe := !isSafeMethod(r.Method)
	if unsafe {
		if err := s.checkSameOrigin(r); err != nil {
			return r, err
		}
	}
	a, err := s.session(r)
	if err != nil {
		return r, err
	}
	if unsafe {
		if err := s.checkCSRF(r, a.sess); err != nil {
			return r, err
		}
	}
	if !hasAnyRole(a.op, rt.roles) {
		return r, operator.ErrRole
	}
	if err := s.limit(r.Context(), "operator:"+a.op.ID, s.ClientLimit); err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), operatorKey{}, a)), nil
}

func (s *Server) session(r *http.Request) (*operatorAuth, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 256 {
		return nil, operator.ErrNoSession
	}
	op, sess, err := s.Operators.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &operatorAuth{op: op, sess: sess, token: c.Value}, nil
}

func (s *Server) checkCSRF(r *http.Request, sess *operator.Session) error {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" || len(tok) > 256 {
		return operator.ErrCSRF
	}
	return s.Operators.CheckCSRF(sess, tok)
}

// checkSameOrigin refuses requests a browser marks as coming from another
// site. It backs up the CSRF token and SameSite=Strict; on login, where no
// token exists yet, it is the defence against login CSRF.
func (s *Server) checkSameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return operator.ErrCSRF // cross-site, or same-site from a sibling host
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return operator.ErrCSRF
	}
	if s.TLS && u.Scheme != "https" {
		return operator.ErrCSRF
	}
	return nil
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func hasAnyRole(op *operator.Operator, roles []operator.Role) bool {
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if op.Has(r) {
			return true
		}
	}
	return false
}

// loginRequest is an operator's credentials. Lengths are bounded here so
// that no oversized password reaches the (deliberately slow) hash.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Code     string `json:"code"`
}

func (q *loginRequest) Validate() error {
	switch {
	case q.Username == "" || utf8.RuneCountInString(q.Username) > 64:
		return errs.ErrInvalid.WithField("username")
	case q.Password == "" || len(q.Password) > 1024:
		return errs.ErrInvalid.WithField("password")
	case !isDigits(q.Code, 6):
		return errs.ErrInvalid.WithField("code")
	}
	return nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// operatorView is what the API shows of an operator: no hashes, no secrets.
type operatorView struct {
	ID          string          `json:"id"`
	Username    string          `json:"username"`
	Roles       []operator.Role `json:"roles"`
	Disabled    bool            `json:"disabled"`
	LockedUntil *time.Time      `json:"locked_until,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
}

func (s *Server) viewOperator(o *operator.Operator) operatorView {
	v := operatorView{ID: o.ID, Username: o.Username, Roles: o.Roles, Disabled: o.Disabled, CreatedAt: o.CreatedAt}
	if v.Roles == nil {
		v.Roles = []operator.Role{}
	}
	if o.LockedUntil.After(s.Now()) {
		t := o.LockedUntil.UTC()
		v.LockedUntil = &t
	}
	return v
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	token, csrf, op, err := s.Operators.Login(r.Context(), req.Username, req.Password, req.Code)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.sessionCookie(token, 0))
	respond(w, http.StatusCreated, map[string]any{"csrf_token": csrf, "operator": s.viewOperator(op)})
	return nil
}

// sessionCookie carries the token; no Max-Age, so it ends with the browser,
// while the server enforces the session's own expiry. maxAge < 0 deletes it.
func (s *Server) sessionCookie(token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     s.cookieName(),
		Value:    token,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.TLS,
		SameSite: http.SameSiteStrictMode,
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	if err := s.Operators.Logout(r.Context(), actorOf(a), a.token); err != nil {
		return err
	}
	http.SetCookie(w, s.sessionCookie("", -1))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	respond(w, http.StatusOK, s.viewOperator(a.op))
	return nil
}

func (s *Server) listOperators(w http.ResponseWriter, r *http.Request) error {
	ops, err := s.Operators.List(r.Context())
	if err != nil {
		return err
	}
	views := make([]operatorView, len(ops))
	for i, o := range ops {
		views[i] = s.viewOperator(o)
	}
	respond(w, http.StatusOK, map[string]any{"operators": views})
	return nil
}

func (s *Server) disableOperator(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	// Disabling oneself could leave no admin able to undo it.
	if id == a.op.ID {
		return errCannotDisableSelf
	}
	if err := s.Operators.SetDisabled(r.Context(), actorOf(a), id, true); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
