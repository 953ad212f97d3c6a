package ekyc_test

import (
	"context"
	"sync"
	"testing"

	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/idcheck"
)

// observer records what the risk observer hears.
type observer struct {
	mu  sync.Mutex
	evs []ekyc.AttemptEvent
}

func (o *observer) ObserveAttempt(_ context.Context, a ekyc.AttemptEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.evs = append(o.evs, a)
}

// TestRiskObserverHearsCountedAttempts: a counted wrong card, a card that
// passes, and a refused malformed card (not counted, not heard).
func TestRiskObserverHearsCountedAttempts(t *testing.T) {
	f := newFixture(t)
	o := &observer{}
	f.svc.Risk = o
	id := f.open(kim, ekyc.Policy{}).Session.ID
	unknown := with(kimCard, func(c *idcheck.Card) { c.RRN = "900101-1999999" })
	malformed := with(kimCard, func(c *idcheck.Card) { c.RRN = "900230-1234567" })
	f.idCard(id, unknown)
	if _, err := f.svc.SubmitIDCard(f.ctx(), id, malformed, kimIDImage); err == nil {
		t.Fatal("a malformed card was accepted")
	}
	f.idCard(id, kimCard)
	want := []ekyc.AttemptEvent{
		{InstitutionID: inst, SessionID: id, Method: ekyc.IDCard, Result: "failure", Reason: ekyc.ReasonIDUnknown, Time: f.clk.Now()},
		{InstitutionID: inst, SessionID: id, Method: ekyc.IDCard, Result: "success", Time: f.clk.Now()},
	}
	if len(o.evs) != len(want) {
		t.Fatalf("heard %+v, want %+v", o.evs, want)
	}
	for i := range want {
		if o.evs[i] != want[i] {
			t.Fatalf("event %d = %+v, want %+v", i, o.evs[i], want[i])
		}
	}
}

// TestNoRiskObserver: without an observer the attempt is recorded as ever.
func TestNoRiskObserver(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	if st := method(f.idCard(id, kimCard), ekyc.IDCard); st.Status != ekyc.MethodPassed {
		t.Fatalf("id_card = %+v", st)
	}
}
