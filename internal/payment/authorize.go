package payment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/webhook"
)

// Where a transaction's PAN is sealed; the AAD binds it to its row.
const (
	txTable   = "payment_transactions"
	colPAN    = "pan"
	maxSecret = 128
	binLen    = 6
)

// retryAfter is what a client is told to wait after a network failure:
// the claim is released at once, so a retry can follow shortly.
const retryAfter = time.Second

func (s *Service) authorize(ctx context.Context, req AuthorizeRequest) (*View, error) {
	t, err := s.authenticate(ctx, req.TransactionID, req.ClientSecret)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.payable(ctx, t, now); err != nil {
		return nil, err
	}
	// A retry after a lost answer continues the first attempt: its card
	// was checked and reviewed then, and the network has the answer even
	// if the expiry month ended meanwhile.
	retry := t.Status == StatusAuthorizing
	if err := cardnet.Validate(req.Card, now); err != nil && !(retry && errors.Is(err, cardnet.ErrCardExpired)) {
		return nil, err
	}
	if t.Mode == Legacy && !s.AllowLegacy {
		return nil, ErrLegacyNotAllowed
	}
	if !retry {
		if err := s.review(ctx, t, req, now); err != nil {
			return nil, err
		}
	}
	t, _, err = s.update(ctx, "", t.ID, s.reserve(req.Card))
	if err != nil {
		return nil, err
	}
	return s.charge(ctx, t, req.Card)
}

// authenticate finds the transaction the client secret opens. A wrong
// secret answers like an unknown id, after the same MAC. An ABNORMAL
// transaction has no secret and can take no card data whoever asks.
func (s *Service) authenticate(ctx context.Context, id, secret string) (*Transaction, error) {
	if len(secret) > maxSecret {
		return nil, ErrTransactionNotFound
	}
	got := s.secretMAC(id, secret)
	t, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Code == Abnormal {
		return nil, ErrTransactionAbnormal
	}
	if !crypto.Equal(got, t.ClientSecretMAC) {
		return nil, ErrTransactionNotFound
	}
	return t, nil
}

// payable refuses a transaction that cannot take card data now, expiring
// on the way one whose time is up.
func (s *Service) payable(ctx context.Context, t *Transaction, now time.Time) error {
	switch {
	case t.Status == StatusVerified && now.Before(t.ExpiresAt):
		return nil
	case t.Status == StatusAuthorizing && leaseFree(t, now):
		return nil
	case t.Status == StatusVerified:
		if _, _, err := s.update(ctx, "", t.ID, expireStep(actorBuyer)); err != nil {
			return err
		}
	}
	return closed(t)
}

// leaseFree reports whether no authorization call holds t: none was made,
// or the last one answered, or its claim ran out.
func leaseFree(t *Transaction, now time.Time) bool {
	return t.AuthLeaseEnd == nil || !now.Before(*t.AuthLeaseEnd)
}

// review asks the fraud engine before the card network; a denial refuses
// the transaction for good.
func (s *Service) review(ctx context.Context, t *Transaction, req AuthorizeRequest, now time.Time) error {
	if s.Risk == nil {
		return nil
	}
	ev := RiskEvent{TransactionID: t.ID, MerchantID: t.MerchantID, AmountKRW: t.Info.Amount,
		BIN: req.Card.PAN[:binLen], IP: req.IP, Time: now}
	if m, err := s.Store.Merchant(ctx, t.MerchantID); err == nil {
		ev.InstitutionID = m.ClientID
	} else if !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	v := s.Risk.ReviewAuthorization(ctx, ev)
	if !v.Deny {
		return nil
	}
	_, _, err := s.update(ctx, "", t.ID, func(t *Transaction, now time.Time) (*Change, error) {
		if t.Status != StatusVerified {
			return nil, closed(t)
		}
		t.Status = StatusRefused
		e := entry(now, actorBuyer, actRefuse, t, audit.ResultDenied, map[string]string{"decision": v.DecisionID,
			"card": req.Card.Masked(), "amount": strconv.FormatInt(t.Info.Amount, 10)})
		e.ClientIP = req.IP
		return announced(t, now, EventRefused, e)
	})
	if err != nil {
		return err
	}
	return ErrPaymentRefused
}

// reserve claims the order for one authorization call: the transaction
// becomes authorizing (the store refuses a second holder of the order
// with ErrOrderTaken) with a lease, and the PAN is kept sealed so that a
// retry can be held to the same card.
func (s *Service) reserve(card cardnet.Card) step {
	return func(t *Transaction, now time.Time) (*Change, error) {
		switch {
		case t.Status == StatusVerified && now.Before(t.ExpiresAt):
			sealed, err := s.Ring.Seal([]byte(card.PAN), panAAD(t.ID))
			if err != nil {
				return nil, fmt.Errorf("seal PAN of %s: %w", t.ID, err)
			}
			t.PANSealed, t.PANMasked = sealed, card.Masked()
		case t.Status == StatusAuthorizing && leaseFree(t, now):
			if err := s.sameCard(t, card); err != nil {
				return nil, err
			}
		default:
			return nil, closed(t)
		}
		end := now.Add(s.authLease())
		t.Status, t.AuthLeaseEnd = StatusAuthorizing, &end
		t.AuthAttempts++
		return &Change{}, nil
	}
}

