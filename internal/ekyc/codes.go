package ekyc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/mask"
	"github.com/haechi/haechi/internal/onetime"
)

// Limits of the code methods (existing_account, carrier).
const (
	MaxCodeAttempts = 5 // wrong entries per method and session, over every code sent
	MaxCodeSends    = 3 // deposits or SMS per method and session
	maxCodeInput    = 16
	depositKRW      = 1
)

// Reasons of the code methods.
const (
	ReasonHolderMismatch  = "holder_mismatch"
	ReasonCarrierMismatch = "carrier_mismatch"
	ReasonCodeWrong       = "code_wrong"
	ReasonCodeExhausted   = "code_exhausted"
	reasonCodeExpired     = "code_expired"
)

// codeSpec is how a method's codes are made.
type codeSpec struct {
	method  Method
	purpose string
	alnum   bool
	length  int
	ttl     time.Duration
}

var (
	// The 1-won memo: 4 characters a person reads off a statement, valid
	// 10 minutes (the guideline allows 15).
	accountCode = codeSpec{ExistingAccount, "ekyc.existing_account", true, 4, 10 * time.Minute}
	carrierCode = codeSpec{Carrier, "ekyc.carrier", false, 6, 3 * time.Minute}
)

func (s *Service) startAccount(ctx context.Context, id string, acct bankxfer.Account) (*View, error) {
	if s.Accounts == nil || s.Codes == nil {
		return nil, ErrMethodUnavailable
	}
	acct, err := acct.Normalize()
	if err != nil {
		return nil, err
	}
	r, err := s.begin(ctx, id, ExistingAccount)
	if err != nil {
		return nil, err
	}
	if err := canSend(r, ExistingAccount, s.now()); err != nil {
		return nil, err
	}
	holder, err := s.Accounts.Holder(ctx, acct)
	if err != nil {
		return nil, err
	}
	ev, err := s.newEvidence(r, ExistingAccount, EvidenceAccount, TypeText, []byte(acct.Bank+"-"+acct.Number),
		s.AccountIndex(acct.Bank, acct.Number), s.now())
	if err != nil {
		return nil, err
	}
	details := map[string]string{"bank": acct.Bank, "account": mask.Account(acct.Number)}
	if norm.NFC.String(strings.TrimSpace(holder)) != r.Applicant.Name {
		a := s.newAttempt(ctx, r, ExistingAccount, 0)
		a.details, a.evidence = details, []EvidenceRecord{ev}
		return s.run(ctx, a.decide(fail, ReasonHolderMismatch))
	}
	deposit := func(code string) error {
		_, err := s.Accounts.Deposit(ctx, acct, depositKRW, code)
		return err
	}
	return s.sendCode(ctx, r, accountCode, details, []EvidenceRecord{ev}, deposit)
}

func (s *Service) startCarrier(ctx context.Context, id string) (*View, error) {
	if s.Carrier == nil || s.Codes == nil {
		return nil, ErrMethodUnavailable
	}
	r, err := s.begin(ctx, id, Carrier)
	if err != nil {
		return nil, err
	}
	if err := canSend(r, Carrier, s.now()); err != nil {
		return nil, err
	}
	app := r.Applicant
	ok, err := s.Carrier.Match(ctx, carrier.Identity{Name: app.Name, BirthDate: app.BirthDate, Phone: app.Phone})
	if err != nil {
		return nil, err
	}
	details := map[string]string{"phone": mask.Phone(app.Phone)}
	if !ok {
		a := s.newAttempt(ctx, r, Carrier, 0)
		a.details = details
		return s.run(ctx, a.decide(fail, ReasonCarrierMismatch))
	}
	sms := func(code string) error { return s.Carrier.SendCode(ctx, app.Phone, code) }
	return s.sendCode(ctx, r, carrierCode, details, nil, sms)
}

// canSend refuses early what takeSend would refuse, before an outside
// party is asked.
func canSend(r *Record, m Method, now time.Time) error {
	st := r.find(m)
	switch {
	case st == nil:
		return nil
	case st.Sends >= MaxCodeSends:
		return ErrSendLimit
	case now.Before(st.CodeUntil):
		return ErrCodePending
	}
	return nil
}

