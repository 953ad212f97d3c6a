package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
)

// The FDS demo: a customer logs in in Seoul and moments later in New York
// (impossible travel, sent to an analyst); a script on a relay in Tokyo
// guesses another customer's PIN less than a second apart, just after
// that customer logged in in Seoul (the ladder's bot rule escalates, and
// the engine's deny opens a case); and a payment of 5,000,000 KRW from a
// device never seen before. Each decision is shown as an analyst reads
// it: outcome, score, the rules that matched with their contributions,
// and the feature values they read. Logins that open no case (allow,
// step_up) are recorded too, but no route lists them, so the demo shows
// the decisions of the cases it opened.
//
// The phones' addresses are the demo IP database's documentation ranges,
// sent as X-Forwarded-For, which `serve --demo` believes from loopback.

// Demo addresses (see geoip.WriteDemoDB).
const (
	seoulIP = "203.0.113.10"
	nyIP    = "198.51.100.10"
	tokyoIP = "192.0.2.10"
)

// demoAmount is the payment of step (c), in KRW.
const demoAmount = 5_000_000

// fdsDemo holds the run's cast and clients.
type fdsDemo struct {
	ld          *loginDemo // enrolment and operator logins
	t           *demoTarget
	l           *demoLog
	api         *ekycAPI // the institution's calls (X-Api-Key)
	analyst     *deviceapp.OperatorClient
	analystName string
	// traveller logs in from two continents and pays; bot is attacked.
	traveller, bot indexed
}

