package lockout

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func times(gaps ...time.Duration) []time.Time {
	ts := []time.Time{t0}
	for _, g := range gaps {
		ts = append(ts, ts[len(ts)-1].Add(g))
	}
	return ts
}

func TestBotSuspect(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		times []time.Time
		want  bool
	}{
		{"ok/single failure", times(), false},
		{"bot/within one second", times(10*s, 999*time.Millisecond), true},
		{"ok/exactly one second", times(10*s, s), false},
		{"bot/four even intervals", times(30*s, 30*s, 30*s, 30*s), true},
		{"bot/four nearly even intervals", times(30*s, 31*s, 29*s, 30*s), true},
		{"ok/three even intervals", times(30*s, 30*s, 30*s), false},
		{"ok/uneven intervals", times(30*s, 50*s, 95*s, 40*s), false},
		{"ok/even run broken by the newest", times(30*s, 30*s, 30*s, 30*s, 90*s), false},
	}
	rule := BotRule{}.withDefaults()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rule.suspect(tt.times); got != tt.want {
				t.Fatalf("suspect = %v", got)
			}
		})
	}
	if (BotRule{Disabled: true}).withDefaults().suspect(times(0)) {
		t.Fatal("disabled rule fired")
	}
}

func TestEscalate(t *testing.T) {
	l := DefaultLadders()[PIN]
	for n, want := range map[int]int{1: 3, 2: 3, 3: 5, 4: 5, 5: 10, 9: 10, 10: 10} {
		if got := l.escalate(n); got != want {
			t.Errorf("escalate(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{time.Nanosecond: time.Second, 5 * time.Second: 5 * time.Second, 5*time.Second + 1: 6 * time.Second} {
		if got := retryAfter(t0.Add(d), t0); got != want {
			t.Errorf("retryAfter(%v) = %v", d, got)
		}
	}
}
