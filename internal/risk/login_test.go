package risk_test

import (
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/risk"
)

func loginEvent(result string) login.Event {
	return login.Event{InstitutionID: "cl_bank", CustomerID: "cus_1", DeviceID: "dev_1", Method: "pin",
		Fingerprint: "fp0123456789abcdef", IP: "203.0.113.10", Result: result, Failures: 1, Time: base}
}

// TestLoginEscalatesOnStepUpAndDeny: only step_up and deny raise the
// ladder; every outcome is recorded with the attempt's features.
func TestLoginEscalatesOnStepUpAndDeny(t *testing.T) {
	tests := []struct {
		name     string
		outcome  fds.Outcome
		result   string
		failures int // on the PIN ladder afterwards
	}{
		{"allow: nothing escalates", fds.Allow, "failure", 0},
		{"step_up: one stage up", fds.StepUp, "failure", 3},
		{"review: an analyst decides, the ladder stays", fds.Review, "failure", 0},
		{"deny: one stage up", fds.Deny, "failure", 3},
		{"deny after a success: a case, the ladder stays", fds.Deny, "success", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.force(t, fds.KindLogin, tt.outcome)
			h := risk.Login{Engine: f.eng, Lockout: f.ladder, Log: f.log}
			h.ObserveLogin(t.Context(), loginEvent(tt.result))
			d := f.only(t)
			if d.Outcome != tt.outcome || d.Kind != fds.KindLogin || d.CustomerID != "cus_1" || d.InstitutionID != "cl_bank" {
				t.Fatalf("decision %+v", d)
			}
			if d.Features["action"] != "login."+tt.result || d.Features["result"] != tt.result || d.Features["bot_suspected"] != false {
				t.Fatalf("features %v", d.Features)
			}
			st, err := f.db.LockoutState(t.Context(), lockout.Key{CustomerID: "cus_1", Method: lockout.PIN})
			if err != nil || st.Failures != tt.failures {
				t.Fatalf("ladder %+v %v, want %d failures", st, err, tt.failures)
			}
			if tt.failures > 0 && !st.NextAllowed.After(base) {
				t.Fatalf("escalated ladder imposes no delay: %+v", st)
			}
		})
	}
}

// TestLoginBotPacedNotRaisedTwice: a failure the ladder escalated for
// machine pace is recorded, flagged, and not escalated again.
func TestLoginBotPacedNotRaisedTwice(t *testing.T) {
	f := newFixture(t)
	f.force(t, fds.KindLogin, fds.Deny)
	ev := loginEvent("failure")
	ev.BotSuspected = true
	risk.Login{Engine: f.eng, Lockout: f.ladder, Log: f.log}.ObserveLogin(t.Context(), ev)
	if d := f.only(t); d.Outcome != fds.Deny || d.Features["bot_suspected"] != true {
		t.Fatalf("decision %+v", d)
	}
	st, err := f.db.LockoutState(t.Context(), lockout.Key{CustomerID: "cus_1", Method: lockout.PIN})
	if err != nil || st.Failures != 0 {
		t.Fatalf("ladder %+v %v: escalated twice", st, err)
	}
}

// TestLoginEngineDown: a failing engine is logged; the ladder is not
// touched and the hook returns normally.
func TestLoginEngineDown(t *testing.T) {
	f := newFixture(t)
	h := risk.Login{Engine: broken(t), Lockout: f.ladder, Log: f.log}
	ev := loginEvent("failure")
	ev.BotSuspected = true
	h.ObserveLogin(t.Context(), ev)
	st, err := f.db.LockoutState(t.Context(), lockout.Key{CustomerID: "cus_1", Method: lockout.PIN})
	if err != nil || st.Failures != 0 || st.Version != 0 {
		t.Fatalf("ladder %+v %v", st, err)
	}
	logs := f.logs.String()
	for _, want := range []string{"fraud engine could not decide", "login attempt looks scripted"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestLoginEscalationFailureIsLogged: a method the ladder does not know
// cannot be escalated; the decision stays recorded and the error logged.
func TestLoginEscalationFailureIsLogged(t *testing.T) {
	f := newFixture(t)
	f.force(t, fds.KindLogin, fds.Deny)
	ev := loginEvent("failure")
	ev.Method = "iris"
	risk.Login{Engine: f.eng, Lockout: f.ladder, Log: f.log}.ObserveLogin(t.Context(), ev)
	if d := f.only(t); d.Outcome != fds.Deny {
		t.Fatalf("decision %+v", d)
	}
	if !strings.Contains(f.logs.String(), "escalating the login ladder failed") {
		t.Fatalf("log:\n%s", f.logs.String())
	}
}
