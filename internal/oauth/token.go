package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
)

// Errors of this package. Both carry the real cause for logs only.
var (
	ErrBadToken     = errs.New(errs.Unauthenticated, "invalid_token", "The access token is not valid.", "액세스 토큰이 올바르지 않습니다.")
	ErrTokenExpired = errs.New(errs.Unauthenticated, "token_expired", "The access token has expired.", "액세스 토큰이 만료되었습니다.")
)

const (
	// tokenType is the JOSE typ of an OAuth access token (RFC 9068), so that
	// an ID token or any other JWT signed elsewhere is never taken for one.
	tokenType = "at+jwt"
	// skew is how far clocks of issuer and verifier may disagree.
	skew = 30 * time.Second
	// maxTokenLen rejects absurd inputs before any decoding; ours are ~600 bytes.
	maxTokenLen = 8 << 10
)

// Claims this package adds to the registered ones.
const (
	claimScope    = "scope"
	claimClientID = "client_id"
)

// Issue signs a token for p; it returns the compact JWT and its expiry.
func (i *Issuer) Issue(ctx context.Context, p *institution.Principal) (string, time.Time, error) {
	if p == nil || p.ClientID == "" {
		return "", time.Time{}, errors.New("oauth: issue: no client")
	}
	if err := i.refresh(ctx, refreshEvery); err != nil {
		return "", time.Time{}, err
	}
	// JWT times are whole seconds; truncating here makes the returned expiry
	// the one in the token.
	now := i.now().UTC().Truncate(time.Second)
	exp := now.Add(i.cfg.TTL)
	tok, err := jwt.NewBuilder().
		Issuer(i.cfg.Issuer).Subject(p.ClientID).Audience([]string{i.cfg.Audience}).
		IssuedAt(now).NotBefore(now).Expiration(exp).JwtID(crypto.Token(16)).
		Claim(claimScope, strings.Join(p.Scopes, " ")).Claim(claimClientID, p.ClientID).
		Build()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: build token: %w", err)
	}
	signed, err := i.sign(tok)
	if err != nil {
		return "", time.Time{}, err
	}
	return string(signed), exp, nil
}

// sign signs tok with the active key, naming it in the header.
func (i *Issuer) sign(tok jwt.Token) ([]byte, error) {
	k := i.state().active
	hdr := jws.NewHeaders()
	for name, v := range map[string]any{jws.KeyIDKey: k.id, jws.TypeKey: tokenType} {
		if err := hdr.Set(name, v); err != nil {
			return nil, fmt.Errorf("oauth: set header %s: %w", name, err)
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("oauth: sign token: %w", err)
	}
	return signed, nil
}

// Verify accepts only ES256 tokens signed by a published key, with our
// issuer and audience, inside their lifetime; else ErrBadToken, or
// ErrTokenExpired for a genuine token past its expiry.
func (i *Issuer) Verify(ctx context.Context, raw string) (*institution.Principal, error) {
	p, err := i.verify(ctx, raw)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, jwt.TokenExpiredError()):
		return nil, ErrTokenExpired.WithCause(err)
	default:
		return nil, ErrBadToken.WithCause(err)
	}
}

func (i *Issuer) verify(ctx context.Context, raw string) (*institution.Principal, error) {
	seg, err := headerSegment(raw)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(seg)
	if err != nil {
		return nil, err
	}
	st, err := i.keysFor(ctx, h.kid)
	if err != nil {
		return nil, err
	}
	tok, err := i.parse(st, raw)
	if err != nil {
		return nil, err
	}
	return principal(tok)
}

