package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/secmedia"
	"github.com/haechi/haechi/internal/webhook"
)

// The eKYC routes have three callers: the institution opens and reads a
// session (scope ekyc), the applicant's app submits evidence with the
// session's applicant token, and a platform agent records video calls.

// Image limits. A phone photo of an ID card or a selfie fits in 5 MiB; the
// route's body limit leaves room for base64's third and the other fields.
const (
	maxImageBytes  = 5 << 20
	imageBodyLimit = 8 << 20
)

var (
	errEKYCOff = errs.New(errs.Unavailable, "ekyc_not_configured",
		"eKYC verification is not configured on this server.", "이 서버에는 비대면 실명확인이 설정되어 있지 않습니다.")
	errMediaOff = errs.New(errs.Unavailable, "security_media_not_configured",
		"Security media registration is not configured on this server.", "이 서버에는 보안매체 등록이 설정되어 있지 않습니다.")
	errWebhooksOff = errs.New(errs.Unavailable, "webhooks_not_configured",
		"Webhooks are not configured on this server.", "이 서버에는 웹훅이 설정되어 있지 않습니다.")
	// Same codes as the service's image refusals, which judge the bytes.
	errImageEncoding = errs.New(errs.Invalid, "invalid_image",
		"The image must be standard base64 with padding.", "이미지는 패딩이 있는 표준 base64여야 합니다.")
	errImageTooLarge = errs.New(errs.TooLarge, "image_too_large",
		"The image must be at most 5 MiB.", "이미지는 5MiB 이하여야 합니다.")
)

// SecurityMedia registers the security media (OTP generators) an
// institution hands to people, for the otp method. secmedia.Service
// implements it.
type SecurityMedia interface {
	Register(ctx context.Context, actor, institutionID string, in secmedia.Registration) (*secmedia.View, error)
}

var _ SecurityMedia = (*secmedia.Service)(nil)

// Webhooks sets the endpoint an institution's signed events go to and
// returns the new secret, once. webhook.Service implements it.
type Webhooks interface {
	SetEndpoint(ctx context.Context, actor, owner, url string) (secret string, err error)
}

var _ Webhooks = (*webhook.Service)(nil)

func (s *Server) verifications() (*ekyc.Service, error) {
	if s.Verifications == nil {
		return nil, errEKYCOff
	}
	return s.Verifications, nil
}

// Request bodies below check only what the services cannot see (base64,
// sizes, enums that become Go values); the services judge the values and
// name the field of any refusal.

// ---- institution side ----

type policyJSON struct {
	Required []ekyc.Method `json:"required"`
	Min      int           `json:"min"`
}

type openRequest struct {
	Reference  string        `json:"reference"`
	Applicant  *identityJSON `json:"applicant"`
	CustomerID string        `json:"customer_id"`
	Policy     *policyJSON   `json:"policy"`
}

func (q *openRequest) open() ekyc.Open {
	in := ekyc.Open{Reference: q.Reference, CustomerID: q.CustomerID}
	if q.Applicant != nil {
		in.Applicant = ekyc.Applicant{Name: q.Applicant.Name, BirthDate: q.Applicant.BirthDate, Phone: q.Applicant.Phone}
	}
	if q.Policy != nil {
		in.Policy = ekyc.Policy{Required: q.Policy.Required, Min: q.Policy.Min}
	}
	return in
}

// openedView shows the applicant token this once; only its MAC is kept.
type openedView struct {
	Session        *ekyc.View `json:"session"`
	ApplicantToken string     `json:"applicant_token"`
}

func (s *Server) openVerification(w http.ResponseWriter, r *http.Request) error {
	v, err := s.verifications()
	if err != nil {
		return err
	}
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	var req openRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	o, err := v.Open(r.Context(), p.ClientID, req.open())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/verifications/"+o.Session.ID)
	respond(w, http.StatusCreated, openedView{Session: o.Session, ApplicantToken: o.ApplicantToken})
	return nil
}

// getVerification shows one of the caller's sessions; another
// institution's is not found, exactly like one that does not exist.
func (s *Server) getVerification(w http.ResponseWriter, r *http.Request) error {
	v, err := s.verifications()
	if err != nil {
		return err
	}
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	view, err := v.Get(r.Context(), p.ClientID, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, view)
	return nil
}

