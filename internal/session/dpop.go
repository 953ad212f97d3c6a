package session

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Proof is a verified DPoP proof (RFC 9449): who signed it (the RFC 7638
// SHA-256 thumbprint of its key), its single-use id and when it was made.
type Proof struct {
	JKT string
	JTI string
	IAT time.Time
}

const (
	// DefaultProofMaxAge is how far a proof's iat may lie from the server's
	// clock either way; it is also how long a jti must be remembered.
	DefaultProofMaxAge = 60 * time.Second
	// maxProofLen bounds the input before any decoding; a P-256 proof is
	// about 600 bytes.
	maxProofLen = 4 << 10
	// maxJTILen bounds the stored replay key.
	maxJTILen = 64
	proofType = "dpop+jwt"
)

var b64 = base64.RawURLEncoding.Strict()

// ATH is the ath claim a proof must carry when it accompanies accessToken:
// base64url(SHA-256(token)).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyProof checks a DPoP proof for one request: method and URL as the
// server received them, athWant the ATH of the access token presented with
// it ("" when none is, as at the token endpoint), iat within ±maxAge of now
// (DefaultProofMaxAge when maxAge is 0). It is pure: the caller must still
// spend the jti exactly once (Store.UseDPoPJTI) and compare the JKT with the
// key the token or device is bound to. Any failure is ErrProofInvalid with
// the reason as its internal cause.
func VerifyProof(proof, method, url, athWant string, now time.Time, maxAge time.Duration) (*Proof, error) {
	p, err := verifyProof(proof, method, url, athWant, now, maxAge)
	if err != nil {
		return nil, ErrProofInvalid.WithCause(err)
	}
	return p, nil
}

func verifyProof(proof, method, url, athWant string, now time.Time, maxAge time.Duration) (*Proof, error) {
	if maxAge <= 0 {
		maxAge = DefaultProofMaxAge
	}
	seg, err := splitProof(proof)
	if err != nil {
		return nil, err
	}
	pub, err := parseProofHeader(seg[0])
	if err != nil {
		return nil, err
	}
	// The header has been checked to say ES256 and the key is the header's
	// own P-256 key, passed explicitly: the library verifies with exactly
	// that key and algorithm, never with anything the header could steer.
	if _, err := jws.VerifyCompactFast(pub, []byte(proof), jwa.ES256()); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	c, err := parseClaims(seg[1])
	if err != nil {
		return nil, err
	}
	if err := c.check(method, url, athWant, now, maxAge); err != nil {
		return nil, err
	}
	return &Proof{JKT: thumbprint(pub), JTI: c.jti, IAT: c.iat}, nil
}

// splitProof checks the compact form strictly: three base64url segments and
// nothing else, the last a canonically encoded 64-byte ES256 signature.
func splitProof(proof string) ([]string, error) {
	if len(proof) == 0 || len(proof) > maxProofLen {
		return nil, fmt.Errorf("proof of %d bytes", len(proof))
	}
	for i := 0; i < len(proof); i++ {
		if c := proof[i]; !(c == '.' || c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return nil, fmt.Errorf("byte %#x at %d", c, i)
		}
	}
	seg := strings.Split(proof, ".")
	if len(seg) != 3 || seg[0] == "" || seg[1] == "" {
		return nil, errors.New("not a compact JWS")
	}
	if sig, err := b64.DecodeString(seg[2]); err != nil || len(sig) != 64 {
		return nil, errors.New("not an ES256 signature")
	}
	return seg, nil
}

// parseProofHeader accepts exactly {typ: dpop+jwt, alg: ES256, jwk: a public
// P-256 key}: no kid, jku, x5u or crit to steer verification elsewhere.
// The alg is checked here, before the library sees the proof.
func parseProofHeader(seg string) (*ecdsa.PublicKey, error) {
	m, err := decodeObject(seg, 3)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var typ, alg string
	if err := stringMember(m, "typ", &typ); err != nil {
		return nil, err
	}
	if err := stringMember(m, "alg", &alg); err != nil {
		return nil, err
	}
	switch {
	case len(m) != 3 || m["jwk"] == nil:
		return nil, errors.New("header must hold exactly typ, alg and jwk")
	case alg != "ES256":
		return nil, fmt.Errorf("alg %q not accepted", alg)
	case !strings.EqualFold(typ, proofType) && !strings.EqualFold(typ, "application/"+proofType):
		return nil, fmt.Errorf("typ %q is not a DPoP proof", typ)
	}
	return parseProofKey(m["jwk"])
}

// parseProofKey accepts exactly {kty: EC, crv: P-256, x, y} with 32-byte
// coordinates of a point on the curve. A "d" member means the client sent
// its private key: refused, never ignored.
func parseProofKey(raw []byte) (*ecdsa.PublicKey, error) {
	m, err := members(raw)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	if _, ok := m["d"]; ok {
		return nil, errors.New("jwk holds a private key")
	}
	var k [4]string
	for i, name := range []string{"kty", "crv", "x", "y"} {
		if err := stringMember(m, name, &k[i]); err != nil {
			return nil, fmt.Errorf("jwk: %w", err)
		}
	}
	if len(m) != 4 || k[0] != "EC" || k[1] != "P-256" {
		return nil, errors.New("jwk is not exactly a P-256 public key")
	}
	x, errX := b64.DecodeString(k[2])
	y, errY := b64.DecodeString(k[3])
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("jwk coordinates are not 32-byte base64url")
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
}

// claims are the members of a proof's payload.
type claims struct {
	jti, htm, htu, ath string
	hasATH             bool
	iat                time.Time
}

// parseClaims accepts jti, htm, htu, iat and, optionally, ath; nothing else
// (this server issues no DPoP nonces), each once.
func parseClaims(seg string) (*claims, error) {
	m, err := decodeObject(seg, 5)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var c claims
	for name, dst := range map[string]*string{"jti": &c.jti, "htm": &c.htm, "htu": &c.htu} {
		if err := stringMember(m, name, dst); err != nil {
			return nil, err
		}
	}
	if _, c.hasATH = m["ath"]; c.hasATH {
		if err := stringMember(m, "ath", &c.ath); err != nil {
			return nil, err
		}
	}
	if c.iat, err = numericDate(m["iat"]); err != nil {
		return nil, err
	}
	want := 4
	if c.hasATH {
		want = 5
	}
	if len(m) != want {
		return nil, errors.New("payload holds claims other than jti, htm, htu, iat and ath")
	}
	return &c, nil
}

// check matches the claims against the request.
func (c *claims) check(method, url, athWant string, now time.Time, maxAge time.Duration) error {
	if c.jti == "" || len(c.jti) > maxJTILen || !printable(c.jti) {
		return errors.New("jti missing, too long or not printable ASCII")
	}
	if c.htm != method {
		return fmt.Errorf("htm %q, request method %q", c.htm, method)
	}
	if err := sameHTU(c.htu, url); err != nil {
		return err
	}
	if d := now.Sub(c.iat); d > maxAge || d < -maxAge {
		return fmt.Errorf("iat is %s away from now", d.Round(time.Second))
	}
	return c.checkATH(athWant)
}

// checkATH requires ath exactly when an access token is presented: a proof
// made for a resource call is no proof at the token endpoint, and the other
// way round.
func (c *claims) checkATH(want string) error {
	switch {
	case want == "" && c.hasATH:
		return errors.New("ath present but no access token presented")
	case want == "":
		return nil
	case !c.hasATH:
		return errors.New("ath missing")
	case subtle.ConstantTimeCompare([]byte(c.ath), []byte(want)) != 1:
		return errors.New("ath does not match the access token")
	}
	return nil
}

// numericDate reads iat as a whole number of seconds (no sign, fraction or
// exponent), so one instant has one spelling.
func numericDate(raw json.RawMessage) (time.Time, error) {
	s := string(raw)
	if s == "" || len(s) > 12 || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, errors.New("iat is not a whole number of seconds")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("iat: %w", err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// decodeObject base64url-decodes one segment into a JSON object with at
// most maxMembers members.
func decodeObject(seg string, maxMembers int) (map[string]json.RawMessage, error) {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	m, err := members(b)
	if err != nil {
		return nil, err
	}
	if len(m) > maxMembers {
		return nil, fmt.Errorf("%d members", len(m))
	}
	return m, nil
}

// members decodes a JSON object, refusing duplicate names (encoding/json
// would keep the last and match names without regard to case) and trailing
// data.
func members(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return nil, errors.New("bad member name")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
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

// stringMember decodes a required string member.
func stringMember(m map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := m[name]
	if !ok {
		return fmt.Errorf("%s missing", name)
	}
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
		return fmt.Errorf("%s is not a string", name)
	}
	return nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a P-256 key: the hash
// of its required members in lexical order with no whitespace, base64url.
func thumbprint(pub *ecdsa.PublicKey) string {
	pt, err := pub.Bytes()
	if err != nil || len(pt) != 65 {
		return "" // unreachable for a key that passed ParseUncompressedPublicKey
	}
	enc := base64.RawURLEncoding
	canon := `{"crv":"P-256","kty":"EC","x":"` + enc.EncodeToString(pt[1:33]) + `","y":"` + enc.EncodeToString(pt[33:]) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return enc.EncodeToString(sum[:])
}
