package fds

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// memStore is an in-memory Store that computes history from the events it
// holds, so engine tests exercise the same arithmetic a database would.
type memStore struct {
	mu        sync.Mutex
	events    []Event
	decisions []Decision
	sets      []RuleSet
	active    int64
	cases     map[string]*Case
	lists     []ListEntry
	audits    []audit.Entry

	frozen        bool            // SaveDecision keeps nothing (benchmarks)
	activeBarrier *sync.WaitGroup // ActiveRuleSet waits here, to line up racing activations
	activeErr     error           // ActiveRuleSet fails with this
	caseConflicts int             // UpdateCase reports this many conflicts first
	activeReads   int
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{cases: map[string]*Case{}} }

func (s *memStore) addEvents(evs ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
}

func subjectOf(e *Event, k SubjectKind) string {
	switch k {
	case SubjectCustomer:
		return e.CustomerID
	case SubjectDevice:
		return e.Fingerprint
	}
	return e.IP
}

func (s *memStore) Velocity(_ context.Context, k SubjectKind, value string, now time.Time) (Velocity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v Velocity
	for w, d := range Windows {
		seen := map[string]bool{}
		for i := range s.events {
			e := &s.events[i]
			if subjectOf(e, k) != value || !e.Time.Before(now) || e.Time.Before(now.Add(-d)) {
				continue
			}
			v.Attempts[w]++
			if e.Result == ResultFailure {
				v.Failures[w]++
			}
			if k != SubjectCustomer && e.CustomerID != "" {
				seen[e.CustomerID] = true
			}
		}
		v.Customers[w] = len(seen)
	}
	return v, nil
}

func (s *memStore) Device(_ context.Context, fp, customer string, now time.Time) (DeviceHistory, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var h DeviceHistory
	for _, e := range s.events {
		if e.Fingerprint != fp || !e.Time.Before(now) {
			continue
		}
		if h.FirstSeen.IsZero() || e.Time.Before(h.FirstSeen) {
			h.FirstSeen = e.Time
		}
		if e.CustomerID == customer && (h.CustomerFirstSeen.IsZero() || e.Time.Before(h.CustomerFirstSeen)) {
			h.CustomerFirstSeen = e.Time
		}
	}
	return h, nil
}

func (s *memStore) Profile(_ context.Context, customer string, kind Kind, now time.Time) (Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p Profile
	var recent []time.Time
	for i := range s.events {
		e := &s.events[i]
		if e.CustomerID != customer || !e.Time.Before(now) {
			continue
		}
		profileAdd(&p, e, now)
		if e.Kind == kind {
			recent = append(recent, e.Time)
		}
	}
	slices.SortFunc(recent, time.Time.Compare)
	p.Recent = recent[max(0, len(recent)-RecentAttempts):]
	return p, nil
}

func profileAdd(p *Profile, e *Event, now time.Time) {
	ok := e.Result == ResultSuccess
	if ok && (p.LastSuccess == nil || e.Time.After(p.LastSuccess.Time)) {
		c := *e
		p.LastSuccess = &c
	}
	if !e.Time.Before(now.Add(-ProfileWindow)) {
		p.Events++
		if ok {
			p.Successes++
			p.HourCounts[e.Time.UTC().Hour()]++
		}
	}
	if !e.Time.Before(now.Add(-24 * time.Hour)) {
		p.Events24h++
		if ok {
			p.Successes24h++
		}
	}
	if ok && e.Kind == KindPayment && !e.Time.Before(now.Add(-AmountWindow)) {
		p.Payments++
		p.AmountSum += e.AmountKRW
		p.AmountMax = max(p.AmountMax, e.AmountKRW)
	}
}

func (s *memStore) ListMatches(_ context.Context, e *Event) ([]ListEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ListEntry
	for _, le := range s.lists {
		if listMatches(le, e) {
			out = append(out, le)
		}
	}
	return out, nil
}

func listMatches(le ListEntry, e *Event) bool {
	switch le.List {
	case ListDevice:
		return e.Fingerprint != "" && le.Value == e.Fingerprint
	case ListCustomer:
		return e.CustomerID != "" && le.Value == e.CustomerID
	case ListBIN:
		return e.BIN != "" && le.Value == e.BIN
	case ListIP:
		a, err := netip.ParseAddr(e.IP)
		if err != nil {
			return false
		}
		if p, err := netip.ParsePrefix(le.Value); err == nil {
			return p.Contains(a)
		}
		return le.Value == a.String()
	}
	return false
}

func (s *memStore) SaveDecision(_ context.Context, e *Event, d *Decision, c *Case) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return nil
	}
	s.events = append(s.events, *e)
	s.decisions = append(s.decisions, *d)
	if c != nil {
		cc := cloneCase(c)
		s.cases[c.ID] = cc
	}
	return nil
}

func (s *memStore) Decision(_ context.Context, inst, id string) (*Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.decisions {
		if d.ID == id && (inst == "" || inst == d.InstitutionID) {
			return &d, nil
		}
	}
	return nil, errs.ErrNotFound
}

