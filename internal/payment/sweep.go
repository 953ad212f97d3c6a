package payment

import (
	"context"
	"time"
)

// sweepBatch is how many due transactions Sweep reads at once, and
// maxStuck how many it passes over in one sweep because they changed
// nothing (a reversal the network keeps failing).
const (
	sweepBatch = 100
	maxStuck   = 10 * sweepBatch
)

// sweep works through the due transactions batch by batch. A transaction
// it cannot settle now is remembered and passed over, and the next batch
// reads that many more, so that a run of stuck reversals — which stay the
// oldest due — cannot keep newer work (an approval nobody confirmed) from
// being done. It stops when a batch holds nothing new; the next sweep
// tries the stuck ones again.
func (s *Service) sweep(ctx context.Context) (int, error) {
	total := 0
	stuck := map[string]bool{}
	for len(stuck) <= maxStuck {
		limit := sweepBatch + len(stuck)
		due, err := s.Store.DuePaymentTransactions(ctx, s.now(), s.authGiveUp(), limit)
		if err != nil {
			return total, err
		}
		fresh := 0
		for _, t := range due {
			if stuck[t.ID] {
				continue
			}
			fresh++
			changed, err := s.sweepOne(ctx, t.ID)
			if err != nil {
				return total, err
			}
			if changed {
				total++
			} else {
				stuck[t.ID] = true
			}
		}
		if fresh == 0 || len(due) < limit {
			return total, nil
		}
	}
	return total, nil
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
