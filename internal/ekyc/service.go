package ekyc

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/onetime"
)

// Service runs verification sessions. Store, Ring, Pepper, Codes and Now
// are required; each method's adapter is required for that method only (a
// nil adapter makes the method answer ErrMethodUnavailable).
//
// The session methods (SubmitIDCard … RecordVideoCall) take only a session
// id: call them with a context from WithInstitution to refuse another
// institution's session as errs.ErrNotFound with nothing written. A
// counted verdict (a wrong code, a card the authority does not know) is
// returned as the view, not as an error: the method's state carries its
// attempts and reason, and its status once it failed. Every attempt is
// audited as "ekyc.<method>" with masked details; every end of a session
// is audited and announced to the institution by webhook in the same
// transaction.
type Service struct {
	Store  Store
	Ring   *crypto.Keyring
	Pepper []byte // keys the MACs of applicant tokens and biometric nonces (blind indexes use Ring's key)
	Codes  *onetime.Service

	IDCheck   idcheck.Checker
	Accounts  bankxfer.Network
	Carrier   carrier.Provider
	Media     SecurityMedia
	Face      face.Engine
	Customers Customers // the expected identity of a customer's step-up

	// Risk hears every counted attempt (nil: nobody listens).
	Risk RiskObserver

	FaceThreshold float64       // minimum similarity (DefaultFaceThreshold when 0)
	TTL           time.Duration // session lifetime (DefaultTTL when 0)
	Now           func() time.Time
}

// DefaultFaceThreshold is the similarity a selfie must reach.
const DefaultFaceThreshold = 0.80

// Customers finds a customer within an institution.
type Customers interface {
	Get(ctx context.Context, institutionID, id string) (*customer.Customer, error)
}

// SecurityMedia is the registry of security media (OTP generators) issued
// to people: Verify checks code on the medium with serial that the
// institution registered to holder, and spends it (no reuse).
type SecurityMedia interface {
	Verify(ctx context.Context, institutionID string, holder Applicant, serial, code string) (bool, error)
}

// Open is what an institution sends to open a session. Either Applicant or
// CustomerID (a step-up of a known customer) is given, not both.
type Open struct {
	Reference  string
	Applicant  Applicant
	CustomerID string
	Policy     Policy // zero: any MinMethods distinct methods
}

// Opened is a new session and the token its applicant side uses. The token
// is shown once; only its MAC is stored.
type Opened struct {
	Session        *View
	ApplicantToken string
}

// View is a session as an institution sees it: masked PII only.
type View struct {
	ID         string        `json:"id"`
	Reference  string        `json:"reference,omitempty"`
	CustomerID string        `json:"customer_id,omitempty"`
	Status     Status        `json:"status"`
	Reason     string        `json:"reason,omitempty"` // why a session failed or expired
	Policy     Policy        `json:"policy"`
	Applicant  ApplicantView `json:"applicant"`
	Methods    []MethodState `json:"methods"`
	Passed     []Method      `json:"passed"`
	Failed     []Method      `json:"failed"`
	CreatedAt  time.Time     `json:"created_at"`
	ExpiresAt  time.Time     `json:"expires_at"`
	DecidedAt  *time.Time    `json:"decided_at,omitempty"`
	PurgedAt   *time.Time    `json:"purged_at,omitempty"` // the applicant's PII is gone; Applicant shows nothing
}

// ApplicantView is the masked applicant: 김*수, 1990-**-**, 010-****-5678.
type ApplicantView struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Phone     string `json:"phone"`
}

// VideoDecision is an operator's verdict after a video call.
type VideoDecision struct {
	Approve      bool
	Reason       string // a stable reason code, required on reject
	RecordingRef string // where the recording is kept
}

