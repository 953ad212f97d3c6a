package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/geoip"
	"github.com/haechi/haechi/internal/redis"
	"github.com/haechi/haechi/internal/risk"
)

// demoGeoIPFile is the demo's IP database in the data dir, written at each
// --demo start when HAECHI_GEOIP_FILE is not set.
const demoGeoIPFile = "demo-geoip.mmdb"

// buildFDS wires the fraud engine: the database for history and records,
// the IP database when one is configured (or the demo's), and Redis for
// velocity when configured. Neither optional part stops the server: the
// engine runs with every country unknown, or counts velocity in the
// database.
func (a *app) buildFDS(ctx context.Context, log *slog.Logger) (*fds.Engine, error) {
	eng := &fds.Engine{Store: a.db.FDS(), Geo: a.geo(log), Now: a.now}
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		// Keyed by the pepper, so key names in a shared Redis do not reveal
		// which IPs or customers were seen; every node derives the same key.
		eng.Cache = &redis.Velocity{Client: rdb, HashKey: crypto.MAC(a.keys.Pepper, []byte("haechi fds velocity keys"))}
	}
	return eng, nil
}

// geo opens the IP database, or answers nil (every country unknown) with a
// warning: a missing or corrupt file must not keep the server down.
func (a *app) geo(log *slog.Logger) fds.Geo {
	path := a.cfg.GeoIPFile
	if path == "" && a.cfg.Demo {
		path = filepath.Join(a.cfg.DataDir, demoGeoIPFile)
		if err := geoip.WriteDemoDB(path); err != nil {
			log.Warn("fraud engine: writing the demo IP database failed; every IP country is unknown", "err", err)
			return nil
		}
	}
	if path == "" {
		log.Warn("fraud engine: HAECHI_GEOIP_FILE is not set; every IP country is unknown")
		return nil
	}
	db, err := geoip.Open(path)
	if err != nil {
		log.Warn("fraud engine: the IP database cannot be used (HAECHI_GEOIP_FILE); every IP country is unknown", "err", err)
		return nil
	}
	return db
}

// wireRisk connects every capability to the engine. The engine only
// advises: its errors are logged by the adapters and never fail a login,
// a registration or a verification.
func (a *app) wireRisk(eng *fds.Engine, log *slog.Logger) {
	a.login.Risk = risk.Login{Engine: eng, Lockout: a.login.Lockout, Log: log}
	a.devices.service.Risk = risk.Device{Engine: eng, Next: a.devices.service.Risk, Log: log}
	a.ekyc.service.Risk = risk.Verification{Engine: eng, Log: log}
	if a.payments != nil {
		a.payments.service.Risk = risk.Payment{Engine: eng, Log: log}
	}
}

// trustedProxies are the configured proxies, plus loopback in demo mode.
// The demo client runs on the same machine and sends X-Forwarded-For with
// the documentation addresses the demo IP database locates (Seoul, New
// York…), so that impossible travel can be shown from one laptop. Outside
// --demo a loopback peer is never believed about its client's address.
func trustedProxies(configured []netip.Prefix, demo bool) []netip.Prefix {
	if !demo {
		return configured
	}
	return slices.Concat(configured, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")})
}

// ---- haechi fds backtest ----

const fdsUsage = "fds backtest --rules FILE [--since RFC3339] [--until RFC3339]"

// defaultBacktestSpan is how far back a backtest replays without --since.
const defaultBacktestSpan = 30 * 24 * time.Hour

// maxRulesFile bounds the candidate file read.
const maxRulesFile = 1 << 20

// cmdFDS is `haechi fds backtest`: replay stored decisions through a
// candidate rule set and print how their outcomes would change.
func cmdFDS(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "backtest" {
		return usageErr(fdsUsage)
	}
	var file, since, until string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&file, "rules", "", "JSON rule set to replay ({name, rules, thresholds})")
		fs.StringVar(&since, "since", "", "replay decisions made from this time (default: 30 days ago)")
		fs.StringVar(&until, "until", "", "replay decisions made before this time (default: now)")
	}
	return withApp(ctx, "fds backtest", args[1:], flags, func(a *app, rest []string) error {
		if file == "" || len(rest) > 0 {
			return usageErr(fdsUsage)
		}
		from, to, err := backtestSpan(since, until, a.now())
		if err != nil {
			return err
		}
		rs, err := readRuleSet(file)
		if err != nil {
			return err
		}
		eng := &fds.Engine{Store: a.db.FDS(), Now: a.now}
		rep, err := eng.Backtest(ctx, rs, from, to)
		if err != nil {
			return ruleSetError(err)
		}
		printBacktest(out, rs, from, to, rep)
		return nil
	})
}