func demoFDS(ctx context.Context, t *demoTarget, l *demoLog) error {
	d := &fdsDemo{t: t, l: l,
		ld:  &loginDemo{dd: &deviceDemo{t: t, l: l, inst: t.institution()}, t: t, l: l, ops: map[string]*deviceapp.OperatorClient{}},
		api: &ekycAPI{server: t.Server, apiKey: t.APIKey, http: &http.Client{Timeout: 15 * time.Second}}}
	if err := d.cast(); err != nil {
		return err
	}
	for _, step := range []func(context.Context) error{d.login, d.travel, d.botAttack, d.payment} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// cast picks the last two demo customers, whom the other demos touch
// least.
func (d *fdsDemo) cast() error {
	n := len(d.t.Customers)
	if n < 2 {
		return fmt.Errorf("the FDS demo needs 2 demo customers, demo.json has %d", n)
	}
	d.traveller, d.bot = indexed{n, d.t.Customers[n-1]}, indexed{n - 1, d.t.Customers[n-2]}
	return nil
}

// login has the analyst log in: demo-analyst, or demo-admin (who holds
// every role) on data seeded before demo-analyst existed.
func (d *fdsDemo) login(ctx context.Context) error {
	name := demoAnalyst
	if _, ok := d.t.Operators[name]; !ok {
		name = demoAdmin
	}
	o, err := d.ld.operator(ctx, name)
	if err != nil {
		return err
	}
	d.analyst, d.analystName = o, name
	return nil
}

// travel is step (a).
func (d *fdsDemo) travel(ctx context.Context) error {
	c := d.traveller
	d.l.title("Impossible travel: %s logs in in Seoul, then in New York moments later", c)
	app, pin, err := d.ld.enrol(ctx, c)
	if err != nil {
		return err
	}
	if err := d.loginFrom(ctx, app, pin, seoulIP, "Seoul, KR"); err != nil {
		return err
	}
	before, err := d.openCases(ctx)
	if err != nil {
		return err
	}
	if err := d.loginFrom(ctx, app, pin, nyIP, "New York, US"); err != nil {
		return err
	}
	d.l.note("the login itself succeeds: the ladder decides logins, the engine advises and records")
	decs, err := d.newDecisions(ctx, c, before, "the New York login",
		"country", "country_changed", "location_source", "distance_km", "travel_kmh", "impossible_travel")
	if err != nil {
		return err
	}
	dec := decs[len(decs)-1]
	kmh, _ := dec.Features["travel_kmh"].(float64)
	if dec.Features["impossible_travel"] != true || kmh <= 900 || !matched(dec, "impossible_travel") {
		return d.l.fail("the New York login: impossible_travel %v at %.0f km/h, want true above 900", dec.Features["impossible_travel"], kmh)
	}
	d.l.ok("impossible travel: %s km from Seoul in seconds is %s km/h, over the 900 km/h bound → %s",
		thousands(int64(num(dec.Features["distance_km"]))), thousands(int64(kmh)), dec.Outcome)
	return nil
}

// loginFrom logs in with the right PIN from ip, after a person's pause
// (the engine flags attempts less than a second apart as a bot's). A
// delay that an earlier decision imposed is waited out once: a step-up
// raises the ladder even after a success.
func (d *fdsDemo) loginFrom(ctx context.Context, app *deviceapp.App, pin, ip, place string) error {
	if err := sleepCtx(ctx, humanPaces[1]); err != nil {
		return err
	}
	forward(app).ip = ip
	_, err := app.Login(ctx, deviceapp.MethodPIN, pin)
	if p, ok := deviceapp.AsProblem(err); ok && p.Code == lockout.ErrDelayed.Code && p.RetryAfter <= time.Minute {
		d.l.note("an earlier decision raised the ladder: login delayed %s; waiting it out", p.RetryAfter)
		if err := sleepCtx(ctx, p.RetryAfter+300*time.Millisecond); err != nil {
			return err
		}
		_, err = app.Login(ctx, deviceapp.MethodPIN, pin)
	}
	return d.l.check(err, "PIN login from %s (%s, X-Forwarded-For) → tokens", ip, place)
}

// botAttack is step (b).
func (d *fdsDemo) botAttack(ctx context.Context) error {
	c := d.bot
	d.l.title("A PIN bot: %s logs in in Seoul; a script on a relay in Tokyo then guesses the PIN less than a second apart", c)
	app, pin, err := d.ld.enrol(ctx, c)
	if err != nil {
		return err
	}
	if err := d.loginFrom(ctx, app, pin, seoulIP, "Seoul, KR"); err != nil {
		return err
	}
	before, err := d.openCases(ctx)
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, humanPaces[2]); err != nil {
		return err
	}
	forward(app).ip = tokyoIP
	if err := d.guesses(ctx, app, pin); err != nil {
		return err
	}
	decs, err := d.newDecisions(ctx, c, before, "the script's guesses",
		"bot_suspected", "bot_paced", "last_interval_s", "cust_failures_10m", "country", "impossible_travel")
	if err != nil {
		return err
	}
	last := decs[len(decs)-1]
	if last.Features["bot_paced"] != true || !matched(last, "bot_paced") {
		return d.l.fail("the 2nd guess: bot_paced %v, want true and the bot_paced rule matched", last.Features["bot_paced"])
	}
	d.l.ok("the 2nd guess, %ss after the 1st: bot_paced → %s (score %d)", featureValue(last.Features["last_interval_s"]), last.Outcome, last.Score)
	return d.ladderAfterBot(ctx, c, last)
}

// guesses are the script's two wrong PINs, as fast as it can send them:
// the ladder's own bot rule refuses the second with the delay a person
// meets only at the third failure.
func (d *fdsDemo) guesses(ctx context.Context, app *deviceapp.App, pin string) error {
	if err := d.ld.wrongPIN(ctx, app, pin, 1, login.ErrFailed.Code, 0); err != nil {
		return err
	}
	start := time.Now()
	_, err := app.Login(ctx, deviceapp.MethodPIN, randomPIN("", pin))
	gap := time.Since(start).Round(time.Millisecond)
	p, ok := deviceapp.AsProblem(err)
	if !ok || !slices.Contains([]string{lockout.ErrDelayed.Code, lockout.ErrLocked.Code, lockout.ErrProtection.Code}, p.Code) {
		return d.l.fail("wrong PIN 2, %s after the 1st: %v, want a ladder refusal", gap, err)
	}
	d.l.ok("wrong PIN 2, %s after the 1st, refused: %s (%d)%s", gap, p.Code, p.Status, retryAfter(p))
	return nil
}

