package payment

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// DefaultLookupTimeout bounds the merchant's answer to an order lookup.
const DefaultLookupTimeout = 3 * time.Second

// maxTries bounds how often a change is decided again after another
// writer changed the transaction first.
const maxTries = 16

// maxID bounds ids taken from a request before any lookup.
const maxID = 64

// step decides a change on the transaction as read (and may edit it). It
// must not ask outside parties: it runs again, on the transaction read
// afresh, whenever another writer changed it first. A nil change writes
// nothing.
type step func(t *Transaction, now time.Time) (*Change, error)

// load reads a transaction; ErrTransactionNotFound when there is none.
func (s *Service) load(ctx context.Context, id string) (*Transaction, error) {
	if id == "" || len(id) > maxID {
		return nil, ErrTransactionNotFound
	}
	t, err := s.Store.PaymentTransaction(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrTransactionNotFound
	}
	return t, err
}

// loadFor reads a transaction of merchantID. Another merchant's answers
// exactly like one that does not exist.
func (s *Service) loadFor(ctx context.Context, merchantID, id string) (*Transaction, error) {
	t, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if merchantID == "" || t.MerchantID != merchantID {
		return nil, ErrTransactionNotFound
	}
	return t, nil
}

// update applies fn to the transaction (of merchantID, when not "") and
// saves the result as a compare-and-set on the version read, deciding
// again on conflict. It returns the transaction as written (or as read
// when fn changed nothing) and the change written, if any.
func (s *Service) update(ctx context.Context, merchantID, id string, fn step) (*Transaction, *Change, error) {
	for range maxTries {
		var t *Transaction
		var err error
		if merchantID != "" {
			t, err = s.loadFor(ctx, merchantID, id)
		} else {
			t, err = s.load(ctx, id)
		}
		if err != nil {
			return nil, nil, err
		}
		now := s.now()
		ch, err := fn(t, now)
		if err != nil || ch == nil {
			return t, nil, err
		}
		err = s.save(ctx, t, ch, now)
		if errors.Is(err, errs.ErrConflict) {
			continue
		} else if err != nil {
			return nil, nil, err
		}
		return t, ch, nil
	}
	return nil, nil, errs.ErrUnavailable.WithCause(fmt.Errorf("transaction %s kept changing", id))
}

// save writes t as the next version after the one read.
func (s *Service) save(ctx context.Context, t *Transaction, ch *Change, now time.Time) error {
	ch.T, ch.PrevVersion = t, t.Version
	t.Version++
	t.UpdatedAt = now
	return s.Store.SavePaymentTransaction(ctx, *ch)
}

// closed is the error for a transaction no card data can be taken for.
func closed(t *Transaction) error {
	switch t.Status {
	case StatusAbnormal:
		return ErrTransactionAbnormal
	case StatusExpired, StatusVerified: // verified reaches here only past its deadline
		return ErrTransactionExpired
	case StatusAuthorizing:
		return ErrOrderTaken
	}
	return ErrTransactionCompleted
}

// secretMAC is the stored form of a client secret, bound to its
// transaction.
func (s *Service) secretMAC(id, secret string) []byte {
	var msg []byte
	for _, p := range []string{"payment.client_secret", id, secret} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(p)))
		msg = append(msg, p...)
	}
	return crypto.MAC(s.Pepper, msg)
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Service) checkoutTTL() time.Duration { return orDefault(s.CheckoutTTL, DefaultCheckoutTTL) }
func (s *Service) authLease() time.Duration   { return orDefault(s.AuthLease, DefaultAuthLease) }
func (s *Service) authGiveUp() time.Duration  { return orDefault(s.AuthGiveUp, DefaultAuthGiveUp) }

func (s *Service) confirmWindow() time.Duration {
	return orDefault(s.ConfirmWindow, DefaultConfirmWindow)
}

func (s *Service) lookupTimeout() time.Duration {
	return orDefault(s.LookupTimeout, DefaultLookupTimeout)
}
