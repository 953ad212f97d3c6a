package payment

import (
	"context"
	"time"
)

// sweepBatch is how many due transactions Sweep reads at once.
const sweepBatch = 100

// sweep works through the due transactions batch by batch. It stops when
// a batch changes nothing, so that transactions it cannot settle now (a
// reversal the network keeps failing) do not keep it busy: the next
// sweep tries them again.
func (s *Service) sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		due, err := s.Store.DuePaymentTransactions(ctx, s.now(), s.authGiveUp(), sweepBatch)
		if err != nil {
			return total, err
		}
		n := 0
		for _, t := range due {
			changed, err := s.sweepOne(ctx, t.ID)
			if err != nil {
				return total + n, err
			}
			if changed {
				n++
			}
		}
		total += n
		if len(due) < sweepBatch || n == 0 {
			return total, nil
		}
	}
}

// sweepOne moves one transaction on if it is due, then asks the network
// for its pending reversals (including one the move just wrote).
func (s *Service) sweepOne(ctx context.Context, id string) (bool, error) {
	t, ch, err := s.update(ctx, "", id, s.due)
	if err != nil {
		return false, err
	}
	refunds, err := s.Store.PaymentRefunds(ctx, id)
	if err != nil {
		return false, err
	}
	done := s.runRefunds(ctx, t, refunds)
	return ch != nil || done > 0, nil
}

// due decides what the gateway itself does with t at now, if anything.
func (s *Service) due(t *Transaction, now time.Time) (*Change, error) {
	switch {
	case t.Status == StatusVerified && !now.Before(t.ExpiresAt):
		return expireStep(actorGateway)(t, now)
	case t.Status == StatusApproved && !now.Before(t.ExpiresAt):
		// The merchant never confirmed: the buyer must not pay for an
		// order nobody ships.
		return reversal(t, now, actorGateway, KindNetCancel, t.Info.Amount, reasonNotConfirmed)
	case t.Status == StatusAuthorizing && leaseFree(t, now) && t.UpdatedAt.Before(now.Add(-s.authGiveUp())):
		// Nobody retried after the network went silent: whatever it may
		// have charged is reversed under the authorization's key.
		return reversal(t, now, actorGateway, KindReversal, t.Info.Amount, reasonNoAnswer)
	}
	return nil, nil
}