func (s *memStore) Decisions(_ context.Context, since, until time.Time, after string, limit int) ([]Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := 0
	if after != "" {
		start = slices.IndexFunc(s.decisions, func(d Decision) bool { return d.ID == after }) + 1
	}
	var out []Decision
	for _, d := range s.decisions[start:] {
		if len(out) == limit {
			break
		}
		if !d.CreatedAt.Before(since) && d.CreatedAt.Before(until) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *memStore) SaveRuleSet(_ context.Context, rs *RuleSet, e audit.Entry) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *rs
	c.Version = int64(len(s.sets) + 1)
	c.Rules = slices.Clone(rs.Rules)
	s.sets = append(s.sets, c)
	s.audits = append(s.audits, e)
	return c.Version, nil
}

func (s *memStore) RuleSet(_ context.Context, v int64) (*RuleSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v <= 0 || v > int64(len(s.sets)) {
		return nil, errs.ErrNotFound
	}
	c := s.sets[v-1]
	return &c, nil
}

func (s *memStore) RuleSets(context.Context) ([]RuleSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sets), nil
}

func (s *memStore) ActiveRuleSet(ctx context.Context) (*RuleSet, error) {
	s.mu.Lock()
	s.activeReads++
	active, err, barrier := s.active, s.activeErr, s.activeBarrier
	s.mu.Unlock()
	if barrier != nil {
		barrier.Done()
		barrier.Wait()
	}
	if err != nil {
		return nil, err
	}
	if active == 0 {
		return nil, errs.ErrNotFound
	}
	return s.RuleSet(ctx, active)
}

func (s *memStore) ActivateRuleSet(_ context.Context, v, expect int64, at time.Time, e audit.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active != expect {
		return errs.ErrConflict
	}
	if v <= 0 || v > int64(len(s.sets)) {
		return errs.ErrNotFound
	}
	s.active = v
	s.sets[v-1].ActivatedAt = &at
	s.audits = append(s.audits, e)
	return nil
}

func (s *memStore) Cases(_ context.Context, f CaseFilter) ([]Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Case
	for _, c := range s.cases {
		if (f.Status == "" || c.Status == f.Status) && (f.Assignee == "" || c.Assignee == f.Assignee) {
			out = append(out, *cloneCase(c))
		}
	}
	slices.SortFunc(out, func(a, b Case) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out[:min(len(out), f.Limit)], nil
}

func (s *memStore) Case(_ context.Context, id string) (*Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[id]
	if !ok {
		return nil, errs.ErrNotFound
	}
	return cloneCase(c), nil
}

func (s *memStore) UpdateCase(_ context.Context, c *Case, e audit.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.cases[c.ID]
	if !ok {
		return errs.ErrNotFound
	}
	if s.caseConflicts > 0 {
		s.caseConflicts--
		cur.Version++ // someone else wrote
		return errs.ErrConflict
	}
	if cur.Version != c.Version {
		return errs.ErrConflict
	}
	n := cloneCase(c)
	n.Version++
	s.cases[c.ID] = n
	s.audits = append(s.audits, e)
	return nil
}

func cloneCase(c *Case) *Case {
	n := *c
	n.Comments = slices.Clone(c.Comments)
	return &n
}

func (s *memStore) AddListEntry(_ context.Context, le *ListEntry, e audit.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists = append(s.lists, *le)
	s.audits = append(s.audits, e)
	return nil
}

func (s *memStore) RemoveListEntry(_ context.Context, id string, e audit.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.lists, func(le ListEntry) bool { return le.ID == id })
	if i < 0 {
		return errs.ErrNotFound
	}
	s.lists = slices.Delete(s.lists, i, i+1)
	s.audits = append(s.audits, e)
	return nil
}

func (s *memStore) ListEntries(_ context.Context, list ListKind) ([]ListEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ListEntry
	for _, le := range s.lists {
		if list == "" || le.List == list {
			out = append(out, le)
		}
	}
	return out, nil
}

func (s *memStore) auditActions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.audits {
		out = append(out, a.Action)
	}
	return out
}

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mapGeo locates addresses from a table.
type mapGeo map[string]GeoInfo

func (g mapGeo) Lookup(a netip.Addr) (GeoInfo, bool) {
	i, ok := g[a.String()]
	return i, ok
}

// fakeCache answers velocity from a table when warm and records observed
// events.
type fakeCache struct {
	mu       sync.Mutex
	warm     map[string]Velocity
	observed []string
	err      error
}

func (c *fakeCache) Velocity(_ context.Context, k SubjectKind, v string, _ time.Time) (Velocity, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return Velocity{}, false, c.err
	}
	vel, ok := c.warm[string(k)+":"+v]
	return vel, ok, nil
}

func (c *fakeCache) Observe(_ context.Context, e *Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observed = append(c.observed, e.ID)
	return c.err
}
