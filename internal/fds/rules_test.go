package fds

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

var testThresholds = Thresholds{StepUp: 40, Review: 60, Deny: 80}

func set(rules ...Rule) RuleSet {
	return RuleSet{Name: "test", Thresholds: testThresholds, Rules: rules}
}

func calmFeatures() map[string]any {
	return ComputeFeatures(loginAt(t0), Inputs{DeviceHistory: DeviceHistory{FirstSeen: t0.Add(-time.Hour), CustomerFirstSeen: t0.Add(-time.Hour)}}, nil)
}

func TestCompileRefuses(t *testing.T) {
	ok := Rule{Name: "ok", Expr: "device_new", Score: 10}
	many := make([]Rule, MaxRules+1)
	for i := range many {
		many[i] = Rule{Name: fmt.Sprintf("r%d", i), Expr: "true", Score: 1}
	}
	const list20 = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]"
	heavy := make([]Rule, 400) // each within MaxRuleCost, together over MaxSetCost
	for i := range heavy {
		heavy[i] = Rule{Name: fmt.Sprintf("h%d", i), Expr: list20 + ".all(a, a + amount > 0)", Score: 1}
	}
	tests := []struct {
		name  string
		rs    RuleSet
		field string
		rule  string
	}{
		{"does not compile", set(Rule{Name: "broken", Expr: "cust_failures_1m >=", Score: 10}), "rules[0].expr", "broken"},
		{"not boolean", set(ok, Rule{Name: "sum", Expr: "cust_failures_1m + 1", Score: 10}), "rules[1].expr", "sum"},
		{"string result", set(Rule{Name: "str", Expr: "country", Score: 10}), "rules[0].expr", "str"},
		{"reads a missing feature", set(Rule{Name: "ghost", Expr: "no_such_feature > 1", Score: 10}), "rules[0].expr", "ghost"},
		{"wrong type", set(Rule{Name: "typed", Expr: `country > 5`, Score: 10}), "rules[0].expr", "typed"},
		{"dynamic result", set(Rule{Name: "dyn", Expr: `dyn(device_new)`, Score: 10}), "rules[0].expr", "dyn"},
		{"bad regex literal", set(Rule{Name: "re", Expr: `country.matches("(")`, Score: 10}), "rules[0].expr", "re"},
		{"empty name", set(Rule{Expr: "true", Score: 1}), "rules[0]", ""},
		{"name with spaces", set(Rule{Name: "a b", Expr: "true", Score: 1}), "rules[0]", "a b"},
		{"duplicate name", set(ok, ok), "rules[1]", "ok"},
		{"empty expression", set(Rule{Name: "empty", Expr: "  ", Score: 1}), "rules[0]", "empty"},
		{"score too high", set(Rule{Name: "big", Expr: "true", Score: 101}), "rules[0]", "big"},
		{"score too low", set(Rule{Name: "small", Expr: "true", Score: -101}), "rules[0]", "small"},
		{"force allow", set(Rule{Name: "fa", Expr: "true", Force: Allow}), "rules[0]", "fa"},
		{"force unknown", set(Rule{Name: "fx", Expr: "true", Force: "block"}), "rules[0]", "fx"},
		{"expression too long", set(Rule{Name: "long", Expr: "true" + strings.Repeat(" ", MaxExprBytes), Score: 1}), "rules[0]", "long"},
		{"too many rules", RuleSet{Thresholds: testThresholds, Rules: many}, "rules", ""},
		{"worst case too costly", set(Rule{Name: "loops", Expr: list20 + ".all(a, " + list20 + ".all(b, " + list20 + ".all(c, a + b + c + amount > 0)))", Score: 1}), "rules[0].expr", "loops"},
		{"set too costly", RuleSet{Thresholds: testThresholds, Rules: heavy}, fmt.Sprintf("rules[%d].expr", MaxSetCost/151), fmt.Sprintf("h%d", MaxSetCost/151)},
		{"zero step_up", RuleSet{Thresholds: Thresholds{0, 60, 80}}, "thresholds", ""},
		{"review below step_up", RuleSet{Thresholds: Thresholds{40, 30, 80}}, "thresholds", ""},
		{"deny below review", RuleSet{Thresholds: Thresholds{40, 60, 50}}, "thresholds", ""},
		{"deny above 100", RuleSet{Thresholds: Thresholds{40, 60, 101}}, "thresholds", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.rs)
			if p != nil || !errors.Is(err, ErrInvalidRule) || errs.KindOf(err) != errs.Invalid {
				t.Fatalf("Compile = %v, %v; want invalid_rule", p, err)
			}
			e := errs.As(err)
			if e.Field != tc.field {
				t.Errorf("field %q, want %q", e.Field, tc.field)
			}
			if tc.rule != "" && !strings.Contains(e.EN, fmt.Sprintf("%q", tc.rule)) {
				t.Errorf("message %q does not name rule %q", e.EN, tc.rule)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	rs := set(
		Rule{Name: "cross_numeric", Expr: "travel_kmh > 900 || amount_ratio >= 5", Score: 10},
		Rule{Name: "in_list", Expr: `country in ["KP", "IR"]`, Score: 50, Force: Deny},
		Rule{Name: "neg", Expr: "listed_allow", Score: -100},
		Rule{Name: "edge", Expr: "true", Score: 100, Shadow: true},
	)
	rs.Thresholds = Thresholds{StepUp: 100, Review: 100, Deny: 100}
	p, err := Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Rules()); got != 4 {
		t.Fatalf("%d rules compiled", got)
	}
}