// ladderAfterBot shows the ladder after the two guesses: the ladder's own
// bot rule counts the 2nd guess as the 3rd failure; a step_up or deny from
// the engine raises a failure one stage more, unless the ladder already did
// for the same pace.
func (d *fdsDemo) ladderAfterBot(ctx context.Context, c indexed, dec *fds.Decision) error {
	agent, err := d.ld.operator(ctx, "demo-agent")
	if err != nil {
		return err
	}
	st, err := agent.LoginState(ctx, c.ID)
	if err != nil {
		return d.l.fail("login state of %s: %v", c, err)
	}
	pin := st.Method(deviceapp.MethodPIN)
	// A guess the ladder escalated for its pace is not raised again.
	paced := dec.Features["bot_suspected"] == true
	escalated := (dec.Outcome == fds.StepUp || dec.Outcome == fds.Deny) && !paced
	want := 3
	if escalated {
		want = demoLockAt
	}
	if pin.Failures != want {
		return d.l.fail("the operator view of %s: %d failures after 2 guesses and a %s decision, want %d", c, pin.Failures, dec.Outcome, want)
	}
	if escalated {
		d.l.ok("the engine's %s raised the ladder one stage (login.escalated in the audit log): 2 guesses count as %d failures, %s", dec.Outcome, pin.Failures, ladderWord(pin))
		return nil
	}
	if paced {
		d.l.ok("the operator view of %s: 2 guesses count as %d failures, %s: the ladder escalated the paced guess itself, and the engine's %s is recorded with its case, not applied twice", c, pin.Failures, ladderWord(pin), dec.Outcome)
		return nil
	}
	d.l.ok("the operator view of %s: 2 guesses count as %d failures, %s; a %s escalates nothing", c, pin.Failures, ladderWord(pin), dec.Outcome)
	return nil
}

func ladderWord(m deviceapp.MethodState) string {
	now := time.Now()
	switch {
	case m.Protected:
		return "protection mode"
	case m.LockedUntil.After(now):
		return "locked for " + until(m.LockedUntil)
	case m.DelayedUntil.After(now):
		return "delayed for " + until(m.DelayedUntil)
	}
	return "no stage in force"
}

// payment is step (c).
func (d *fdsDemo) payment(ctx context.Context) error {
	c := d.traveller
	d.l.title("A payment of %s KRW from a device never seen before", thousands(demoAmount))
	fp, err := newFingerprint()
	if err != nil {
		return err
	}
	in := map[string]any{"kind": "payment", "customer_id": c.ID, "fingerprint": fp, "amount_krw": demoAmount, "ip": nyIP}
	var dec fds.Decision
	err = d.api.call(ctx, http.MethodPost, "/v1/risk/events", "", in, &dec)
	if err := d.l.check(err, "POST /v1/risk/events (X-Api-Key) {kind: payment, amount_krw: %d, a new fingerprint, ip %s} → decision %s", demoAmount, nyIP, dec.ID); err != nil {
		return err
	}
	var again fds.Decision
	err = d.api.call(ctx, http.MethodGet, "/v1/risk/decisions/"+url.PathEscape(dec.ID), "", nil, &again)
	if err == nil && (again.ID != dec.ID || again.Outcome != dec.Outcome || again.Score != dec.Score) {
		err = fmt.Errorf("explained as %s %s %d", again.ID, again.Outcome, again.Score)
	}
	if err := d.l.check(err, "GET /v1/risk/decisions/%s explains the same decision", dec.ID); err != nil {
		return err
	}
	d.show(&again, "amount", "device_new", "first_use", "payments_90d", "amount_ratio", "country")
	if again.Outcome.Severity() < fds.Review.Severity() || !matched(&again, "new_device_large_amount") {
		return d.l.fail("the payment: %s without new_device_large_amount, want review or deny because of it", again.Outcome)
	}
	d.l.ok("the payment is %s (case %s): the institution holds it for an analyst or refuses it", again.Outcome, orNone(again.CaseID))
	return nil
}

// show prints a decision with its matched rules and the named features.
func (d *fdsDemo) show(dec *fds.Decision, features ...string) {
	d.l.note("decision %s: %s, score %d (rule set %s)", dec.ID, strings.ToUpper(string(dec.Outcome)), dec.Score, ruleSetName(dec.RuleSetVersion))
	for _, m := range dec.Matched {
		d.l.note("  %-26s %s  %s", m.Rule, contribution(m), m.Description)
	}
	for _, e := range dec.Errors {
		d.l.note("  %-26s error: %s", e.Rule, e.Error)
	}
	var fs []string
	for _, f := range features {
		if v, ok := dec.Features[f]; ok {
			fs = append(fs, f+"="+featureValue(v))
		}
	}
	d.l.note("  features: %s", strings.Join(fs, " "))
}

