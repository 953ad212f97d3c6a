package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/fds"
)

// stricter is a candidate rule set that sends every payment to deny and
// leaves other kinds alone.
const stricter = `{
  "name": "stricter-payments",
  "rules": [
    {"name": "any_payment", "expr": "kind == \"payment\"", "score": 90, "description": "every payment is denied"}
  ],
  "thresholds": {"step_up": 40, "review": 60, "deny": 80}
}`

// TestBacktest records decisions through a demo server, stops it, and
// replays them offline through candidate rule sets.
func TestBacktest(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	if !hasRoute(t, d.base, "/v1/risk/events") {
		t.Skip("waiting for the risk routes")
	}
	payments := []int64{30_000, 45_000, 12_000}
	for _, amount := range payments {
		scoreEvent(t, d, map[string]any{"kind": "payment", "amount_krw": amount, "ip": "203.0.113.20"})
	}
	scoreEvent(t, d, map[string]any{"kind": "login", "result": "failure", "ip": "203.0.113.20"})
	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	t.Run("ok/a stricter rule set changes the payments", func(t *testing.T) {
		out, err := backtest(t, dir, stricter)
		if err != nil {
			t.Fatalf("backtest: %v\n%s", err, out)
		}
		t.Logf("report:\n%s", out)
		replayed := field(t, out, "decisions replayed")
		if replayed < len(payments)+1 || field(t, out, "changed") != len(payments) {
			t.Fatalf("want every payment changed among ≥%d decisions:\n%s", len(payments)+1, out)
		}
		for _, want := range []string{`backtest of "stricter-payments"`, "allow→deny", "any_payment", "0 → 90"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if regexp.MustCompile(`(?m)^\s+dec_\S+\s+login\s`).MatchString(out) {
			t.Errorf("the login decision is listed as changed:\n%s", out)
		}
	})
	t.Run("ok/an empty span replays nothing", func(t *testing.T) {
		out, err := backtest(t, dir, stricter, "--since", "2001-01-01T00:00:00Z", "--until", "2001-02-01T00:00:00Z")
		if err != nil || field(t, out, "decisions replayed") != 0 || !strings.Contains(out, "no outcome would change") {
			t.Fatalf("backtest: %v\n%s", err, out)
		}
	})
	for _, tt := range []struct {
		name, rules string
		args        []string
		want        []string
	}{
		{"error/a rule that is not boolean", `{"name":"bad","rules":[{"name":"amount_plus_one","expr":"amount + 1","score":10,"description":"x"}],"thresholds":{"step_up":40,"review":60,"deny":80}}`,
			nil, []string{"invalid_rule", "rules[0].expr", `"amount_plus_one"`, "not bool"}},
		{"error/a rule reading a missing feature", `{"name":"bad","rules":[{"name":"ghost","expr":"no_such_feature > 3","score":10,"description":"x"}],"thresholds":{"step_up":40,"review":60,"deny":80}}`,
			nil, []string{"invalid_rule", `"ghost"`}},
		{"error/thresholds out of order", `{"name":"bad","rules":[],"thresholds":{"step_up":70,"review":60,"deny":80}}`,
			nil, []string{"invalid_rule", "thresholds"}},
		{"error/an unknown key", `{"name":"bad","rules":[],"thresholds":{"step_up":40,"review":60,"deny":80},"tresholds":{}}`,
			nil, []string{"not a JSON rule set", "tresholds"}},
		{"error/two values", stricter + stricter, nil, []string{"more than one JSON value"}},
		{"error/since after until", stricter, []string{"--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"}, []string{"is not before"}},
		{"error/since not RFC 3339", stricter, []string{"--since", "yesterday"}, []string{"--since", "RFC 3339"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := backtest(t, dir, tt.rules, tt.args...)
			if err == nil || exitCode(err) == 0 {
				t.Fatalf("accepted:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(out, "decisions replayed") {
				t.Errorf("replayed despite the error:\n%s", out)
			}
		})
	}
	t.Run("error/no --rules", func(t *testing.T) {
		err := run(context.Background(), []string{"fds", "backtest", "--data-dir", dir}, io.Discard, io.Discard)
		if exitCode(err) != 2 {
			t.Fatalf("error %v, want usage (exit 2)", err)
		}
	})
}

// scoreEvent posts an event as the demo institution.
func scoreEvent(t *testing.T, d *demoServer, in map[string]any) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, d.base+"/v1/risk/events", bytes.NewReader(b))
	req.Header.Set("X-Api-Key", d.apiKey)
	req.Header.Set("Content-Type", "application/json")
	if code, body := do(t, req); code != http.StatusCreated {
		t.Fatalf("POST /v1/risk/events %v = %d %v", in, code, body)
	}
}

