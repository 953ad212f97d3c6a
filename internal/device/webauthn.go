package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/passkey"
)

// WebAuthn is the standards-based path of key binding: a passkey or
// platform authenticator made through navigator.credentials.create()
// instead of the app's own key. Options begins the ceremony for a
// code-verified registration; Proof turns the browser's answer into the
// Proof that BindKey verifies, so the WebAuthn path counts its failures
// exactly like the app-key path.
type WebAuthn struct {
	Passkeys *passkey.Service
	Devices  *Service
}

// Options returns the creation options for the registration's customer and
// the passkey session id the answer must name. It counts nothing: it
// only hands out a challenge, for a registration that has passed its code.
func (w *WebAuthn) Options(ctx context.Context, institutionID, regID string) (json.RawMessage, string, error) {
	reg, err := w.waiting(ctx, institutionID, regID)
	if err != nil {
		return nil, "", err
	}
	user, err := w.user(ctx, reg)
	if err != nil {
		return nil, "", err
	}
	return w.Passkeys.BeginRegistration(ctx, user)
}

// waiting returns the registration if it is waiting for its key.
func (w *WebAuthn) waiting(ctx context.Context, institutionID, regID string) (*Registration, error) {
	if regID == "" || len(regID) > 64 {
		return nil, ErrRegistrationNotFound
	}
	reg, err := w.Devices.Store.Registration(ctx, institutionID, regID)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return nil, ErrRegistrationNotFound
	case err != nil:
		return nil, err
	case reg.State != StateCodeVerified || reg.CustomerID == "":
		return nil, ErrRegistrationState
	case !w.Devices.Now().Before(reg.ExpiresAt):
		return nil, ErrRegistrationExpired
	}
	return reg, nil
}

// user is the customer as the authenticator sees it: the id as the user
// handle, masked phone and name for display (an authenticator may keep and
// show them), and the customer's active passkeys excluded.
func (w *WebAuthn) user(ctx context.Context, reg *Registration) (passkey.User, error) {
	c, err := w.Devices.Customers.Get(ctx, reg.InstitutionID, reg.CustomerID)
	if err != nil {
		return passkey.User{}, err
	}
	v := c.View()
	u := passkey.User{ID: []byte(c.ID), Name: v.Phone, DisplayName: v.Name}
	devs, err := w.Devices.Store.CustomerDevices(ctx, reg.InstitutionID, c.ID)
	if err != nil {
		return passkey.User{}, err
	}
	for _, d := range devs {
		if d.KeyKind == KeyKindWebAuthn && d.State == DeviceActive && len(d.CredentialID) > 0 {
			u.Existing = append(u.Existing, passkey.Credential{ID: d.CredentialID})
		}
	}
	return u, nil
}

// Proof is the WebAuthn answer for BindKey: the passkey session begun by
// Options and the browser's PublicKeyCredential JSON.
func (w *WebAuthn) Proof(institutionID, sessionID string, credential []byte) Proof {
	return &webauthnProof{w: w, institutionID: institutionID, sessionID: sessionID, credential: credential}
}

type webauthnProof struct {
	w             *WebAuthn
	institutionID string
	sessionID     string
	credential    []byte
}

// Verify finishes the ceremony for the registration's customer. BindKey
// has already checked the registration's own challenge; the passkey
// session (single use, bound to the customer) carries WebAuthn's. Any
// refusal is ErrProofInvalid or ErrKeyInvalid, so it counts.
func (p *webauthnProof) Verify(ctx context.Context, registrationID string, _ []byte) (Key, error) {
	reg, err := p.w.Devices.Store.Registration(ctx, p.institutionID, registrationID)
	if err != nil {
		return Key{}, fmt.Errorf("webauthn proof: %w", err)
	}
	user, err := p.w.user(ctx, reg)
	if err != nil {
		return Key{}, fmt.Errorf("webauthn proof: %w", err)
	}
	cred, err := p.w.Passkeys.FinishRegistration(ctx, p.sessionID, user, p.credential)
	if err != nil {
		return Key{}, ErrProofInvalid.WithCause(err)
	}
	spki, err := COSEToSPKI(cred.PublicKeyCOSE)
	if err != nil {
		return Key{}, err
	}
	return Key{Kind: KeyKindWebAuthn, SPKI: spki, CredentialID: cred.ID}, nil
}

// COSEToSPKI turns a credential's COSE public key into PKIX DER. Only
// ES256 on P-256 is accepted, the one algorithm every possession key of
// this package uses; an authenticator that offers nothing else is refused
// with ErrKeyInvalid.
func COSEToSPKI(cose []byte) ([]byte, error) {
	if len(cose) == 0 || len(cose) > MaxKeySize {
		return nil, ErrKeyInvalid
	}
	k, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	ec, ok := k.(webauthncose.EC2PublicKeyData)
	if !ok || webauthncose.COSEAlgorithmIdentifier(ec.Algorithm) != webauthncose.AlgES256 ||
		webauthncose.COSEEllipticCurve(ec.Curve) != webauthncose.P256 {
		return nil, ErrKeyInvalid.WithCause(fmt.Errorf("credential key is %T, not ES256 on P-256", k))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, ec.XCoord...), ec.YCoord...))
	if err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	return der, nil
}