// Nonce is a server nonce for a liveness capture.
type Nonce struct {
	Value     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PurgeResult says what a purge removed.
type PurgeResult struct {
	Sessions int `json:"sessions"` // sessions whose PII was scrubbed
	Evidence int `json:"evidence"` // evidence items deleted
}

// Open starts a session for institutionID.
func (s *Service) Open(ctx context.Context, institutionID string, in Open) (*Opened, error) {
	return s.open(ctx, institutionID, in)
}

// Get returns one of the institution's sessions; another institution's is
// errs.ErrNotFound. A session past its expiry is expired on the way.
func (s *Service) Get(ctx context.Context, institutionID, id string) (*View, error) {
	return s.get(ctx, institutionID, id)
}

// Authenticate checks an applicant token for a session and returns the
// session's institution; a wrong token is ErrApplicantToken.
func (s *Service) Authenticate(ctx context.Context, sessionID, token string) (institutionID string, err error) {
	return s.authenticate(ctx, sessionID, token)
}

// SubmitIDCard checks an ID card (format, the applicant's name and birth
// date, authenticity at the authority) and stores its image sealed.
// MaxIDCardAttempts counted tries; a reported-lost card fails the method
// at once; a malformed card or image is refused uncounted.
func (s *Service) SubmitIDCard(ctx context.Context, sessionID string, card idcheck.Card, image []byte) (*View, error) {
	return s.submitIDCard(ctx, sessionID, card, image)
}

// StartAccount checks the holder of the applicant's account and deposits
// 1 KRW with a one-time 4-character code as the memo. Another holder fails
// the method; an unknown account is bankxfer.ErrNoAccount, uncounted. A new
// deposit waits until the last code expired (ErrCodePending), at most
// MaxCodeSends per session (ErrSendLimit).
func (s *Service) StartAccount(ctx context.Context, sessionID string, a bankxfer.Account) (*View, error) {
	return s.startAccount(ctx, sessionID, a)
}

// ConfirmAccount checks the memo code the applicant read. MaxCodeAttempts
// wrong entries over the session fail the method; an expired code is
// ErrCodeExpired, uncounted; after the method passed or failed,
// ErrMethodClosed.
func (s *Service) ConfirmAccount(ctx context.Context, sessionID, code string) (*View, error) {
	return s.confirmCode(ctx, accountCode, sessionID, code)
}

// StartCarrier matches the applicant with the carrier and sends an SMS code.
func (s *Service) StartCarrier(ctx context.Context, sessionID string) (*View, error) {
	return s.startCarrier(ctx, sessionID)
}

// ConfirmCarrier checks the SMS code.
func (s *Service) ConfirmCarrier(ctx context.Context, sessionID, code string) (*View, error) {
	return s.confirmCode(ctx, carrierCode, sessionID, code)
}

// VerifyOTP checks a code from the applicant's security medium.
func (s *Service) VerifyOTP(ctx context.Context, sessionID, serial, code string) (*View, error) {
	return s.verifyOTP(ctx, sessionID, serial, code)
}

// BiometricNonce issues the single-use nonce a liveness capture binds to.
func (s *Service) BiometricNonce(ctx context.Context, sessionID string) (*Nonce, error) {
	return s.biometricNonce(ctx, sessionID)
}

// SubmitBiometric compares a selfie with the session's ID photo and checks
// its liveness for the nonce. An unknown, spent or expired nonce counts a
// try and is ErrNonce; MaxBiometricAttempts tries.
func (s *Service) SubmitBiometric(ctx context.Context, sessionID string, selfie []byte, nonce string) (*View, error) {
	return s.submitBiometric(ctx, sessionID, selfie, nonce)
}

// RecordVideoCall records an operator's video-call verdict; the recording
// reference is kept as sealed evidence, the reason code in the audit.
func (s *Service) RecordVideoCall(ctx context.Context, operatorID, sessionID string, d VideoDecision) (*View, error) {
	return s.recordVideoCall(ctx, operatorID, sessionID, d)
}

// ExpireDue expires pending sessions past their expiry, announcing each.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	return s.expireDue(ctx)
}

// Purge deletes evidence of sessions created before before and scrubs
// their applicant PII; the audit keeps the references.
func (s *Service) Purge(ctx context.Context, actor string, before time.Time) (PurgeResult, error) {
	return s.purge(ctx, actor, before)
}