// backtest runs `haechi fds backtest` with rules as the candidate file.
func backtest(t *testing.T, dir, rules string, args ...string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "candidate.json")
	if err := os.WriteFile(file, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	argv := append([]string{"fds", "backtest", "--rules", file, "--data-dir", dir}, args...)
	err := run(context.Background(), argv, &out, io.Discard)
	return out.String(), err
}

// field reads "name: N" from the report.
func field(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("report lacks %q:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestBacktestSpan(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		since, until string
		from, to     time.Time
		ok           bool
	}{
		{"ok/default: the last 30 days", "", "", now.Add(-30 * 24 * time.Hour), now, true},
		{"ok/since only", "2026-02-01T00:00:00Z", "", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), now, true},
		{"ok/both", "2026-01-01T00:00:00+09:00", "2026-01-02T00:00:00+09:00", time.Date(2025, 12, 31, 15, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 15, 0, 0, 0, time.UTC), true},
		{"error/empty span", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", time.Time{}, time.Time{}, false},
		{"error/until not a time", "", "soon", time.Time{}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, err := backtestSpan(tt.since, tt.until, now)
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (!from.Equal(tt.from) || !to.Equal(tt.to)) {
				t.Fatalf("span %s … %s, want %s … %s", from, to, tt.from, tt.to)
			}
		})
	}
}

// FuzzDecodeRuleSet: whatever the file holds, decoding never panics, and
// a rule set it accepts compiles.
func FuzzDecodeRuleSet(f *testing.F) {
	for _, s := range []string{stricter, `{}`, `{"name":"x","rules":[{"name":"a","expr":"true","score":1,"description":""}],"thresholds":{"step_up":1,"review":2,"deny":3}}`,
		`{"rules":[{"name":"a","expr":"1/0 == 1"}]}`, `[`, `{"rules":null}{}`, `{"name":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := decodeRuleSet(strings.NewReader(s))
		if err != nil {
			return
		}
		if _, err := fds.Compile(rs); err != nil {
			t.Fatalf("accepted a rule set that does not compile: %v", err)
		}
	})
}

// TestGeoWiring: the IP database is optional; a missing or corrupt file
// leaves the engine running with every country unknown, and --demo
// writes its own.
func TestGeoWiring(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte("not an mmdb file"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     config.Config
		country string // of 203.0.113.10; "" when no database
		warning string
	}{
		{"no file: unknown", config.Config{DataDir: dir}, "", "HAECHI_GEOIP_FILE is not set"},
		{"missing file: unknown", config.Config{DataDir: dir, GeoIPFile: filepath.Join(dir, "nope.mmdb")}, "", "cannot be used"},
		{"corrupt file: unknown", config.Config{DataDir: dir, GeoIPFile: corrupt}, "", "cannot be used"},
		{"demo: its own database", config.Config{DataDir: dir, Demo: true}, "KR", ""},
		{"demo with a file: the file", config.Config{DataDir: dir, Demo: true, GeoIPFile: corrupt}, "", "cannot be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := tt.cfg
			geo := (&app{cfg: &cfg}).geo(slog.New(slog.NewTextHandler(&logs, nil)))
			if !strings.Contains(logs.String(), tt.warning) || (tt.warning == "" && logs.Len() > 0) {
				t.Fatalf("log %q, want %q", logs.String(), tt.warning)
			}
			if tt.country == "" {
				if geo != nil {
					t.Fatalf("geo = %v, want none", geo)
				}
				return
			}
			info, ok := geo.Lookup(netip.MustParseAddr("203.0.113.10"))
			if !ok || info.Country != tt.country {
				t.Fatalf("lookup = %+v %v, want %s", info, ok, tt.country)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tt := range []struct {
		name string
		demo bool
		want []string
	}{
		{"production: as configured", false, []string{"10.0.0.0/8"}},
		{"demo: loopback too", true, []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := trustedProxies(lan, tt.demo)
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, ",") != strings.Join(tt.want, ",") || len(lan) != 1 {
				t.Fatalf("proxies %v, want %v (configured %v untouched)", s, tt.want, lan)
			}
		})
	}
}