func TestEvalRuntimeErrors(t *testing.T) {
	p, err := Compile(set(
		Rule{Name: "divides", Expr: "cust_failures_1m / cust_attempts_1m > 0", Score: 50},
		Rule{Name: "overflows", Expr: "amount * 9223372036854775807 > 0", Score: 50},
		Rule{Name: "modulo", Expr: "hour % cust_attempts_24h == 0", Score: 50},
		Rule{Name: "fine", Expr: "device_new", Score: 45},
	))
	if err != nil {
		t.Fatal(err)
	}
	f := ComputeFeatures(&Event{Kind: KindPayment, AmountKRW: 2, Fingerprint: "ab", Time: t0}, Inputs{}, nil)
	ev := p.Eval(f)
	if ev.Score != 45 || ev.Outcome != StepUp || len(ev.Matched) != 1 || ev.Matched[0].Rule != "fine" {
		t.Fatalf("evaluation %+v: failing rules must count as not matched", ev)
	}
	want := map[string]string{"divides": "division by zero", "overflows": "overflow", "modulo": "modulus by zero"}
	if len(ev.Errors) != len(want) {
		t.Fatalf("errors %+v", ev.Errors)
	}
	for _, re := range ev.Errors {
		if !strings.Contains(re.Error, want[re.Rule]) {
			t.Errorf("rule %s error %q, want it to mention %q", re.Rule, re.Error, want[re.Rule])
		}
	}
}

func TestEvalMissingFeatureAtRunTime(t *testing.T) {
	p, err := Compile(set(Rule{Name: "new", Expr: "device_new", Score: 50}))
	if err != nil {
		t.Fatal(err)
	}
	ev := p.Eval(map[string]any{})
	if ev.Outcome != Allow || len(ev.Matched) != 0 || len(ev.Errors) != 1 {
		t.Fatalf("%+v", ev)
	}
}

func TestEvalOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		rules   []Rule
		score   int
		outcome Outcome
		matched int
	}{
		{"nothing matches", []Rule{{Name: "a", Expr: "device_new", Score: 90}}, 0, Allow, 0},
		{"just under step_up", []Rule{{Name: "a", Expr: "true", Score: 39}}, 39, Allow, 1},
		{"at step_up", []Rule{{Name: "a", Expr: "true", Score: 40}}, 40, StepUp, 1},
		{"at review", []Rule{{Name: "a", Expr: "true", Score: 30}, {Name: "b", Expr: "!device_new", Score: 30}}, 60, Review, 2},
		{"at deny", []Rule{{Name: "a", Expr: "true", Score: 80}}, 80, Deny, 1},
		{"clamped above 100", []Rule{{Name: "a", Expr: "true", Score: 100}, {Name: "b", Expr: "true", Score: 100}}, 100, Deny, 2},
		{"clamped below 0", []Rule{{Name: "a", Expr: "true", Score: -50}, {Name: "b", Expr: "true", Score: 20}}, 0, Allow, 2},
		{"force raises", []Rule{{Name: "a", Expr: "true", Force: Review}}, 0, Review, 1},
		{"force never lowers", []Rule{{Name: "a", Expr: "true", Score: 90}, {Name: "b", Expr: "true", Force: StepUp}}, 90, Deny, 2},
		{"strongest force wins", []Rule{{Name: "a", Expr: "true", Force: Deny}, {Name: "b", Expr: "true", Force: StepUp}}, 0, Deny, 2},
		{"shadow score has no effect", []Rule{{Name: "a", Expr: "true", Score: 100, Shadow: true}}, 0, Allow, 1},
		{"shadow force has no effect", []Rule{{Name: "a", Expr: "true", Score: 100, Force: Deny, Shadow: true}, {Name: "b", Expr: "true", Score: 45}}, 45, StepUp, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(set(tc.rules...))
			if err != nil {
				t.Fatal(err)
			}
			ev := p.Eval(calmFeatures())
			if ev.Score != tc.score || ev.Outcome != tc.outcome || len(ev.Matched) != tc.matched {
				t.Fatalf("score %d outcome %s matched %+v", ev.Score, ev.Outcome, ev.Matched)
			}
		})
	}
}

