package risk_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// base is the fixed time of every event; nothing sleeps.
var base = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fixture is an engine and a ladder on one fresh database, with a log to
// read what the adapters reported.
type fixture struct {
	db     *sqlstore.DB
	eng    *fds.Engine
	ladder *lockout.Service
	log    *slog.Logger
	logs   *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.MustOpenSQLite(t, storetest.Options())
	now := func() time.Time { return base }
	logs := &syncBuffer{}
	return &fixture{db: db, eng: &fds.Engine{Store: db.FDS(), Now: now},
		ladder: &lockout.Service{Store: db, Ladders: lockout.DefaultLadders(), Now: now},
		log:    slog.New(slog.NewJSONHandler(logs, nil)), logs: logs}
}

// broken is an engine whose database is closed: every decision fails.
func broken(t *testing.T) *fds.Engine {
	t.Helper()
	db := storetest.MustOpenSQLite(t, storetest.Options())
	db.Close()
	return &fds.Engine{Store: db.FDS(), Now: func() time.Time { return base }}
}

// force activates a rule set whose one rule forces outcome on every event
// of kind (allow: a rule that never matches).
func (f *fixture) force(t *testing.T, kind fds.Kind, outcome fds.Outcome) {
	t.Helper()
	r := fds.Rule{Name: "forced", Expr: `kind == "` + string(kind) + `"`, Force: outcome, Description: "test"}
	if outcome == fds.Allow {
		r = fds.Rule{Name: "never", Expr: `false`, Description: "test"}
	}
	rs := fds.RuleSet{Name: "test", Rules: []fds.Rule{r}, Thresholds: fds.DefaultThresholds}
	v, err := f.eng.SaveRuleSet(t.Context(), "op_test", rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Activate(t.Context(), "op_test", v); err != nil {
		t.Fatal(err)
	}
}

// decisions are every decision recorded, oldest first.
func (f *fixture) decisions(t *testing.T) []fds.Decision {
	t.Helper()
	ds, err := f.db.FDS().Decisions(t.Context(), base.Add(-time.Hour), base.Add(time.Hour), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// only returns the one decision recorded.
func (f *fixture) only(t *testing.T) fds.Decision {
	t.Helper()
	ds := f.decisions(t)
	if len(ds) != 1 {
		t.Fatalf("%d decisions recorded, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

// syncBuffer is a log sink safe for the race detector.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// verdict is a device.RiskHook that always answers r.
type verdict struct {
	r     device.Risk
	calls *int
}

func (v verdict) Assess(context.Context, device.Event) (device.Risk, error) {
	if v.calls != nil {
		*v.calls++
	}
	return v.r, nil
}
