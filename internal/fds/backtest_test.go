package fds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// storedDecision is a decision as it comes back from a database: its
// features went through JSON.
func storedDecision(t *testing.T, id string, at time.Time, f map[string]any) Decision {
	t.Helper()
	ev := defaultEval(t, f)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return Decision{ID: id, Kind: KindLogin, Score: ev.Score, Outcome: ev.Outcome, Features: back, CreatedAt: at}
}

func defaultEval(t *testing.T, f map[string]any) Evaluation {
	t.Helper()
	p, err := defaultProgram()
	if err != nil {
		t.Fatal(err)
	}
	return p.Eval(f)
}

func TestBacktest(t *testing.T) {
	ctx := context.Background()
	e, s, _ := newTestEngine(t)
	calm := calmFeatures()
	newDev := calmFeatures()
	newDev["device_new"], newDev["first_use"] = true, true
	blocked := calmFeatures()
	blocked["listed_block"] = true
	// 1,200 decisions span three pages: 600 calm, 580 on new devices, 20
	// block-listed; one more falls outside the range.
	for i := range 1200 {
		f := calm
		switch {
		case i%2 == 1 && i < 1160:
			f = newDev
		case i >= 1180:
			f = blocked
		}
		s.decisions = append(s.decisions, storedDecision(t, fmt.Sprintf("dec_%04d", i), t0.Add(time.Duration(i)*time.Second), f))
	}
	s.decisions = append(s.decisions, storedDecision(t, "dec_late", t0.Add(24*time.Hour), newDev))

	candidate := DefaultRuleSet()
	candidate.Name = "stricter new devices"
	candidate.Rules[4].Score = 45 // new_device
	r, err := e.Backtest(ctx, candidate, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Candidate != "stricter new devices" || r.Decisions != 1200 || r.Changed != 580 {
		t.Fatalf("report %s: %d decisions, %d changed", r.Candidate, r.Decisions, r.Changed)
	}
	if len(r.Transitions) != 1 || r.Transitions["allow→step_up"] != 580 {
		t.Fatalf("transitions %v", r.Transitions)
	}
	if len(r.Samples) != BacktestMaxSamples {
		t.Fatalf("%d samples", len(r.Samples))
	}
	first := r.Samples[0]
	if first.DecisionID != "dec_0001" || first.From != Allow || first.To != StepUp || first.FromScore != 15 || first.ToScore != 45 ||
		len(first.Rules) != 1 || first.Rules[0] != "new_device" {
		t.Fatalf("first sample %+v", first)
	}

	same, err := e.Backtest(ctx, DefaultRuleSet(), t0, t0.Add(time.Hour))
	if err != nil || same.Changed != 0 || len(same.Samples) != 0 || same.Decisions != 1200 {
		t.Fatalf("replaying the pack that decided changes nothing: %+v %v", same, err)
	}
}

func TestBacktestRefuses(t *testing.T) {
	e, _, _ := newTestEngine(t)
	bad := DefaultRuleSet()
	bad.Rules[0].Expr = "cust_failures_1m"
	if _, err := e.Backtest(context.Background(), bad, t0, t0.Add(time.Hour)); !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("invalid candidate: %v", err)
	}
	if _, err := e.Backtest(context.Background(), DefaultRuleSet(), t0, t0); !errors.Is(err, ErrInvalidRange) {
		t.Fatalf("empty range: %v", err)
	}
}