// ---- applicant side ----

// applicant is the session an applicant token opened.
type applicant struct {
	sessionID string
}

type applicantKey struct{}

func applicantFrom(ctx context.Context) (*applicant, bool) {
	a, ok := ctx.Value(applicantKey{}).(*applicant)
	return a, ok && a != nil
}

// applicantStep is one applicant call on the session the token opened.
type applicantStep func(ctx context.Context, v *ekyc.Service, sessionID string) (*ekyc.View, error)

// runApplicant runs step and answers the session's view.
func (s *Server) runApplicant(w http.ResponseWriter, r *http.Request, step applicantStep) error {
	v, err := s.verifications()
	if err != nil {
		return err
	}
	a, ok := applicantFrom(r.Context())
	if !ok {
		return ekyc.ErrApplicantToken
	}
	view, err := step(r.Context(), v, a.sessionID)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, view)
	return nil
}

type idCardRequest struct {
	idCardJSON
	Image string `json:"image"`
	image []byte
}

func (q *idCardRequest) Validate() (err error) {
	q.image, err = decodeImage(q.Image, "image")
	return err
}

func (s *Server) submitIDCard(w http.ResponseWriter, r *http.Request) error {
	var req idCardRequest
	if err := decode(w, r, &req, max(s.BodyLimit, imageBodyLimit)); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.SubmitIDCard(ctx, id, *req.card(), req.image)
	})
}

