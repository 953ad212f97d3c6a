package payment

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

const (
	txPrefix    = "ptx_"
	secretBytes = 32
)

func (s *Service) checkout(ctx context.Context, req CheckoutRequest) (*Checkout, error) {
	c := req.C
	if err := validateClaim(c); err != nil {
		return nil, err
	}
	m, err := s.activeMerchant(ctx, c.MerchantID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return s.abnormal(ctx, req, nil, c.Info, payinfo.ReasonMerchant)
	}
	if err := s.orderFree(ctx, m.ID, c.OrderNo); err != nil {
		return nil, err
	}
	if m.Mode == Legacy {
		if s.AllowLegacy {
			return s.normal(ctx, req, m, c.Info, Legacy)
		}
		// Fail closed: with legacy switched off, the merchant's checkouts
		// are verified like everyone's rather than refused or unchecked.
		s.logger().Warn("legacy merchant verified in protected mode: legacy payments are not allowed", "merchant", m.ID)
	}
	info, reason, err := s.verify(ctx, m, c)
	if err != nil {
		return nil, err
	}
	if reason != payinfo.ReasonNone {
		return s.abnormal(ctx, req, m, info, reason)
	}
	return s.normal(ctx, req, m, info, Protected)
}

// validateClaim checks C as the client sent it. TID_C must look like a
// TID: a client that cannot send one is malformed, not tampered with.
func validateClaim(c payinfo.Tagged) error {
	if err := c.Info.Validate(); err != nil {
		var fe *payinfo.FieldError
		if errors.As(err, &fe) {
			return ErrInvalidPaymentInfo.WithField(fe.Field)
		}
		return ErrInvalidPaymentInfo
	}
	if !lowerHex(c.TID, payinfo.TIDLen) {
		return ErrInvalidPaymentInfo.WithField("tid")
	}
	return nil
}

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// orderFree refuses an order that already has its one payment.
func (s *Service) orderFree(ctx context.Context, merchantID, orderNo string) error {
	_, err := s.Store.OrderHolder(ctx, merchantID, orderNo)
	if errors.Is(err, errs.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return ErrOrderPaid
}

// verify is steps 7–9: the merchant's record of the order, compared with
// C under the merchant's key. info is what the transaction shows: the
// merchant's S when its TID verifies, else C as claimed.
func (s *Service) verify(ctx context.Context, m *MerchantRecord, c payinfo.Tagged) (payinfo.Info, payinfo.Reason, error) {
	lctx, cancel := context.WithTimeout(ctx, s.lookupTimeout())
	sTag, err := s.Lookup.Order(lctx, m, c.OrderNo)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return c.Info, "", ctx.Err() // the client left: nothing to blame the merchant for
		}
		if errors.Is(err, ErrUnknownOrder) {
			return c.Info, payinfo.ReasonUnknownOrder, nil
		}
		s.logger().Warn("merchant order lookup failed", "merchant", m.ID, "error", err)
		return c.Info, payinfo.ReasonMerchantUnreachable, nil
	}
	key, err := s.tidKey(m)
	if err != nil {
		return c.Info, "", err
	}
	reason := payinfo.Compare(key, sTag, c)
	if payinfo.VerifyTID(key, sTag.Info, sTag.TID) {
		return sTag.Info, reason, nil
	}
	return c.Info, reason, nil
}

// normal records a NORMAL transaction waiting for card data and hands out
// its client secret, stored only as a MAC.
func (s *Service) normal(ctx context.Context, req CheckoutRequest, m *MerchantRecord, info payinfo.Info, mode Mode) (*Checkout, error) {
	now := s.now()
	t := newTransaction(m.ID, info, req.C.Info, mode, now)
	t.Code, t.Status, t.ExpiresAt = Normal, StatusVerified, now.Add(s.checkoutTTL())
	secret := crypto.Token(secretBytes)
	t.ClientSecretMAC = s.secretMAC(t.ID, secret)
	e := entry(now, actorBuyer, actCheckout, t, audit.ResultSuccess, map[string]string{"code": string(Normal),
		"mode": string(mode), "amount": strconv.FormatInt(info.Amount, 10)})
	e.ClientIP = req.IP
	if err := s.Store.CreatePaymentTransaction(ctx, t, nil, e); err != nil {
		return nil, err
	}
	if mode == Legacy {
		s.logger().Warn("legacy payment mode: amount not verified", "merchant", m.ID, "transaction", t.ID)
	}
	return &Checkout{Transaction: t.View(), ClientSecret: secret}, nil
}

// abnormal records an ABNORMAL transaction: it ends here, audited,
// announced to the merchant (when there is one) and reported to the fraud
// engine. m is nil when the merchant id names no merchant.
func (s *Service) abnormal(ctx context.Context, req CheckoutRequest, m *MerchantRecord, info payinfo.Info, reason payinfo.Reason) (*Checkout, error) {
	now := s.now()
	t := newTransaction(req.C.MerchantID, info, req.C.Info, Protected, now)
	t.Code, t.Reason, t.Status, t.ExpiresAt = Abnormal, reason, StatusAbnormal, now
	var evs []webhook.Event
	if m != nil {
		ev, err := announce(t, EventAbnormal, now)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	e := entry(now, actorBuyer, actCheckout, t, resultAbnormal, map[string]string{"code": string(Abnormal),
		"reason": string(reason), "amount": strconv.FormatInt(info.Amount, 10),
		"claimed_amount": strconv.FormatInt(req.C.Amount, 10)})
	e.ClientIP = req.IP
	if err := s.Store.CreatePaymentTransaction(ctx, t, evs, e); err != nil {
		return nil, err
	}
	if s.Risk != nil {
		ev := RiskEvent{TransactionID: t.ID, MerchantID: t.MerchantID, Reason: reason,
			AmountKRW: req.C.Amount, IP: req.IP, Time: now}
		if m != nil {
			ev.InstitutionID = m.ClientID
		}
		s.Risk.ObserveAbnormal(ctx, ev)
	}
	return &Checkout{Transaction: t.View()}, nil
}

func newTransaction(merchantID string, info, claimed payinfo.Info, mode Mode, now time.Time) *Transaction {
	return &Transaction{ID: crypto.NewID(txPrefix), MerchantID: merchantID, Info: info, Claimed: claimed,
		Mode: mode, CreatedAt: now, UpdatedAt: now, Version: 1}
}
