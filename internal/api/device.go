package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
)

// The device-facing routes are public: the app has no credential of its
// own until it holds a device key. institution_id names the bank; every
// step is counted by the device service, and the per-IP limit applies.

var (
	errInstitutionUnknown = errs.New(errs.Invalid, "institution_unknown",
		"No institution with this id offers device registration.", "이 ID로 기기등록을 제공하는 기관이 없습니다.").WithField("institution_id")
	errPasskeyOff = errs.New(errs.Unavailable, "passkey_not_configured",
		"Passkey registration is not configured on this server.", "이 서버에는 패스키 등록이 설정되어 있지 않습니다.")
)

// identityJSON is a customer's claimed identity.
type identityJSON struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Phone     string `json:"phone"`
}

func (i identityJSON) identity() carrier.Identity {
	return carrier.Identity{Name: i.Name, BirthDate: i.BirthDate, Phone: i.Phone}
}

// institutionRef is the bank a device-facing request is for.
type institutionRef struct {
	InstitutionID string `json:"institution_id"`
}

func (q *institutionRef) Validate() error {
	if !pathIDPattern.MatchString(q.InstitutionID) {
		return errInstitutionUnknown
	}
	return nil
}

// deviceInstitution checks that the named institution exists, is not
// revoked and holds the device scope: a bank that does not offer
// registration cannot have devices registered for it.
func (s *Server) deviceInstitution(ctx context.Context, id string) error {
	c, err := s.Institutions.Store.Client(ctx, id)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return errInstitutionUnknown
	case err != nil:
		return err
	case c.RevokedAt != nil || !slices.Contains(c.Scopes, institution.ScopeDevice):
		return errInstitutionUnknown
	}
	return nil
}

type startRequest struct {
	institutionRef
	Customer       identityJSON  `json:"customer"`
	Device         device.Report `json:"device"`
	IntegrityToken string        `json:"integrity_token"`
}

func (s *Server) startRegistration(w http.ResponseWriter, r *http.Request) error {
	var req startRequest
	if err := s.decodeDevice(w, r, &req, &req.institutionRef); err != nil {
		return err
	}
	st, err := s.Devices.Start(r.Context(), req.InstitutionID, device.StartInput{
		Identity: req.Customer.identity(), Report: req.Device, IntegrityToken: req.IntegrityToken})
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, map[string]any{"registration_id": st.RegistrationID,
		"challenge": b64(st.Challenge), "expires_at": st.ExpiresAt})
	return nil
}

// decodeDevice decodes a device-facing body and checks its institution.
func (s *Server) decodeDevice(w http.ResponseWriter, r *http.Request, dst any, ref *institutionRef) error {
	if err := decode(w, r, dst, s.BodyLimit); err != nil {
		return err
	}
	if err := ref.Validate(); err != nil {
		return err
	}
	return s.deviceInstitution(r.Context(), ref.InstitutionID)
}

type codeRequest struct {
	institutionRef
	Code string `json:"code"`
}

func (s *Server) verifyRegistrationCode(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return device.ErrRegistrationNotFound
	}
	var req codeRequest
	if err := s.decodeDevice(w, r, &req, &req.institutionRef); err != nil {
		return err
	}
	if err := s.Devices.VerifyCode(r.Context(), req.InstitutionID, id, req.Code); err != nil {
		return err
	}
	respond(w, http.StatusOK, map[string]string{"status": device.StateCodeVerified})
	return nil
}

// keyRequest binds an app key, given as PKIX DER or as a JWK.
type keyRequest struct {
	institutionRef
	Challenge    string          `json:"challenge"`
	PublicKey    string          `json:"public_key"`
	PublicKeyJWK json.RawMessage `json:"public_key_jwk"`
	Signature    string          `json:"signature"`
}

// Validate checks the shape only. What the fields hold (encoding, key,
// signature) is judged by the device service, so that a malformed key or
// signature counts as a failed attempt like a wrong one.
func (q *keyRequest) Validate() error {
	hasJWK := len(q.PublicKeyJWK) > 0 && string(q.PublicKeyJWK) != "null"
	switch {
	case q.Challenge == "":
		return errs.ErrInvalid.WithField("challenge")
	case (q.PublicKey != "") == hasJWK:
		return errs.ErrInvalid.WithField("public_key")
	case q.Signature == "":
		return errs.ErrInvalid.WithField("signature")
	}
	return nil
}