type accountRequest struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"account_number"`
}

// Validate names the bank field as this request does; the network's own
// check would call it bank_code.
func (q *accountRequest) Validate() error {
	if !isDigits(q.Bank, 3) {
		return bankxfer.ErrInvalidAccount.WithField("bank")
	}
	return nil
}

func (s *Server) startAccount(w http.ResponseWriter, r *http.Request) error {
	var req accountRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.StartAccount(ctx, id, bankxfer.Account{Bank: req.Bank, Number: req.AccountNumber})
	})
}

// confirmRequest carries a code the applicant read: a memo or an SMS.
type confirmRequest struct {
	Code string `json:"code"`
}

func (s *Server) confirmAccount(w http.ResponseWriter, r *http.Request) error {
	var req confirmRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.ConfirmAccount(ctx, id, req.Code)
	})
}

func (s *Server) startCarrier(w http.ResponseWriter, r *http.Request) error {
	if err := decodeNothing(w, r, s.BodyLimit); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.StartCarrier(ctx, id)
	})
}

func (s *Server) confirmCarrier(w http.ResponseWriter, r *http.Request) error {
	var req confirmRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.ConfirmCarrier(ctx, id, req.Code)
	})
}

type otpRequest struct {
	Serial string `json:"serial"`
	Code   string `json:"code"`
}

func (s *Server) verifyOTP(w http.ResponseWriter, r *http.Request) error {
	var req otpRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.VerifyOTP(ctx, id, req.Serial, req.Code)
	})
}

func (s *Server) biometricNonce(w http.ResponseWriter, r *http.Request) error {
	v, err := s.verifications()
	if err != nil {
		return err
	}
	a, ok := applicantFrom(r.Context())
	if !ok {
		return ekyc.ErrApplicantToken
	}
	if err := decodeNothing(w, r, s.BodyLimit); err != nil {
		return err
	}
	n, err := v.BiometricNonce(r.Context(), a.sessionID)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, n)
	return nil
}

type biometricRequest struct {
	Selfie string `json:"selfie"`
	Nonce  string `json:"nonce"`
	selfie []byte
}

func (q *biometricRequest) Validate() (err error) {
	q.selfie, err = decodeImage(q.Selfie, "selfie")
	return err
}

func (s *Server) submitBiometric(w http.ResponseWriter, r *http.Request) error {
	var req biometricRequest
	if err := decode(w, r, &req, max(s.BodyLimit, imageBodyLimit)); err != nil {
		return err
	}
	return s.runApplicant(w, r, func(ctx context.Context, v *ekyc.Service, id string) (*ekyc.View, error) {
		return v.SubmitBiometric(ctx, id, req.selfie, req.Nonce)
	})
}

// ---- operator side ----

type videoCallRequest struct {
	Decision     string `json:"decision"`
	Reason       string `json:"reason"`
	RecordingRef string `json:"recording_ref"`
}

func (q *videoCallRequest) Validate() error {
	if q.Decision != "approve" && q.Decision != "reject" {
		return errs.ErrInvalid.WithField("decision")
	}
	return nil
}

// recordVideoCall records an agent's verdict. Operators serve every
// institution, so the session is found by its id alone.
func (s *Server) recordVideoCall(w http.ResponseWriter, r *http.Request) error {
	v, err := s.verifications()
	if err != nil {
		return err
	}
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req videoCallRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	view, err := v.RecordVideoCall(r.Context(), actorOf(a), id, ekyc.VideoDecision{
		Approve: req.Decision == "approve", Reason: req.Reason, RecordingRef: req.RecordingRef})
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, view)
	return nil
}

// ---- security media and webhooks ----

type mediumRequest struct {
	Serial    string       `json:"serial"`
	Kind      string       `json:"kind"`
	Seed      string       `json:"seed"`
	Digits    int          `json:"digits"`
	Period    int          `json:"period"`
	Algorithm string       `json:"algorithm"`
	Holder    identityJSON `json:"holder"`
}

func (q *mediumRequest) registration() secmedia.Registration {
	h := q.Holder
	return secmedia.Registration{Serial: q.Serial, Kind: secmedia.Kind(q.Kind), SeedBase32: q.Seed,
		Digits: q.Digits, Period: q.Period, Algorithm: secmedia.Algorithm(q.Algorithm),
		Holder: ekyc.Applicant{Name: h.Name, BirthDate: h.BirthDate, Phone: h.Phone}}
}

// registerMedium registers a medium the caller issued. The answer is the
// registry's view: the seed is never shown back.
func (s *Server) registerMedium(w http.ResponseWriter, r *http.Request) error {
	if s.SecurityMedia == nil {
		return errMediaOff
	}
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	var req mediumRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	view, err := s.SecurityMedia.Register(r.Context(), p.ClientID, p.ClientID, req.registration())
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, view)
	return nil
}

type webhookRequest struct {
	URL string `json:"url"`
}

// setWebhookEndpoint sets where the caller's events go. The secret is in
// this answer only (Cache-Control: no-store, as on every answer).
func (s *Server) setWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	if s.Webhooks == nil {
		return errWebhooksOff
	}
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	var req webhookRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	secret, err := s.Webhooks.SetEndpoint(r.Context(), p.ClientID, p.ClientID, req.URL)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, map[string]string{"url": req.URL, "secret": secret})
	return nil
}

// ---- helpers ----

// decodeNothing accepts a request that takes no input: no body, or an
// empty JSON object. Anything else is refused as decode would.
func decodeNothing(w http.ResponseWriter, r *http.Request, limit int64) error {
	body, err := readBody(w, r, limit)
	if errors.Is(err, errEmptyBody) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := checkMediaType(r.Header.Get("Content-Type"), "application/json"); err != nil {
		return errMediaType
	}
	return decodeJSON(body, &struct{}{})
}

// decodeImage decodes a standard-base64 image (padded, no line breaks) of
// at most maxImageBytes.
// The length is checked first, so an oversized image is refused before
// anything is allocated for it. An empty field is left to the service,
// which requires the image.
func decodeImage(s, field string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > base64.StdEncoding.EncodedLen(maxImageBytes) {
		return nil, errImageTooLarge.WithField(field)
	}
	// The decoder skips line breaks even when strict; refusing them keeps
	// one spelling per image.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errImageEncoding.WithField(field)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	switch {
	case err != nil:
		return nil, errImageEncoding.WithField(field)
	case len(b) > maxImageBytes:
		return nil, errImageTooLarge.WithField(field)
	}
	return b, nil
}

// institutionOffers reports whether the institution exists, is not revoked
// and holds scope: what it opened stops working with its access.
func (s *Server) institutionOffers(ctx context.Context, id, scope string) (bool, error) {
	c, err := s.Institutions.Store.Client(ctx, id)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return c.RevokedAt == nil && slices.Contains(c.Scopes, scope), nil
}