// parse verifies the signature with the published keys and validates the
// registered claims. The set's keys carry alg ES256, so the signature is
// checked as ES256 whatever the header says (the library ignores the header's
// alg here); parseHeader has already refused any other alg.
func (i *Issuer) parse(st *keyState, raw string) (jwt.Token, error) {
	return jwt.Parse([]byte(raw),
		jwt.WithKeySet(st.set),
		jwt.WithValidate(true),
		jwt.WithIssuer(i.cfg.Issuer),
		jwt.WithAudience(i.cfg.Audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
		jwt.WithClock(jwt.ClockFunc(i.now)),
		jwt.WithAcceptableSkew(skew),
	)
}

// keysFor returns the published keys, which must include kid. An unknown kid
// may be a key another node has just created, so the store is read again,
// but at most every lookAgainAfter: made-up kids cannot hammer it.
func (i *Issuer) keysFor(ctx context.Context, kid string) (*keyState, error) {
	st := i.state()
	if st.byKid[kid] != nil {
		return st, nil
	}
	if err := i.refresh(ctx, lookAgainAfter); err != nil {
		return nil, err
	}
	if st = i.state(); st.byKid[kid] == nil {
		return nil, fmt.Errorf("unknown or unpublished kid %q", kid)
	}
	return st, nil
}

// principal reads the caller out of a verified token.
func principal(tok jwt.Token) (*institution.Principal, error) {
	sub, _ := tok.Subject()
	jti, _ := tok.JwtID()
	var scope, clientID string
	if err := tok.Get(claimScope, &scope); err != nil {
		return nil, fmt.Errorf("scope claim: %w", err)
	}
	if err := tok.Get(claimClientID, &clientID); err != nil {
		return nil, fmt.Errorf("client_id claim: %w", err)
	}
	if sub == "" || jti == "" || clientID != sub {
		return nil, errors.New("sub, jti or client_id missing or inconsistent")
	}
	return &institution.Principal{ClientID: sub, Scopes: strings.Fields(scope), Via: "jwt", CredentialID: jti}, nil
}

// headerSegment checks the compact form strictly and returns the header
// segment: three base64url segments and nothing else (the library would trim
// whitespace), the last a canonically encoded 64-byte ES256 signature, so
// that one token has exactly one accepted spelling.
func headerSegment(raw string) (string, error) {
	if len(raw) > maxTokenLen {
		return "", fmt.Errorf("token of %d bytes", len(raw))
	}
	for i := 0; i < len(raw); i++ {
		if !isTokenByte(raw[i]) {
			return "", fmt.Errorf("byte %#x at %d", raw[i], i)
		}
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", errors.New("not a compact JWS")
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return "", errors.New("not an ES256 signature")
	}
	return parts[0], nil
}

func isTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// header is the protected header we accept: exactly alg, kid and typ.
type header struct{ alg, kid, typ string }

// parseHeader decodes the protected header strictly before the token reaches
// the library: only ES256, a kid, typ at+jwt, no other member (no jku, jwk,
// x5u or crit to steer verification), no duplicate or differently cased names.
func parseHeader(seg string) (header, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return header{}, fmt.Errorf("header encoding: %w", err)
	}
	members, err := stringMembers(b)
	if err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	h := header{alg: members["alg"], kid: members["kid"], typ: members["typ"]}
	switch {
	case len(members) != 3 || h.kid == "":
		return header{}, errors.New("header must hold exactly alg, kid and typ")
	case h.alg != jwa.ES256().String():
		return header{}, fmt.Errorf("alg %q not accepted", h.alg)
	case !strings.EqualFold(h.typ, tokenType) && !strings.EqualFold(h.typ, "application/"+tokenType):
		return header{}, fmt.Errorf("typ %q is not an access token", h.typ)
	}
	return h, nil
}

// stringMembers decodes a JSON object whose values are all strings, refusing
// duplicate names (encoding/json would silently keep the last, and match
// names without regard to case).
func stringMembers(b []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]string)
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return nil, errors.New("bad member name")
		}
		t, err = dec.Token()
		v, ok := t.(string)
		if err != nil || !ok {
			return nil, fmt.Errorf("member %q is not a string", name)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", name)
		}
		m[name] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("unterminated object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return m, nil
}