// sameCard holds a retry to the card of the first attempt: the network
// answers a repeated key with the first card's result, which must not be
// recorded against another card.
func (s *Service) sameCard(t *Transaction, card cardnet.Card) error {
	pan, err := s.Ring.Open(t.PANSealed, panAAD(t.ID))
	if err != nil {
		return fmt.Errorf("open PAN of %s: %w", t.ID, err)
	}
	if !crypto.Equal(pan, []byte(card.PAN)) {
		return ErrCardNetwork.WithRetryAfter(retryAfter)
	}
	return nil
}

// charge asks the network for the transaction's own amount (S's, in
// protected mode) under the transaction id, and records the answer. The
// answer is recorded even if the client has gone meanwhile.
func (s *Service) charge(ctx context.Context, t *Transaction, card cardnet.Card) (*View, error) {
	attempt := t.AuthAttempts
	nctx, cancel := context.WithTimeout(ctx, s.authLease())
	res, err := s.Network.Authorize(nctx, cardnet.Authorization{Key: t.ID, Card: card, AmountKRW: t.Info.Amount, MerchantID: t.MerchantID})
	cancel()
	if err == nil && !knownStatus(res.Status) {
		err = fmt.Errorf("card network answered status %q", res.Status)
	}
	wctx := context.WithoutCancel(ctx)
	if err != nil {
		if _, _, rerr := s.update(wctx, "", t.ID, release(attempt, card)); rerr != nil {
			s.logger().Error("releasing an authorization claim", "transaction", t.ID, "error", rerr)
		}
		if errs.KindOf(err) == errs.Invalid {
			return nil, err // the network refused the card as typed: nothing was charged
		}
		return nil, ErrCardNetwork.WithCause(err).WithRetryAfter(retryAfter)
	}
	t, _, err = s.update(wctx, "", t.ID, s.record(res, card))
	if err != nil {
		return nil, err
	}
	return t.View(), nil
}

func knownStatus(st cardnet.Status) bool {
	return st == cardnet.Approved || st == cardnet.Declined || st == cardnet.InsufficientFunds
}

// release ends attempt's claim after the network failed to answer: the
// transaction stays authorizing (the card may have been charged) until a
// retry asks again with the same key or the sweeper reverses it.
func release(attempt int, card cardnet.Card) step {
	return func(t *Transaction, now time.Time) (*Change, error) {
		if t.Status != StatusAuthorizing || t.AuthAttempts != attempt {
			return nil, nil // a later attempt holds it now
		}
		t.AuthLeaseEnd = nil
		e := entry(now, actorBuyer, actAuthorize, t, audit.ResultFailure, map[string]string{
			"outcome": "network_unavailable", "attempt": strconv.Itoa(attempt), "card": card.Masked()})
		return &Change{Audit: []audit.Entry{e}}, nil
	}
}

// record writes the network's answer. Another attempt having recorded it
// first is no conflict: under the same key it got the same answer.
func (s *Service) record(res cardnet.Result, card cardnet.Card) step {
	return func(t *Transaction, now time.Time) (*Change, error) {
		if t.Status != StatusAuthorizing {
			return nil, nil
		}
		t.AuthLeaseEnd = nil
		details := map[string]string{"attempt": strconv.Itoa(t.AuthAttempts), "card": card.Masked(),
			"amount": strconv.FormatInt(t.Info.Amount, 10), "outcome": string(res.Status)}
		typ, result := EventApproved, audit.ResultSuccess
		if res.Status == cardnet.Approved {
			t.Status, t.ApprovalCode, t.ExpiresAt = StatusApproved, res.ApprovalCode, now.Add(s.confirmWindow())
		} else {
			t.Status, t.DeclineReason, t.PANSealed = StatusDeclined, declineReason(res), nil
			typ, result = EventDeclined, audit.ResultFailure
		}
		ev, err := announce(t, typ, now)
		if err != nil {
			return nil, err
		}
		return &Change{Events: []webhook.Event{ev}, Audit: []audit.Entry{entry(now, actorBuyer, actAuthorize, t, result, details)}}, nil
	}
}

func declineReason(res cardnet.Result) string {
	if res.Reason != "" {
		return res.Reason
	}
	return string(res.Status)
}

func panAAD(id string) crypto.AAD {
	return crypto.AAD{Table: txTable, Column: colPAN, RowID: id}
}

// expireStep ends a NORMAL transaction whose time for card data is up.
func expireStep(actor string) step {
	return func(t *Transaction, now time.Time) (*Change, error) {
		if t.Status != StatusVerified || now.Before(t.ExpiresAt) {
			return nil, nil
		}
		t.Status = StatusExpired
		return announced(t, now, EventExpired, entry(now, actor, actExpire, t, audit.ResultFailure, nil))
	}
}