// backtestSpan parses --since and --until around now.
func backtestSpan(since, until string, now time.Time) (time.Time, time.Time, error) {
	from, to := now.Add(-defaultBacktestSpan), now
	var err error
	if since != "" {
		if from, err = time.Parse(time.RFC3339, since); err != nil {
			return from, to, fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", since)
		}
	}
	if until != "" {
		if to, err = time.Parse(time.RFC3339, until); err != nil {
			return from, to, fmt.Errorf("--until %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", until)
		}
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("--since %s is not before --until %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

// readRuleSet reads the candidate rule set in path.
func readRuleSet(path string) (fds.RuleSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return fds.RuleSet{}, fmt.Errorf("--rules: %w", err)
	}
	defer f.Close()
	rs, err := decodeRuleSet(f)
	if err != nil {
		return rs, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// decodeRuleSet reads one JSON rule set strictly (an unknown key is a typo
// that would silently drop a rule's setting) and compiles it, so a rule
// that does not compile or is not boolean is named before anything is
// replayed.
func decodeRuleSet(r io.Reader) (fds.RuleSet, error) {
	var rs fds.RuleSet
	dec := json.NewDecoder(io.LimitReader(r, maxRulesFile))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return rs, fmt.Errorf("not a JSON rule set ({name, rules, thresholds}): %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return rs, errors.New("more than one JSON value")
	}
	rs.Version, rs.ActivatedAt = 0, nil
	if _, err := fds.Compile(rs); err != nil {
		return rs, ruleSetError(err)
	}
	return rs, nil
}

// ruleSetError shows an invalid rule with its code, where it is and the
// message naming the rule; other errors pass unchanged.
func ruleSetError(err error) error {
	e := errs.As(err)
	if e == nil || !errors.Is(err, fds.ErrInvalidRule) {
		return err
	}
	where := ""
	if e.Field != "" {
		where = " at " + e.Field
	}
	return fmt.Errorf("%s%s: %s", e.Code, where, e.EN)
}

// printBacktest writes the report: totals, the transition table (most
// frequent first) and the sample changes.
func printBacktest(out io.Writer, rs fds.RuleSet, from, to time.Time, rep *fds.BacktestReport) {
	name := rep.Candidate
	if name == "" {
		name = rs.Name
	}
	fmt.Fprintf(out, "backtest of %q over %s … %s\n", name, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "decisions replayed: %d\nchanged:            %d\n", rep.Decisions, rep.Changed)
	if rep.Changed == 0 {
		fmt.Fprintln(out, "no outcome would change")
		return
	}
	fmt.Fprintln(out, "\ntransitions:")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  from → to\tcount")
	for _, k := range sortedTransitions(rep.Transitions) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, rep.Transitions[k])
	}
	tw.Flush()
	fmt.Fprintln(out, "\nsamples:")
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  decision\tkind\tfrom\tto\tscore\tcandidate rules matched")
	for _, s := range rep.Samples {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d → %d\t%s\n", s.DecisionID, s.Kind, s.From, s.To, s.FromScore, s.ToScore, orDash(strings.Join(s.Rules, ", ")))
	}
	tw.Flush()
}

// sortedTransitions orders transitions by count, then by name.
func sortedTransitions(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
