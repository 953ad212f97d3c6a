package payment

import (
	"context"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

const (
	refundPrefix = "prf_"
	maxReason    = 200

	// Reasons the gateway gives its own reversals.
	reasonConfirmMismatch = "confirm_mismatch"
	reasonNotConfirmed    = "not_confirmed"
	reasonNoAnswer        = "no_answer"
)

func (s *Service) confirm(ctx context.Context, merchantID, id, orderNo string, amount int64) (*View, error) {
	// An amount no payment can have is a malformed request, not a
	// mismatch: it must not net-cancel the buyer's payment.
	if amount < 1 || amount > payinfo.MaxAmount {
		return nil, ErrInvalidPaymentInfo.WithField("amount")
	}
	var refused error
	t, ch, err := s.update(ctx, merchantID, id, func(t *Transaction, now time.Time) (*Change, error) {
		refused = nil
		switch {
		case t.Status == StatusConfirmed && t.Info.OrderNo == orderNo && t.Info.Amount == amount:
			return nil, nil // the same confirmation again
		case t.Status != StatusApproved:
			return nil, ErrNotConfirmable
		case t.Info.OrderNo != orderNo:
			// A payment of another order may be that order's honest
			// payment: refuse to count it for this one, change nothing.
			// Its own merchant confirms it, or the sweeper net-cancels it.
			return nil, ErrConfirmWrongOrder
		case t.Info.Amount != amount:
			refused = ErrConfirmMismatch
			return reversal(t, now, merchantID, KindNetCancel, t.Info.Amount, reasonConfirmMismatch)
		case !now.Before(t.ExpiresAt):
			refused = ErrNotConfirmable
			return reversal(t, now, merchantID, KindNetCancel, t.Info.Amount, reasonNotConfirmed)
		}
		t.Status, t.ConfirmedAt = StatusConfirmed, &now
		return announced(t, now, EventConfirmed, entry(now, merchantID, actConfirm, t, audit.ResultSuccess,
			map[string]string{"amount": strconv.FormatInt(amount, 10)}))
	})
	if err != nil {
		return nil, err
	}
	s.settleRefunds(ctx, t, ch)
	if refused != nil {
		return nil, refused
	}
	return t.View(), nil
}

func (s *Service) netCancel(ctx context.Context, merchantID, id, reason string) (*View, error) {
	if !validReason(reason) || reason == "" {
		return nil, errs.ErrInvalid.WithField("reason")
	}
	t, ch, err := s.update(ctx, merchantID, id, func(t *Transaction, now time.Time) (*Change, error) {
		switch t.Status {
		case StatusNetCancelled:
			return nil, nil // already reversed: asking again changes nothing
		case StatusApproved:
			return reversal(t, now, merchantID, KindNetCancel, t.Info.Amount, reason)
		}
		return nil, ErrNotCancellable
	})
	if err != nil {
		return nil, err
	}
	s.settleRefunds(ctx, t, ch)
	return t.View(), nil
}

func (s *Service) refund(ctx context.Context, merchantID, id string, amount int64, reason string) (*View, error) {
	if amount < 1 {
		return nil, errs.ErrInvalid.WithField("amount")
	}
	if !validReason(reason) {
		return nil, errs.ErrInvalid.WithField("reason")
	}
	t, ch, err := s.update(ctx, merchantID, id, func(t *Transaction, now time.Time) (*Change, error) {
		if t.Status != StatusConfirmed && t.Status != StatusPartRefunded {
			return nil, ErrNotCancellable
		}
		if amount > t.Info.Amount-t.RefundedAmount {
			return nil, ErrRefundExceeds
		}
		return reversal(t, now, merchantID, KindRefund, amount, reason)
	})
	if err != nil {
		return nil, err
	}
	s.settleRefunds(ctx, t, ch)
	return t.View(), nil
}

// validReason accepts up to 200 characters of UTF-8 without control
// characters; it is stored and shown to operators.
func validReason(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxReason {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return true
}

// reversal moves t to what a reversal of amount makes it and adds the
// reversal, pending, to the change: it is written before the network is
// asked, so that a crash in between leaves it for the sweeper to retry
// with the same key.
func reversal(t *Transaction, now time.Time, actor string, kind RefundKind, amount int64, reason string) (*Change, error) {
	r := Refund{ID: crypto.NewID(refundPrefix), TransactionID: t.ID, Kind: kind, Amount: amount, Reason: reason,
		Status: RefundPending, CreatedAt: now}
	typ, action := EventNetCancelled, actNetCancel
	switch kind {
	case KindNetCancel:
		t.Status = StatusNetCancelled
	case KindRefund:
		t.RefundedAmount += amount
		t.Status, typ, action = StatusPartRefunded, EventRefunded, actRefund
		if t.RefundedAmount == t.Info.Amount {
			t.Status = StatusRefunded
		}
	case KindReversal:
		t.Status, t.AuthLeaseEnd, t.PANSealed, typ, action = StatusFailed, nil, nil, EventFailed, actReverse
	}
	e := entry(now, actor, action, t, audit.ResultSuccess, map[string]string{"refund": r.ID, "kind": string(kind),
		"amount": strconv.FormatInt(amount, 10), "refunded": strconv.FormatInt(t.RefundedAmount, 10)})
	ch, err := announced(t, now, typ, e)
	if err != nil {
		return nil, err
	}
	ch.Refunds = []Refund{r}
	return ch, nil
}

// announced is a change carrying the merchant's event about t and e.
func announced(t *Transaction, now time.Time, typ string, e audit.Entry) (*Change, error) {
	ev, err := announce(t, typ, now)
	if err != nil {
		return nil, err
	}
	return &Change{Events: []webhook.Event{ev}, Audit: []audit.Entry{e}}, nil
}

// settleRefunds asks the network for the pending refunds a change wrote.
func (s *Service) settleRefunds(ctx context.Context, t *Transaction, ch *Change) {
	if ch != nil {
		s.runRefunds(ctx, t, ch.Refunds)
	}
}

// runRefunds asks the network for each pending refund and records those
// it answered; the others stay pending for the sweeper. It returns how
// many were recorded done. The caller's cancellation does not stop it:
// the reversal is already promised.
func (s *Service) runRefunds(ctx context.Context, t *Transaction, refunds []Refund) int {
	ctx = context.WithoutCancel(ctx)
	n := 0
	for _, r := range refunds {
		if r.Status != RefundPending {
			continue
		}
		if err := s.runRefund(ctx, t, r); err != nil {
			s.logger().Warn("card network reversal failed; will retry", "transaction", t.ID, "refund", r.ID, "error", err)
			continue
		}
		n++
	}
	return n
}

func (s *Service) runRefund(ctx context.Context, t *Transaction, r Refund) error {
	nctx, cancel := context.WithTimeout(ctx, s.authLease())
	ref, err := s.Network.Cancel(nctx, cardnet.Cancellation{Key: r.ID, AuthKey: t.ID, AmountKRW: r.Amount})
	cancel()
	refused := errors.Is(err, cardnet.ErrNotCancellable)
	if err != nil && !refused {
		return err
	}
	if refused && r.Kind != KindReversal {
		// The network holds no charge to reverse for an approval the
		// gateway recorded: it needs a person, not a retry.
		s.logger().Error("card network refused a reversal of an approved payment", "transaction", t.ID, "refund", r.ID)
	}
	_, _, err = s.update(ctx, "", t.ID, s.refundDone(ctx, r, ref, refused))
	return err
}

// pending reports whether refund id of t is still pending as stored:
// two sweepers may both have asked the network (which answered both the
// same), and only the first records it.
func (s *Service) pending(ctx context.Context, transactionID, id string) (bool, error) {
	rs, err := s.Store.PaymentRefunds(ctx, transactionID)
	if err != nil {
		return false, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r.Status == RefundPending, nil
		}
	}
	return false, nil
}

// refundDone records the network's answer to a reversal. For a reversal
// of an authorization that never answered, "not cancellable" means
// nothing was charged: the expected outcome.
func (s *Service) refundDone(ctx context.Context, r Refund, ref string, refused bool) step {
	return func(t *Transaction, now time.Time) (*Change, error) {
		if ok, err := s.pending(ctx, t.ID, r.ID); err != nil || !ok {
			return nil, err
		}
		r.Status, r.NetworkRef, r.DoneAt = RefundDone, ref, &now
		result, outcome := audit.ResultSuccess, "reversed"
		switch {
		case refused && r.Kind == KindReversal:
			outcome = "nothing_charged"
		case refused:
			result, outcome = audit.ResultFailure, "not_cancellable"
		}
		e := entry(now, actorGateway, actReversalDone, t, result, map[string]string{"refund": r.ID,
			"kind": string(r.Kind), "amount": strconv.FormatInt(r.Amount, 10), "outcome": outcome})
		return &Change{Refunds: []Refund{r}, Audit: []audit.Entry{e}}, nil
	}
}
