package deviceapp

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
)

// HeaderDPoP carries a DPoP proof (RFC 9449).
const HeaderDPoP = "DPoP"

// proofHeader is exactly what the server accepts in a proof's header: the
// type, ES256 and the app's public key, nothing that could point elsewhere.
type proofHeader struct {
	Typ string   `json:"typ"`
	Alg string   `json:"alg"`
	JWK proofJWK `json:"jwk"`
}

// proofJWK is the public P-256 key with its required members only.
type proofJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// proofClaims are jti, htm, htu, iat and, with an access token, ath.
type proofClaims struct {
	JTI string `json:"jti"`
	HTM string `json:"htm"`
	HTU string `json:"htu"`
	IAT int64  `json:"iat"`
	ATH string `json:"ath,omitempty"`
}

// DPoPProof makes a proof of possession of the app key for one request:
// method and the request URL (its query and fragment are left out, as RFC
// 9449 asks), with ath bound to accessToken when one is sent ("" at the
// token endpoints). Each proof has a fresh random jti, so none can be used
// twice.
func (a *App) DPoPProof(method, rawURL, accessToken string) (string, error) {
	htu, err := proofHTU(rawURL)
	if err != nil {
		return "", err
	}
	jti := make([]byte, 18)
	rand.Read(jti) // never fails since Go 1.24
	c := proofClaims{JTI: b64.EncodeToString(jti), HTM: method, HTU: htu, IAT: nowOr(a.Now).Unix()}
	if accessToken != "" {
		c.ATH = accessTokenHash(accessToken)
	}
	return signProof(a.Key, c)
}

// proofHTU is scheme://host/path of the request URL.
func proofHTU(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("dpop: %q is not an absolute http(s) URL without user info", rawURL)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String(), nil
}

// accessTokenHash is the ath claim: base64url(SHA-256(token)).
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}

// signProof encodes the header and claims and signs them with ES256: the
// signature is r and s as two 32-byte big-endian numbers (RFC 7518 §3.4),
// not the ASN.1 form the request signatures use.
func signProof(key *ecdsa.PrivateKey, c proofClaims) (string, error) {
	pub, err := proofKey(key)
	if err != nil {
		return "", err
	}
	h, err := json.Marshal(proofHeader{Typ: "dpop+jwt", Alg: "ES256", JWK: pub})
	if err != nil {
		return "", fmt.Errorf("dpop header: %w", err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("dpop claims: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("dpop signature: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

// proofKey is the JWK of key's public half.
func proofKey(key *ecdsa.PrivateKey) (proofJWK, error) {
	pt, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil || len(pt) != 65 {
		return proofJWK{}, fmt.Errorf("dpop: the app key is not a P-256 key")
	}
	return proofJWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:])}, nil
}