// sendCode reserves a send, retires the previous code, issues a new one
// for the tries the method has left and delivers it, then records it.
func (s *Service) sendCode(ctx context.Context, r *Record, spec codeSpec, details map[string]string, ev []EvidenceRecord, deliver func(string) error) (*View, error) {
	var previous string
	var tries int
	_, err := s.update(ctx, r.ID, func(r *Record, now time.Time) (*change, error) {
		st := r.ensure(spec.method, now)
		if st.Status != MethodStarted {
			return nil, ErrMethodClosed
		}
		if err := canSend(r, spec.method, now); err != nil {
			return nil, err
		}
		previous, tries = st.CodeID, MaxCodeAttempts-st.Attempts
		st.Sends++
		st.CodeID, st.CodeUntil, st.UpdatedAt = "", now.Add(spec.ttl), now
		return &change{}, nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.retire(ctx, previous); err != nil {
		return nil, err
	}
	code, c, err := s.issue(ctx, spec, r.ID, tries)
	if err == nil {
		err = deliver(code)
	}
	if err != nil {
		return nil, s.unsent(ctx, r.ID, spec, details, err)
	}
	return s.recordSent(ctx, r.ID, spec, c, details, ev)
}

// retire spends the previous code so it takes no more tries: the tries
// left move to the new code instead.
func (s *Service) retire(ctx context.Context, codeID string) error {
	if codeID == "" {
		return nil
	}
	if _, err := s.Codes.Store.MarkCodeUsed(ctx, codeID, s.now()); err != nil {
		return fmt.Errorf("retire code: %w", err)
	}
	return nil
}

func (s *Service) issue(ctx context.Context, spec codeSpec, sessionID string, tries int) (string, *onetime.Code, error) {
	if spec.alnum {
		return s.Codes.IssueAlnum(ctx, spec.purpose, sessionID, spec.length, spec.ttl, tries)
	}
	return s.Codes.Issue(ctx, spec.purpose, sessionID, spec.length, spec.ttl, tries)
}

// recordSent makes the code the method's current one.
func (s *Service) recordSent(ctx context.Context, id string, spec codeSpec, c *onetime.Code, details map[string]string, ev []EvidenceRecord) (*View, error) {
	actor := actorOf(ctx)
	r, err := s.update(ctx, id, func(r *Record, now time.Time) (*change, error) {
		st := r.find(spec.method)
		if st == nil || st.Status != MethodStarted {
			return nil, ErrMethodClosed
		}
		st.CodeID, st.CodeUntil, st.UpdatedAt = c.ID, c.ExpiresAt, now
		e := sendEntry(actor, id, spec, details, audit.ResultSuccess, st, now)
		return &change{evidence: ev, audit: []audit.Entry{e}}, nil
	})
	if err != nil {
		return nil, err
	}
	return r.view(), nil
}

// unsent records a send that failed; the send stays counted (a deposit
// may have gone through unseen) but a new one may be asked for at once.
func (s *Service) unsent(ctx context.Context, id string, spec codeSpec, details map[string]string, cause error) error {
	actor := actorOf(ctx)
	_, err := s.update(ctx, id, func(r *Record, now time.Time) (*change, error) {
		st := r.find(spec.method)
		if st == nil || st.Status != MethodStarted {
			return nil, ErrMethodClosed
		}
		st.CodeID, st.CodeUntil, st.UpdatedAt = "", time.Time{}, now
		e := sendEntry(actor, id, spec, details, audit.ResultFailure, st, now)
		e.Details["reason"] = reasonUnavailable
		return &change{audit: []audit.Entry{e}}, nil
	})
	if err != nil && !isClosed(err) {
		return fmt.Errorf("%w (and recording it: %v)", cause, err)
	}
	return cause
}

func sendEntry(actor, id string, spec codeSpec, details map[string]string, result string, st *MethodState, now time.Time) audit.Entry {
	d := map[string]string{"step": "code_sent", "sends": fmt.Sprint(st.Sends)}
	for k, v := range details {
		d[k] = v
	}
	return audit.Entry{Time: now, Actor: actor, Action: "ekyc." + string(spec.method), Target: id, Result: result, Details: d}
}

// confirmCode checks a code the applicant read. Wrong entries count over
// the session (MaxCodeAttempts in all); an expired code is refused without
// counting and the method may send a new one.
func (s *Service) confirmCode(ctx context.Context, spec codeSpec, id, code string) (*View, error) {
	if s.Codes == nil {
		return nil, ErrMethodUnavailable
	}
	if !validCode(code) {
		return nil, ErrInvalidCode
	}
	r, err := s.begin(ctx, id, spec.method)
	if err != nil {
		return nil, err
	}
	st := r.find(spec.method)
	if st == nil || st.CodeID == "" {
		return nil, ErrNoCode
	}
	res, err := s.Codes.Check(ctx, st.CodeID, spec.purpose, r.ID, code)
	if err != nil {
		return nil, err
	}
	a := s.newAttempt(ctx, r, spec.method, MaxCodeAttempts)
	a.codeID, a.spent = st.CodeID, ReasonCodeExhausted
	switch res {
	case onetime.Accepted:
		return s.run(ctx, a.decide(pass, ""))
	case onetime.Wrong:
		return s.run(ctx, a.decide(wrong, ReasonCodeWrong))
	case onetime.Exhausted:
		return s.run(ctx, a.decide(exhausted, ReasonCodeExhausted))
	case onetime.Used:
		return nil, s.usedCode(ctx, id, spec.method)
	}
	return nil, s.expiredCode(ctx, a, st)
}

// usedCode: a code accepted once (by a parallel entry) or retired.
func (s *Service) usedCode(ctx context.Context, id string, m Method) error {
	r, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if st := r.find(m); st != nil && st.Status == MethodPassed {
		return ErrMethodClosed
	}
	return ErrCodeExpired
}

// expiredCode audits the refused entry; the session does not change.
func (s *Service) expiredCode(ctx context.Context, a *attempt, st *MethodState) error {
	a.reason = reasonCodeExpired
	e := a.entry(st, s.now())
	e.Details["outcome"] = "expired"
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		return err
	}
	return ErrCodeExpired
}

// validCode accepts 1–16 ASCII letters and digits.
func validCode(s string) bool {
	if len(s) == 0 || len(s) > maxCodeInput {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
