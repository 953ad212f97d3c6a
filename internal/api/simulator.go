package api

import (
	"net/http"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
)

// Simulators are the built-in stand-ins for the carrier, the
// app-attestation platform and the bank-transfer network, which the demo
// drives over HTTP: a phone "reads" its SMS, an app "obtains" an integrity
// token and an applicant "reads" a 1-won deposit's memo. They are
// SIMULATORS: the routes that expose them exist only when this is set
// (serve --demo or HAECHI_SIMULATORS=true), are not in the route table or
// the OpenAPI document, and must never be mounted in production, since
// they hand out codes and tokens to anyone.
type Simulators struct {
	Carrier *carrier.Simulator
	Attest  *attest.Simulator
	Bank    *bankxfer.Simulator // nil: no memo route
}

var (
	errNoSMS     = errs.New(errs.NotFound, "sms_not_found", "No code was sent to this phone.", "이 번호로 보낸 인증번호가 없습니다.")
	errNoDeposit = errs.New(errs.NotFound, "deposit_not_found", "No deposit was made to this account.", "이 계좌로 입금된 내역이 없습니다.")
)

// simulatorRoutes are the demo-only routes; none without Simulators.
func (s *Server) simulatorRoutes() []route {
	if s.Simulators == nil {
		return nil
	}
	rts := []route{
		{method: "POST", pattern: "/v1/simulator/integrity-tokens", handle: s.mintIntegrityToken, summary: "SIMULATOR: mint an app integrity token"},
		{method: "GET", pattern: "/v1/simulator/sms/{phone}", handle: s.lastSMS, summary: "SIMULATOR: the last SMS code sent to a phone"},
	}
	if s.Simulators.Bank != nil {
		rts = append(rts, route{method: "GET", pattern: "/v1/simulator/bank/{bank}/{account}/memo", handle: s.lastMemo, summary: "SIMULATOR: the memo of the last deposit to an account"})
	}
	return rts
}

type mintRequest struct {
	AppDigest       string `json:"app_digest"`
	AppVersion      string `json:"app_version"`
	DeviceIntegrity bool   `json:"device_integrity"`
	Nonce           string `json:"nonce"`
}

func (q *mintRequest) Validate() error {
	switch {
	case q.Nonce == "" || len(q.Nonce) > 128:
		return errs.ErrInvalid.WithField("nonce")
	case len(q.AppDigest) > 128:
		return errs.ErrInvalid.WithField("app_digest")
	case len(q.AppVersion) > 64:
		return errs.ErrInvalid.WithField("app_version")
	}
	return nil
}

func (s *Server) mintIntegrityToken(w http.ResponseWriter, r *http.Request) error {
	var req mintRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	tok, err := s.Simulators.Attest.Mint(attest.Claims{Nonce: req.Nonce, AppDigest: req.AppDigest,
		AppVersion: req.AppVersion, DeviceIntegrity: req.DeviceIntegrity})
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, map[string]string{"token": tok})
	return nil
}

func (s *Server) lastSMS(w http.ResponseWriter, r *http.Request) error {
	phone, err := customer.NormalizePhone(r.PathValue("phone"))
	if err != nil {
		return errNoSMS
	}
	code, ok := s.Simulators.Carrier.LastCode(phone)
	if !ok {
		return errNoSMS
	}
	respond(w, http.StatusOK, map[string]string{"code": code})
	return nil
}

// lastMemo shows the memo of the last deposit to an account, as its holder
// reads it on their statement.
func (s *Server) lastMemo(w http.ResponseWriter, r *http.Request) error {
	memo, ok := s.Simulators.Bank.LastMemo(bankxfer.Account{Bank: r.PathValue("bank"), Number: r.PathValue("account")})
	if !ok {
		return errNoDeposit
	}
	respond(w, http.StatusOK, map[string]string{"memo": memo})
	return nil
}