// proof is the app-key proof of the request.
func (q *keyRequest) proof() device.Proof {
	if q.PublicKey != "" {
		return device.AppKeyProof{PublicKey: unb64(q.PublicKey), Signature: unb64(q.Signature)}
	}
	return jwkProof{jwk: q.PublicKeyJWK, signature: unb64(q.Signature)}
}

// jwkProof parses the JWK inside Verify, so that a malformed JWK is a
// counted key_invalid exactly like malformed DER.
type jwkProof struct {
	jwk       []byte
	signature []byte
}

func (p jwkProof) Verify(ctx context.Context, registrationID string, challenge []byte) (device.Key, error) {
	der, err := device.ParseJWK(p.jwk)
	if err != nil {
		return device.Key{}, err
	}
	return device.AppKeyProof{PublicKey: der, Signature: p.signature}.Verify(ctx, registrationID, challenge)
}

func (s *Server) bindAppKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return device.ErrRegistrationNotFound
	}
	var req keyRequest
	if err := s.decodeDevice(w, r, &req, &req.institutionRef); err != nil {
		return err
	}
	dev, err := s.Devices.BindKey(r.Context(), req.InstitutionID, id, unb64(req.Challenge), req.proof())
	if err != nil {
		return err
	}
	respondBound(w, dev)
	return nil
}

// respondBound answers a completed registration.
func respondBound(w http.ResponseWriter, dev *device.Device) {
	revoked := dev.Replaced
	if revoked == nil {
		revoked = []string{}
	}
	w.Header().Set("Location", "/v1/devices/current")
	respond(w, http.StatusCreated, map[string]any{"device_id": dev.ID, "kind": dev.KeyKind,
		"created_at": dev.CreatedAt, "revoked_device_ids": revoked})
}

func (s *Server) passkeyOptions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return device.ErrRegistrationNotFound
	}
	var req institutionRef
	if err := s.decodeDevice(w, r, &req, &req); err != nil {
		return err
	}
	if s.WebAuthn == nil {
		return errPasskeyOff
	}
	opts, session, err := s.WebAuthn.Options(r.Context(), req.InstitutionID, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, map[string]any{"session_id": session, "options": opts})
	return nil
}

type passkeyRequest struct {
	institutionRef
	Challenge  string          `json:"challenge"`
	SessionID  string          `json:"session_id"`
	Credential json.RawMessage `json:"credential"`
}

func (q *passkeyRequest) Validate() error {
	switch {
	case q.Challenge == "":
		return errs.ErrInvalid.WithField("challenge")
	case q.SessionID == "":
		return errs.ErrInvalid.WithField("session_id")
	case len(q.Credential) == 0 || string(q.Credential) == "null":
		return errs.ErrInvalid.WithField("credential")
	}
	return nil
}

func (s *Server) bindPasskey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return device.ErrRegistrationNotFound
	}
	var req passkeyRequest
	if err := s.decodeDevice(w, r, &req, &req.institutionRef); err != nil {
		return err
	}
	if s.WebAuthn == nil {
		return errPasskeyOff
	}
	proof := s.WebAuthn.Proof(req.InstitutionID, req.SessionID, req.Credential)
	dev, err := s.Devices.BindKey(r.Context(), req.InstitutionID, id, unb64(req.Challenge), proof)
	if err != nil {
		return err
	}
	respondBound(w, dev)
	return nil
}

// b64 encodes binary fields: base64url without padding.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// unb64 decodes a binary field. What does not decode becomes nil, which the
// device service refuses (and counts) as a wrong challenge, key or
// signature: an encoding error is not a way around the failure limit.
func unb64(s string) []byte {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// deviceView is what a device-signed caller learns about itself.
type deviceView struct {
	DeviceID   string    `json:"device_id"`
	CustomerID string    `json:"customer_id"`
	Kind       string    `json:"kind"`
	CreatedAt  time.Time `json:"created_at"`
}