func ruleSetName(v int64) string {
	if v == 0 {
		return "built-in default"
	}
	return fmt.Sprintf("v%d", v)
}

func contribution(m fds.Match) string {
	s := fmt.Sprintf("%+4d", m.Score)
	if m.Force != "" {
		s += " force " + string(m.Force)
	}
	if m.Shadow {
		s += " (shadow)"
	}
	return s
}

func featureValue(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprintf("%.2f", x)
	case string:
		if x == "" {
			return `""`
		}
		return x
	}
	return fmt.Sprint(v)
}

func matched(dec *fds.Decision, rule string) bool {
	return slices.ContainsFunc(dec.Matched, func(m fds.Match) bool { return m.Rule == rule && !m.Shadow })
}

// openCases are the ids of the open cases now, so a step finds the cases
// it opened without comparing clocks with the server.
func (d *fdsDemo) openCases(ctx context.Context) (map[string]bool, error) {
	cases, err := d.cases(ctx)
	if err != nil {
		return nil, d.l.fail("GET /v1/operator/risk/cases: %v", err)
	}
	ids := make(map[string]bool, len(cases))
	for _, c := range cases {
		ids[c.ID] = true
	}
	return ids, nil
}

func (d *fdsDemo) cases(ctx context.Context) ([]fds.Case, error) {
	var out struct {
		Cases []fds.Case `json:"cases"`
	}
	err := operatorGet(ctx, d.analyst, "/v1/operator/risk/cases?status=open&limit=500", &out)
	return out.Cases, err
}

// newDecisions finds the cases opened for the customer since before and
// reads their decisions, as the analyst does, oldest first.
func (d *fdsDemo) newDecisions(ctx context.Context, c indexed, before map[string]bool, what string, features ...string) ([]*fds.Decision, error) {
	cases, err := d.cases(ctx)
	if err != nil {
		return nil, d.l.fail("GET /v1/operator/risk/cases: %v", err)
	}
	var mine []fds.Case
	for _, k := range cases {
		if !before[k.ID] && k.CustomerID == c.ID {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		return nil, d.l.fail("no case was opened for %s: the engine did not send it for review", what)
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].CreatedAt.Before(mine[j].CreatedAt) })
	var decs []*fds.Decision
	for _, k := range mine {
		var dec fds.Decision
		err = operatorGet(ctx, d.analyst, "/v1/operator/risk/decisions/"+url.PathEscape(k.DecisionID), &dec)
		if err := d.l.check(err, "%s opened case %s (%s); %s reads its decision with GET /v1/operator/risk/decisions/%s", what, k.ID, k.Outcome, d.analystName, k.DecisionID); err != nil {
			return nil, err
		}
		d.show(&dec, features...)
		decs = append(decs, &dec)
	}
	return decs, nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// operatorGet reads an operator route with the client's session cookie
// (a GET needs no CSRF token).
func operatorGet(ctx context.Context, o *deviceapp.OperatorClient, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Server+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := o.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxDelivery))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return deviceapp.DecodeProblem(res.StatusCode, res.Header, b)
	}
	return json.Unmarshal(b, out)
}

// forwarder sets X-Forwarded-For on a phone's requests, standing for the
// network the phone is on.
type forwarder struct {
	ip   string
	next http.RoundTripper
}

func (f *forwarder) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if f.ip != "" {
		r.Header.Set("X-Forwarded-For", f.ip)
	}
	return f.next.RoundTrip(r)
}

// forward returns the phone's forwarder, installing one the first time.
func forward(app *deviceapp.App) *forwarder {
	if app.HTTP != nil {
		if f, ok := app.HTTP.Transport.(*forwarder); ok {
			return f
		}
	}
	f := &forwarder{next: http.DefaultTransport}
	app.HTTP = &http.Client{Timeout: 15 * time.Second, Transport: f}
	return f
}

// newFingerprint is a device fingerprint no phone ever had.
func newFingerprint() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// thousands writes n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
