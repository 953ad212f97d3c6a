package sqlstore

import (
	"slices"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/payment"
)

// TestHoldingStatuses keeps the literal status list the order queries name
// (for the planner to use the partial index) equal to HoldsOrder.
func TestHoldingStatuses(t *testing.T) {
	all := []payment.Status{payment.StatusAbnormal, payment.StatusVerified, payment.StatusExpired,
		payment.StatusAuthorizing, payment.StatusApproved, payment.StatusConfirmed, payment.StatusDeclined,
		payment.StatusRefused, payment.StatusFailed, payment.StatusNetCancelled, payment.StatusPartRefunded,
		payment.StatusRefunded}
	var want []string
	for _, s := range all {
		if s.HoldsOrder() {
			want = append(want, "'"+string(s)+"'")
		}
	}
	got := strings.Split(holdingStatuses, ", ")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("holdingStatuses = %v, want %v", got, want)
	}
}
