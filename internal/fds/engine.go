package fds

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// errNotBuilt marks a method whose body is not written yet.
var errNotBuilt = errs.ErrUnavailable

// Engine decides events. Store and Now are required; Geo (nil: every
// country unknown) and Cache (nil: velocity from the store) are optional.
// The active rule set is read from the store and re-read every Refresh, so
// an activation on any node takes effect everywhere without a restart.
type Engine struct {
	Store   Store
	Geo     Geo
	Cache   VelocityCache
	Zone    *time.Location // hour-of-day features; nil: Asia/Seoul (UTC+9)
	Refresh time.Duration  // nil: DefaultRefresh
	Now     func() time.Time
}

// DefaultRefresh is how long a node keeps using the rule set it loaded
// before checking which is active.
const DefaultRefresh = 5 * time.Second

// Evaluation is a rule set's verdict on one feature vector.
type Evaluation struct {
	Score   int
	Outcome Outcome
	Matched []Match
	Errors  []RuleError
}

// BacktestReport says how a candidate rule set would have decided stored
// decisions, from the feature values each recorded.
type BacktestReport struct {
	Candidate   string           `json:"candidate"`
	Decisions   int              `json:"decisions"`
	Changed     int              `json:"changed"`
	Transitions map[string]int   `json:"transitions"` // "allow→deny": count
	Samples     []BacktestChange `json:"samples"`     // the first changes, for reading
}

// BacktestChange is one stored decision whose outcome would change.
type BacktestChange struct {
	DecisionID string   `json:"decision_id"`
	Kind       Kind     `json:"kind"`
	From       Outcome  `json:"from"`
	To         Outcome  `json:"to"`
	FromScore  int      `json:"from_score"`
	ToScore    int      `json:"to_score"`
	Rules      []string `json:"rules"` // the candidate's matched rules
}

// Decide computes the event's features, evaluates the active rule set,
// records event, decision and (for review and deny) a case, and returns
// the decision. With no active rule set the default pack decides.
func (e *Engine) Decide(ctx context.Context, ev Event) (*Decision, error) {
	return nil, errNotBuilt
}

// Explain returns a stored decision of the institution ("" for operators).
func (e *Engine) Explain(ctx context.Context, institutionID, id string) (*Decision, error) {
	return nil, errNotBuilt
}

// SaveRuleSet compiles rs (refusing a rule that does not compile or is not
// boolean) and stores it inactive; it returns the new version.
func (e *Engine) SaveRuleSet(ctx context.Context, actor string, rs RuleSet) (int64, error) {
	return 0, errNotBuilt
}

// Activate makes a stored version active (a rollback is activating an
// older one). Two activations racing: one wins, the other gets
// errs.ErrConflict.
func (e *Engine) Activate(ctx context.Context, actor string, version int64) error {
	return errNotBuilt
}

// RuleSets lists stored rule sets, and Active the active one.
func (e *Engine) RuleSets(ctx context.Context) ([]RuleSet, error) { return nil, errNotBuilt }
func (e *Engine) Active(ctx context.Context) (*RuleSet, error)    { return nil, errNotBuilt }

// Cases lists cases; Case returns one.
func (e *Engine) Cases(ctx context.Context, f CaseFilter) ([]Case, error) { return nil, errNotBuilt }
func (e *Engine) Case(ctx context.Context, id string) (*Case, error)      { return nil, errNotBuilt }

// AssignCase, CommentCase and CloseCase are an analyst's work on a case;
// each is audited with the analyst as actor. A closed case takes comments
// but no new assignee and cannot close again.
func (e *Engine) AssignCase(ctx context.Context, actor, id, assignee string) (*Case, error) {
	return nil, errNotBuilt
}
func (e *Engine) CommentCase(ctx context.Context, actor, id, text string) (*Case, error) {
	return nil, errNotBuilt
}
func (e *Engine) CloseCase(ctx context.Context, actor, id, resolution string) (*Case, error) {
	return nil, errNotBuilt
}

// AddListEntry, RemoveListEntry and ListEntries manage the allow- and
// block-lists; changes are audited.
func (e *Engine) AddListEntry(ctx context.Context, actor string, le ListEntry) (*ListEntry, error) {
	return nil, errNotBuilt
}
func (e *Engine) RemoveListEntry(ctx context.Context, actor, id string) error { return errNotBuilt }
func (e *Engine) ListEntries(ctx context.Context, list ListKind) ([]ListEntry, error) {
	return nil, errNotBuilt
}

// Backtest replays the decisions stored in [since, until) through the
// candidate rule set, from the feature values each recorded.
func (e *Engine) Backtest(ctx context.Context, candidate RuleSet, since, until time.Time) (*BacktestReport, error) {
	return nil, errNotBuilt
}

// DefaultRuleSet is the built-in rule pack.
func DefaultRuleSet() RuleSet { return RuleSet{Name: "default"} }
