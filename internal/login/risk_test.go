package login_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/login"
)

type recordingHook struct {
	mu     sync.Mutex
	events []login.Event
}

func (h *recordingHook) ObserveLogin(_ context.Context, e login.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// TestRiskHookHearsBotSuspicion: every checked attempt reaches the hook
// with the ladder's verdict; a bot-paced failure arrives flagged, a calm
// one does not, and refused attempts (never checked) are not reported.
func TestRiskHookHearsBotSuspicion(t *testing.T) {
	f := newFixture(t)
	h := &recordingHook{}
	f.svc.Risk = h
	f.login(t, "111111") //nolint:errcheck
	f.clk.advance(300 * time.Millisecond)
	f.login(t, "222222") //nolint:errcheck // bot-paced: escalates to a delay
	f.login(t, "333333") //nolint:errcheck // refused by the delay, never checked
	f.clk.advance(time.Hour)
	if _, err := f.login(t, goodPIN); err != nil {
		t.Fatal(err)
	}
	if len(h.events) != 3 {
		t.Fatalf("hook heard %d attempts, want 3: %+v", len(h.events), h.events)
	}
	first, second, third := h.events[0], h.events[1], h.events[2]
	if first.BotSuspected || first.Result != audit.ResultFailure || first.Failures != 1 {
		t.Fatalf("first %+v", first)
	}
	// Escalation jumps the count to the delay stage (the 3rd failure).
	if !second.BotSuspected || second.Failures != 3 || len(second.Transitions) == 0 {
		t.Fatalf("second %+v", second)
	}
	if third.Result != audit.ResultSuccess || third.Failures != 0 || third.CustomerID != f.dev.CustomerID || third.Method != "pin" {
		t.Fatalf("third %+v", third)
	}
}

func TestLogRiskWritesOnlyBotSuspicion(t *testing.T) {
	var buf bytes.Buffer
	h := login.LogRisk{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	h.ObserveLogin(t.Context(), login.Event{CustomerID: "cus_1", Result: audit.ResultFailure})
	if buf.Len() != 0 {
		t.Fatalf("logged a calm failure: %s", buf.String())
	}
	h.ObserveLogin(t.Context(), login.Event{CustomerID: "cus_1", Method: "pin", BotSuspected: true, Failures: 4})
	if !strings.Contains(buf.String(), `"customer_id":"cus_1"`) || !strings.Contains(buf.String(), `"level":"WARN"`) {
		t.Fatalf("log %s", buf.String())
	}
}
