package merchant

import (
	"context"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
)

// Order is the merchant's record of one order: S as handed to the buyer,
// and the transaction that paid it.
type Order struct {
	S         payinfo.Tagged
	PaidBy    string // the gateway transaction that paid it; "" while unpaid
	CreatedAt time.Time
}

// Paid reports whether a confirmed payment is recorded for the order.
func (o Order) Paid() bool { return o.PaidBy != "" }

// OrderStore keeps a merchant's orders; a real merchant implements it on
// its own database. Implementations must be safe for concurrent use.
//
// Put adds a new order; an order number already stored is ErrOrderExists
// and nothing changes. Get returns the order or ErrOrderNotFound.
// MarkPaid records that transactionID paid the order: ErrOrderNotFound
// for an unknown order, ErrOrderPaid when another transaction already
// paid it, nil when this one already did (Confirm may run twice).
type OrderStore interface {
	Put(ctx context.Context, o Order) error
	Get(ctx context.Context, orderNo string) (Order, error)
	MarkPaid(ctx context.Context, orderNo, transactionID string) error
}

// MemoryOrders is an OrderStore in memory, for tests, demos and merchants
// that keep orders nowhere else. The zero value is ready to use.
type MemoryOrders struct {
	mu     sync.Mutex
	orders map[string]Order
}

var _ OrderStore = (*MemoryOrders)(nil)

// NewMemoryOrders returns an empty store.
func NewMemoryOrders() *MemoryOrders { return &MemoryOrders{} }

// Put implements OrderStore.
func (s *MemoryOrders) Put(_ context.Context, o Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orders[o.S.OrderNo]; ok {
		return ErrOrderExists
	}
	if s.orders == nil {
		s.orders = make(map[string]Order)
	}
	s.orders[o.S.OrderNo] = o
	return nil
}

// Get implements OrderStore.
func (s *MemoryOrders) Get(_ context.Context, orderNo string) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderNo]
	if !ok {
		return Order{}, ErrOrderNotFound
	}
	return o, nil
}

// MarkPaid implements OrderStore.
func (s *MemoryOrders) MarkPaid(_ context.Context, orderNo, transactionID string) error {
	if transactionID == "" {
		return ErrInvalid
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderNo]
	switch {
	case !ok:
		return ErrOrderNotFound
	case o.PaidBy == transactionID:
		return nil
	case o.Paid():
		return ErrOrderPaid
	}
	o.PaidBy = transactionID
	s.orders[orderNo] = o
	return nil
}
