package ekyc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/mask"
)

// Limits of the otp, video_call and biometric methods.
const (
	MaxOTPAttempts       = 5
	MaxBiometricAttempts = 3
	NonceTTL             = 5 * time.Minute
	maxLiveNonces        = 3
	nonceBytes           = 16
	maxSerial            = 32
	maxRecordingRef      = 128
	maxReasonCode        = 64
	maxActor             = 128
	macNonce             = "ekyc.biometric_nonce"
	actorBiometric       = "ekyc.biometric"
)

// Reasons of the otp, video_call and biometric methods.
const (
	ReasonOTPWrong      = "otp_wrong"
	ReasonOTPExhausted  = "otp_exhausted"
	ReasonVideoRejected = "video_rejected"
	ReasonNonce         = "nonce_invalid"
	ReasonFaceMismatch  = "face_mismatch"
	ReasonNotLive       = "not_live"
	ReasonNoFace        = "face_not_found"
)

func (s *Service) verifyOTP(ctx context.Context, id, serial, code string) (*View, error) {
	if s.Media == nil {
		return nil, ErrMethodUnavailable
	}
	if !validSerial(serial) {
		return nil, ErrInvalidSerial
	}
	if !digits(code, 6, 8) {
		return nil, ErrInvalidCode
	}
	r, err := s.begin(ctx, id, OTP)
	if err != nil {
		return nil, err
	}
	if _, err := s.update(ctx, id, reserve(OTP, MaxOTPAttempts)); err != nil {
		return nil, err
	}
	a := s.newAttempt(ctx, r, OTP, MaxOTPAttempts)
	a.reserved, a.spent = true, ReasonOTPExhausted
	a.details["serial"] = maskSerial(serial)
	ok, err := s.Media.Verify(ctx, r.InstitutionID, r.Applicant, serial, code)
	if err != nil {
		return nil, s.undecided(ctx, a, err)
	}
	if !ok {
		return s.run(ctx, a.decide(wrong, ReasonOTPWrong))
	}
	return s.run(ctx, a.decide(pass, ""))
}

