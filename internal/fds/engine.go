package fds

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Engine decides events. Store and Now are required; Geo (nil: every
// country unknown) and Cache (nil: velocity from the store) are optional.
// The active rule set is read from the store and re-read every Refresh, so
// an activation on any node takes effect everywhere without a restart. An
// Engine must not be copied after first use.
type Engine struct {
	Store   Store
	Geo     Geo
	Cache   VelocityCache
	Zone    *time.Location // hour-of-day features; nil: Asia/Seoul (UTC+9)
	Refresh time.Duration  // 0: DefaultRefresh
	Now     func() time.Time

	// The compiled active program, when it was last checked against the
	// store, and a generation bumped by local activations so a refresh
	// that raced one cannot reinstate the old program.
	mu         sync.Mutex
	prog       *Program
	checked    time.Time
	gen        uint64
	refreshing bool
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
//
// Times: an event claiming a time more than MaxClockSkew ahead of Now is
// decided (and recorded) at Now, so a fast caller clock cannot hide events
// from velocity windows; feature clock_skew tells. History is read as of
// the later of the event's time and Now, so a late-arriving event is still
// compared with everything recorded so far.
func (e *Engine) Decide(ctx context.Context, ev Event) (*Decision, error) {
	now := e.Now().UTC()
	if err := normalizeEvent(&ev); err != nil {
		return nil, err
	}
	skewed := ev.Time.After(now.Add(MaxClockSkew))
	if skewed {
		ev.Time = now
	}
	if ev.ID == "" {
		ev.ID = crypto.NewID("evt_")
	}
	e.locate(&ev)
	prog, err := e.program(ctx, now)
	if err != nil {
		return nil, err
	}
	in, err := e.gather(ctx, &ev, later(ev.Time, now))
	if err != nil {
		return nil, err
	}
	in.ClockSkew = skewed
	features := ComputeFeatures(&ev, in, e.zone())
	d := newDecision(&ev, prog, prog.Eval(features), features, now)
	c := openCase(d)
	if err := e.Store.SaveDecision(ctx, &ev, d, c); err != nil {
		return nil, fmt.Errorf("fds: save decision: %w", err)
	}
	if e.Cache != nil {
		// The database is the record; a cache that missed this event only
		// answers low until it falls back to the store.
		_ = e.Cache.Observe(ctx, &ev)
	}
	return d, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (e *Engine) zone() *time.Location {
	if e.Zone != nil {
		return e.Zone
	}
	return Seoul
}

func (e *Engine) refresh() time.Duration {
	if e.Refresh > 0 {
		return e.Refresh
	}
	return DefaultRefresh
}

func newDecision(ev *Event, p *Program, r Evaluation, features map[string]any, now time.Time) *Decision {
	d := &Decision{ID: crypto.NewID("dec_"), EventID: ev.ID, InstitutionID: ev.InstitutionID,
		CustomerID: ev.CustomerID, Kind: ev.Kind, RuleSetVersion: p.Version, Score: r.Score,
		Outcome: r.Outcome, Matched: r.Matched, Errors: r.Errors, Features: features, CreatedAt: now}
	if d.Matched == nil {
		d.Matched = []Match{}
	}
	return d
}

// openCase opens a case for review and deny, the outcomes a person must
// look at.
func openCase(d *Decision) *Case {
	if d.Outcome.Severity() < Review.Severity() {
		return nil
	}
	c := &Case{ID: crypto.NewID("case_"), DecisionID: d.ID, InstitutionID: d.InstitutionID,
		CustomerID: d.CustomerID, Outcome: d.Outcome, Status: CaseOpen, Comments: []Comment{},
		CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt}
	d.CaseID = c.ID
	return c
}

// gather reads the history the features need, concurrently: on
// PostgreSQL each read is a round trip.
func (e *Engine) gather(ctx context.Context, ev *Event, at time.Time) (Inputs, error) {
	var in Inputs
	var g group
	if ev.CustomerID != "" {
		g.run(func() (err error) { in.Customer, err = e.velocity(ctx, SubjectCustomer, ev.CustomerID, at); return })
		g.run(func() (err error) { in.Profile, err = e.Store.Profile(ctx, ev.CustomerID, ev.Kind, at); return })
	}
	if ev.Fingerprint != "" {
		g.run(func() (err error) { in.Device, err = e.velocity(ctx, SubjectDevice, ev.Fingerprint, at); return })
		g.run(func() (err error) {
			in.DeviceHistory, err = e.Store.Device(ctx, ev.Fingerprint, ev.CustomerID, at)
			return
		})
	}
	if ev.IP != "" {
		g.run(func() (err error) { in.IP, err = e.velocity(ctx, SubjectIP, ev.IP, at); return })
	}
	g.run(func() (err error) { in.Lists, err = e.Store.ListMatches(ctx, ev); return })
	if err := g.wait(); err != nil {
		return Inputs{}, fmt.Errorf("fds: history: %w", err)
	}
	return in, nil
}

// velocity asks the cache first; the store answers when the cache cannot.
func (e *Engine) velocity(ctx context.Context, s SubjectKind, value string, at time.Time) (Velocity, error) {
	if e.Cache != nil {
		if v, ok, err := e.Cache.Velocity(ctx, s, value, at); err == nil && ok {
			return v, nil
		}
	}
	return e.Store.Velocity(ctx, s, value, at)
}

// group runs functions concurrently and keeps the first error.
type group struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (g *group) run(fn func() error) {
	g.wg.Go(func() {
		if err := fn(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
		}
	})
}

func (g *group) wait() error {
	g.wg.Wait()
	return g.err
}

// program returns the compiled active rule set, re-reading which version
// is active at most every Refresh. While one call re-reads, others keep
// using the program they have rather than queueing behind the store.
func (e *Engine) program(ctx context.Context, now time.Time) (*Program, error) {
	e.mu.Lock()
	cur, gen := e.prog, e.gen
	fresh := cur != nil && !now.Before(e.checked) && now.Sub(e.checked) < e.refresh()
	if cur != nil && !fresh && e.refreshing {
		fresh = true
	}
	if cur != nil && !fresh {
		e.refreshing = true
	}
	e.mu.Unlock()
	if fresh {
		return cur, nil
	}
	next, err := e.load(ctx, cur)
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur != nil {
		e.refreshing = false
	}
	switch {
	case err != nil && cur != nil:
		return cur, nil // keep deciding with the last good set; retried on the next call
	case err != nil:
		return nil, err
	}
	if gen == e.gen {
		e.prog, e.checked = next, now
	}
	return next, nil
}

// load compiles the active set, reusing cur when the version is the same.
// An active set that no longer compiles (a feature removed by an upgrade)
// leaves the previous program, or the default pack, deciding.
func (e *Engine) load(ctx context.Context, cur *Program) (*Program, error) {
	rs, err := e.Store.ActiveRuleSet(ctx)
	if errors.Is(err, errs.ErrNotFound) {
		return defaultProgram()
	}
	if err != nil {
		return nil, fmt.Errorf("fds: active rule set: %w", err)
	}
	if cur != nil && cur.Version == rs.Version {
		return cur, nil
	}
	p, err := Compile(*rs)
	if err == nil {
		return p, nil
	}
	if cur != nil {
		return cur, nil
	}
	return defaultProgram()
}

// invalidate makes the next decision re-read the active set.
func (e *Engine) invalidate() {
	e.mu.Lock()
	e.gen++
	e.prog, e.checked = nil, time.Time{}
	e.mu.Unlock()
}

// Explain returns a stored decision of the institution ("" for operators).
func (e *Engine) Explain(ctx context.Context, institutionID, id string) (*Decision, error) {
	if !saneID(id) {
		return nil, errs.ErrNotFound
	}
	return e.Store.Decision(ctx, institutionID, id)
}

// Audit actions of rule-set management.
const (
	ActionRuleSetSave     = "fds.ruleset.save"
	ActionRuleSetActivate = "fds.ruleset.activate"
)

// SaveRuleSet compiles rs (refusing a rule that does not compile or is not
// boolean) and stores it inactive; it returns the new version.
func (e *Engine) SaveRuleSet(ctx context.Context, actor string, rs RuleSet) (int64, error) {
	if err := checkActor(actor); err != nil {
		return 0, err
	}
	if _, err := Compile(rs); err != nil {
		return 0, err
	}
	now := e.Now().UTC()
	rs.Version, rs.CreatedAt, rs.CreatedBy, rs.ActivatedAt = 0, now, actor, nil
	entry := audit.Fill(ctx, audit.Entry{Time: now, Actor: actor, Action: ActionRuleSetSave,
		Target: rs.Name, Result: audit.ResultSuccess,
		Details: map[string]string{"rules": strconv.Itoa(len(rs.Rules))}})
	return e.Store.SaveRuleSet(ctx, &rs, entry)
}

// Activate makes a stored version active (a rollback is activating an
// older one). Two activations racing: one wins, the other gets
// errs.ErrConflict. Activating the active version changes nothing.
func (e *Engine) Activate(ctx context.Context, actor string, version int64) error {
	if err := checkActor(actor); err != nil {
		return err
	}
	if version <= 0 {
		return errs.ErrNotFound
	}
	rs, err := e.Store.RuleSet(ctx, version)
	if err != nil {
		return err
	}
	if _, err := Compile(*rs); err != nil {
		return err
	}
	expect, err := e.activeVersion(ctx)
	if err != nil || expect == version {
		return err
	}
	now := e.Now().UTC()
	entry := audit.Fill(ctx, audit.Entry{Time: now, Actor: actor, Action: ActionRuleSetActivate,
		Target: strconv.FormatInt(version, 10), Result: audit.ResultSuccess,
		Details: map[string]string{"previous": strconv.FormatInt(expect, 10)}})
	if err := e.Store.ActivateRuleSet(ctx, version, expect, now, entry); err != nil {
		return err
	}
	e.invalidate()
	return nil
}

// activeVersion is the active version, 0 when none.
func (e *Engine) activeVersion(ctx context.Context) (int64, error) {
	rs, err := e.Store.ActiveRuleSet(ctx)
	if errors.Is(err, errs.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return rs.Version, nil
}

// RuleSets lists stored rule sets.
func (e *Engine) RuleSets(ctx context.Context) ([]RuleSet, error) { return e.Store.RuleSets(ctx) }

// Active returns the active rule set; with none active, the default pack
// (version 0) that decides meanwhile.
func (e *Engine) Active(ctx context.Context) (*RuleSet, error) {
	rs, err := e.Store.ActiveRuleSet(ctx)
	if errors.Is(err, errs.ErrNotFound) {
		d := DefaultRuleSet()
		return &d, nil
	}
	return rs, err
}
