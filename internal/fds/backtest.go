package fds

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// Backtest paging and report size.
const (
	backtestPage       = 500
	BacktestMaxSamples = 20
)

var ErrInvalidRange = errs.New(errs.Invalid, "invalid_range",
	"The time range is not valid: since must be before until.", "기간이 올바르지 않습니다: 시작이 끝보다 앞서야 합니다.")

// Backtest replays the decisions stored in [since, until) through the
// candidate rule set, from the feature values each recorded. Features a
// decision predates read as their zero value (see NormalizeFeatures).
func (e *Engine) Backtest(ctx context.Context, candidate RuleSet, since, until time.Time) (*BacktestReport, error) {
	prog, err := Compile(candidate)
	if err != nil {
		return nil, err
	}
	if !since.Before(until) {
		return nil, ErrInvalidRange
	}
	r := &BacktestReport{Candidate: candidate.Name, Transitions: map[string]int{}, Samples: []BacktestChange{}}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		page, err := e.Store.Decisions(ctx, since, until, after, backtestPage)
		if err != nil {
			return nil, err
		}
		for i := range page {
			r.add(&page[i], prog.Eval(NormalizeFeatures(page[i].Features)))
		}
		if len(page) < backtestPage {
			return r, nil
		}
		after = page[len(page)-1].ID
	}
}

func (r *BacktestReport) add(d *Decision, ev Evaluation) {
	r.Decisions++
	if ev.Outcome == d.Outcome {
		return
	}
	r.Changed++
	r.Transitions[string(d.Outcome)+"→"+string(ev.Outcome)]++
	if len(r.Samples) >= BacktestMaxSamples {
		return
	}
	rules := make([]string, 0, len(ev.Matched))
	for _, m := range ev.Matched {
		rules = append(rules, m.Rule)
	}
	r.Samples = append(r.Samples, BacktestChange{DecisionID: d.ID, Kind: d.Kind, From: d.Outcome,
		To: ev.Outcome, FromScore: d.Score, ToScore: ev.Score, Rules: rules})
}