func TestEvalRecordsShadowMatches(t *testing.T) {
	p, err := Compile(set(
		Rule{Name: "live", Expr: "true", Score: 10, Description: "live"},
		Rule{Name: "trial", Expr: "true", Score: 70, Force: Deny, Shadow: true, Description: "trial"},
	))
	if err != nil {
		t.Fatal(err)
	}
	ev := p.Eval(calmFeatures())
	want := []Match{{Rule: "live", Score: 10, Description: "live"}, {Rule: "trial", Score: 70, Force: Deny, Shadow: true, Description: "trial"}}
	if len(ev.Matched) != 2 || ev.Matched[0] != want[0] || ev.Matched[1] != want[1] {
		t.Fatalf("matched %+v", ev.Matched)
	}
}

func TestDefaultRuleSetCompilesAndIsDocumented(t *testing.T) {
	rs := DefaultRuleSet()
	if _, err := Compile(rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Rules {
		if len(r.Description) < 20 {
			t.Errorf("rule %s has no real description", r.Name)
		}
	}
	if rs.Thresholds != (Thresholds{StepUp: 40, Review: 60, Deny: 80}) {
		t.Errorf("thresholds %+v", rs.Thresholds)
	}
}

// TestDefaultPackSignals checks each signal the pack must cover reaches at
// least its intended outcome on its own or with its companion signal.
func TestDefaultPackSignals(t *testing.T) {
	p, err := defaultProgram()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  map[string]any
		want Outcome
	}{
		{"calm", nil, Allow},
		{"a new device alone is not enough", map[string]any{"device_new": true, "first_use": true}, Allow},
		// Failures alone are the ladder's: the engine stays below step_up.
		{"failures concentrated in time", map[string]any{"cust_failures_1m": int64(5), "cust_failures_10m": int64(5)}, Allow},
		{"failures plus new device", map[string]any{"cust_failures_1m": int64(5), "cust_failures_10m": int64(5), "device_new": true, "first_use": true}, StepUp},
		{"impossible travel", map[string]any{"impossible_travel": true}, StepUp},
		{"new country and new device", map[string]any{"country_changed": true, "device_new": true, "first_use": true}, Allow},
		{"bot-paced failing PIN attack", map[string]any{"bot_paced": true, "cust_failures_10m": int64(3)}, Review},
		{"one device, many customers", map[string]any{"dev_customers_10m": int64(3), "dev_customers_24h": int64(3)}, StepUp},
		{"large payment on a new device", map[string]any{"kind": "payment", "amount": int64(2_000_000), "device_new": true, "first_use": true}, Review},
		{"block-listed", map[string]any{"listed_block": true, "block_device": true}, Deny},
		{"block beats allow", map[string]any{"listed_block": true, "listed_allow": true}, Deny},
		{"allow list lowers", map[string]any{"impossible_travel": true, "listed_allow": true}, Allow},
		{"unusual hour alone", map[string]any{"hour_unusual": true}, Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := calmFeatures()
			for k, v := range tc.set {
				f[k] = v
			}
			ev := p.Eval(f)
			if ev.Outcome != tc.want || len(ev.Errors) != 0 {
				t.Fatalf("outcome %s (score %d, %+v, errors %v), want %s", ev.Outcome, ev.Score, ev.Matched, ev.Errors, tc.want)
			}
		})
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"device_new", "cust_failures_1m / cust_attempts_1m > 0", `country in ["KR"]`, "1 +", "amount * amount > 0",
		"[1,2].all(x, [1,2].exists(y, x == y))", `"a".matches("(")`, "dyn(1) == 1", "has(a.b)", "((((((true))))))",
		"size(country) > 2 ? true : false", "double(amount) / 0.0 > 1.0", "int(travel_kmh) > 0", "\x00", "ß",
	} {
		f.Add(s)
	}
	features := calmFeatures()
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := Compile(set(Rule{Name: "fuzz", Expr: expr, Score: 50}))
		if err != nil {
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("error %v is not invalid_rule", err)
			}
			return
		}
		ev := p.Eval(features)
		if len(ev.Matched)+len(ev.Errors) > 1 || ev.Score < 0 || ev.Score > 100 {
			t.Fatalf("evaluation %+v", ev)
		}
	})
}