func (s *Service) recordVideoCall(ctx context.Context, operatorID, id string, d VideoDecision) (*View, error) {
	if operatorID == "" || len(operatorID) > maxActor {
		return nil, ErrInvalidActor
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	r, err := s.begin(ctx, id, VideoCall)
	if err != nil {
		return nil, err
	}
	ev, err := s.newEvidence(r, VideoCall, EvidenceRecording, TypeText, []byte(d.RecordingRef), nil, s.now())
	if err != nil {
		return nil, err
	}
	a := s.newAttempt(ctx, r, VideoCall, 0)
	a.actor, a.evidence, a.ref = operatorID, []EvidenceRecord{ev}, ev.ID
	a.details["decision"] = "reject"
	if d.Approve {
		a.details["decision"] = "approve"
		if d.Reason != "" {
			a.details["decision_reason"] = d.Reason
		}
		return s.run(ctx, a.decide(pass, ""))
	}
	a.details["decision_reason"] = d.Reason
	return s.run(ctx, a.decide(fail, ReasonVideoRejected))
}

// validate requires a recording reference, and a reason code on a reject.
func (d VideoDecision) validate() error {
	if !printable(d.RecordingRef, maxRecordingRef) {
		return ErrInvalidDecision.WithField("recording_ref")
	}
	if d.Reason == "" && d.Approve {
		return nil
	}
	if !reasonCode(d.Reason) {
		return ErrInvalidDecision.WithField("reason")
	}
	return nil
}

func (s *Service) biometricNonce(ctx context.Context, id string) (*Nonce, error) {
	if s.Face == nil {
		return nil, ErrMethodUnavailable
	}
	r, err := s.begin(ctx, id, Biometric)
	if err != nil {
		return nil, err
	}
	if st := r.find(IDCard); st == nil || st.Status != MethodPassed {
		return nil, ErrIDCardRequired
	}
	now := s.now()
	n := &Nonce{Value: crypto.Token(nonceBytes), ExpiresAt: now.Add(NonceTTL)}
	rec := NonceRecord{Hash: s.mac(macNonce, r.ID, n.Value), SessionID: r.ID, ExpiresAt: n.ExpiresAt, CreatedAt: now}
	err = s.Store.IssueEKYCNonce(ctx, rec, maxLiveNonces)
	switch {
	case isConflict(err):
		return nil, ErrNonceLimit
	case isNotFound(err):
		return nil, ErrSessionClosed
	case err != nil:
		return nil, err
	}
	return n, nil
}

func (s *Service) submitBiometric(ctx context.Context, id string, selfie []byte, nonce string) (*View, error) {
	if s.Face == nil {
		return nil, ErrMethodUnavailable
	}
	if _, err := ImageType(selfie); err != nil {
		return nil, err
	}
	if face.CheckNonce(nonce) != nil {
		return nil, ErrInvalidNonce
	}
	r, err := s.begin(ctx, id, Biometric)
	if err != nil {
		return nil, err
	}
	card := r.find(IDCard)
	if card == nil || card.Status != MethodPassed || card.Evidence == "" {
		return nil, ErrIDCardRequired
	}
	if _, err := s.update(ctx, id, reserve(Biometric, MaxBiometricAttempts)); err != nil {
		return nil, err
	}
	a := s.newAttempt(ctx, r, Biometric, MaxBiometricAttempts)
	a.reserved = true
	if err := s.Store.ConsumeEKYCNonce(ctx, r.ID, s.mac(macNonce, r.ID, nonce), s.now()); isNotFound(err) {
		if _, err := s.run(ctx, a.decide(wrong, ReasonNonce)); err != nil && !isClosed(err) {
			return nil, err
		}
		return nil, ErrNonce
	} else if err != nil {
		return nil, s.undecided(ctx, a, err)
	}
	v, reason, err := s.compareFace(ctx, r, card.Evidence, selfie, nonce, a)
	if err != nil {
		return nil, s.undecided(ctx, a, err)
	}
	return s.run(ctx, a.decide(v, reason))
}

// compareFace asks the face engine for similarity with the ID photo and
// liveness bound to the nonce; both must hold.
func (s *Service) compareFace(ctx context.Context, r *Record, ref string, selfie []byte, nonce string, a *attempt) (verdict, string, error) {
	photo, err := s.referencePhoto(ctx, r, ref)
	if err != nil {
		return release, "", err
	}
	sim, err := s.Face.Compare(ctx, selfie, photo)
	if errors.Is(err, face.ErrNoFace) {
		return wrong, ReasonNoFace, nil
	} else if err != nil {
		return release, "", err
	}
	live, err := s.Face.Liveness(ctx, selfie, nonce)
	if errors.Is(err, face.ErrNoFace) {
		return wrong, ReasonNoFace, nil
	} else if err != nil {
		return release, "", err
	}
	bound := crypto.Equal([]byte(live.Nonce), []byte(nonce))
	a.details["similarity"] = strconv.FormatFloat(sim, 'f', 2, 64)
	a.details["live"] = strconv.FormatBool(live.Live)
	a.details["nonce_bound"] = strconv.FormatBool(bound)
	switch {
	case sim < s.faceThreshold():
		return wrong, ReasonFaceMismatch, nil
	case !live.Live || !bound:
		return wrong, ReasonNotLive, nil
	}
	return pass, "", nil
}

// referencePhoto reads the image the passed id_card rests on; the read is
// audited like any other.
func (s *Service) referencePhoto(ctx context.Context, r *Record, evidenceID string) ([]byte, error) {
	rec, err := s.Store.EKYCEvidenceItem(ctx, r.InstitutionID, r.ID, evidenceID)
	if err != nil {
		return nil, fmt.Errorf("reference photo: %w", err)
	}
	_, photo, err := s.readItem(ctx, actorBiometric, "biometric_reference", rec)
	return photo, err
}

func validSerial(s string) bool {
	if len(s) == 0 || len(s) > maxSerial {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// maskSerial keeps the last four characters of a medium's serial.
func maskSerial(s string) string {
	if len(s) <= 4 {
		return mask.All(s)
	}
	return mask.All(s[:len(s)-4]) + s[len(s)-4:]
}

func digits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// printable accepts 1–max runes of printable text without surrounding
// spaces.
func printable(s string, max int) bool {
	if s == "" || len(s) > 4*max || utf8.RuneCountInString(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return s[0] != ' ' && s[len(s)-1] != ' '
}

// reasonCode accepts 1–64 of a-z 0-9 _ . -.
func reasonCode(s string) bool {
	if s == "" || len(s) > maxReasonCode {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
