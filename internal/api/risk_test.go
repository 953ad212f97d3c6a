package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/sqlstore"
)

// riskEnv is a server with the FDS engine over the env's database, an
// institution offering risk scoring with one customer, and an analyst.
type riskEnv struct {
	*env
	store    fds.Store
	bank     risker
	customer string
	analyst  operatorLogin
	an       session // the analyst's session
}

// risker is an institution with a key of scope risk.
type risker struct{ id, key string }

// withFDS wires the engine as serve does; wrap, when given, sits between
// the engine and the database.
func withFDS(t *testing.T, store *fds.Store, wrap func(fds.Store) fds.Store) func(*api.Server) {
	return func(s *api.Server) {
		t.Helper()
		*store = storeOf(s.Audit.(*sqlstore.DB))
		if wrap != nil {
			*store = wrap(*store)
		}
		s.FDS = &fds.Engine{Store: *store, Now: s.Now}
	}
}

func storeOf(db *sqlstore.DB) fds.Store { return db.FDS() }

func newRiskEnv(t *testing.T, configure ...func(*api.Server)) *riskEnv {
	t.Helper()
	var store fds.Store
	e := newEnv(t, append([]func(*api.Server){withFDS(t, &store, nil)}, configure...)...)
	return setUpRisk(e, store)
}

func setUpRisk(e *env, store fds.Store) *riskEnv {
	e.t.Helper()
	r := &riskEnv{env: e, store: store, bank: e.newRisker()}
	cu, err := e.customers.Create(context.Background(), "test", r.bank.id,
		customer.New{Name: "이서연", BirthDate: "1988-07-14", Phone: "010-2345-6789"})
	if err != nil {
		e.t.Fatal(err)
	}
	r.customer = cu.ID
	r.analyst = e.newOperator("lee.analyst", operator.RoleAnalyst)
	r.an = e.login(r.analyst)
	return r
}

func (e *env) newRisker() risker {
	e.t.Helper()
	c, _ := e.newClient(institution.ScopeRisk)
	key, _ := e.newKey(c.ID)
	return risker{id: c.ID, key: key}
}

// A device fingerprint, as a blind index is spelled.
const (
	phoneFP = "3f9a1c0d5e7b2a4968f1d3c5b7a9e0f2c4d6e8fa1b3c5d7e9f0a2b4c6d8e0f1a"
	otherFP = "aa00bb11cc22dd33ee44ff5566778899aa00bb11cc22dd33ee44ff5566778899"
)

// paymentBody is a 2,000,000 KRW payment from fingerprint fp: on a new
// device, the default pack's new_device and new_device_large_amount
// rules sum to 60, a review.
func (r *riskEnv) paymentBody(fp string) string {
	return `{"kind":"payment","customer_id":"` + r.customer + `","fingerprint":"` + fp +
		`","ip":"203.0.113.7","gps":{"lat":37.5665,"lon":126.978},"amount_krw":2000000,"bin":"457973"}`
}

// decisionView is a decision as the API shows it.
type decisionView struct {
	ID             string          `json:"id"`
	InstitutionID  string          `json:"institution_id"`
	CustomerID     string          `json:"customer_id"`
	Kind           string          `json:"kind"`
	RuleSetVersion int64           `json:"rule_set_version"`
	Score          int             `json:"score"`
	Outcome        string          `json:"outcome"`
	Matched        []fds.Match     `json:"matched"`
	Errors         []fds.RuleError `json:"errors"`
	Features       map[string]any  `json:"features"`
	CaseID         string          `json:"case_id"`
}

func (d decisionView) matched(rule string) bool {
	return slices.ContainsFunc(d.Matched, func(m fds.Match) bool { return m.Rule == rule })
}

// matchedScore sums the contributions of the matched rules that act.
func matchedScore(d decisionView) int {
	sum := 0
	for _, m := range d.Matched {
		if !m.Shadow {
			sum += m.Score
		}
	}
	return sum
}

func (r *riskEnv) score(key, body string) decisionView {
	r.t.Helper()
	res := r.send(withKey(r.request("POST", "/v1/risk/events", body), key))
	if res.StatusCode != http.StatusCreated {
		r.t.Fatalf("score: %d %s", res.StatusCode, res.body)
	}
	d := decodeJSON[decisionView](r.t, res)
	if res.Header.Get("Location") != "/v1/risk/decisions/"+d.ID {
		r.t.Errorf("Location %q for decision %s", res.Header.Get("Location"), d.ID)
	}
	return d
}

// decisions counts the stored decisions.
func (r *riskEnv) decisions() int {
	r.t.Helper()
	ds, err := r.store.Decisions(context.Background(), time.Time{}, r.clock.Now().Add(time.Hour), "", 10000)
	if err != nil {
		r.t.Fatal(err)
	}
	return len(ds)
}

// written is everything an FDS write could change, to show a refusal
// changed nothing.
type written struct {
	audit, decisions, ruleSets, entries int
	cases                               string
}

func (r *riskEnv) written() written {
	r.t.Helper()
	ctx := context.Background()
	sets, err1 := r.store.RuleSets(ctx)
	entries, err2 := r.store.ListEntries(ctx, "")
	cases, err3 := r.store.Cases(ctx, fds.CaseFilter{Limit: 500})
	if err := firstErr(err1, err2, err3); err != nil {
		r.t.Fatal(err)
	}
	b, _ := json.Marshal(cases)
	return written{audit: len(r.events()), decisions: r.decisions(), ruleSets: len(sets), entries: len(entries), cases: string(b)}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestRiskNotConfigured(t *testing.T) {
	e := newEnv(t)
	b := e.newRisker()
	analyst := e.login(e.newOperator("lee.analyst", operator.RoleAnalyst))
	e.wantProblem(e.send(withKey(e.request("POST", "/v1/risk/events", `{"kind":"login"}`), b.key)), 503, "fds_not_configured")
	e.wantProblem(e.send(withKey(e.request("GET", "/v1/risk/decisions/dec_x", ""), b.key)), 503, "fds_not_configured")
	e.wantProblem(e.as(analyst, e.request("GET", "/v1/operator/risk/cases", "")), 503, "fds_not_configured")
	e.wantProblem(e.as(analyst, e.request("POST", "/v1/operator/risk/rule-sets/1/activate", "")), 503, "fds_not_configured")
}

func TestRiskEventDecision(t *testing.T) {
	r := newRiskEnv(t)
	res := r.send(withKey(r.request("POST", "/v1/risk/events", r.paymentBody(phoneFP)), r.bank.key))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("score: %d %s", res.StatusCode, res.body)
	}
	for _, pii := range []string{"이서연", "2345-6789", "01023456789", "1988-07-14"} {
		if strings.Contains(string(res.body), pii) {
			t.Errorf("the decision shows the customer's %q: %s", pii, res.body)
		}
	}
	d := decodeJSON[decisionView](t, res)
	if d.Kind != "payment" || d.InstitutionID != r.bank.id || d.CustomerID != r.customer || d.RuleSetVersion != 0 {
		t.Errorf("decision %+v", d)
	}
	if d.Outcome != "review" || !d.matched("new_device") || !d.matched("new_device_large_amount") {
		t.Errorf("outcome %s matched %+v; want review with new_device and new_device_large_amount", d.Outcome, d.Matched)
	}
	if sum := matchedScore(d); d.Score != min(max(sum, 0), 100) {
		t.Errorf("score %d, but the matched rules sum to %d", d.Score, sum)
	}
	if d.Features["amount"] != float64(2000000) || d.Features["device_new"] != true || d.Features["kind"] != "payment" {
		t.Errorf("features %v", d.Features)
	}
	if d.CaseID == "" {
		t.Error("a review opened no case")
	}

	t.Run("ok/the institution reads its decision", func(t *testing.T) {
		res := r.send(withKey(r.request("GET", "/v1/risk/decisions/"+d.ID, ""), r.bank.key))
		if got := decodeJSON[decisionView](t, res); res.StatusCode != 200 || got.ID != d.ID || got.Outcome != "review" || len(got.Matched) != len(d.Matched) {
			t.Errorf("explain: %d %s", res.StatusCode, res.body)
		}
	})
	t.Run("ok/an event with only a kind", func(t *testing.T) {
		got := r.score(r.bank.key, `{"kind":"login","result":"failure"}`)
		if got.Outcome != "allow" || got.Matched == nil || got.Features == nil {
			t.Errorf("bare event: %+v", got)
		}
	})
	t.Run("error/another institution's decision is not found", func(t *testing.T) {
		other := r.newRisker()
		r.wantProblem(r.send(withKey(r.request("GET", "/v1/risk/decisions/"+d.ID, ""), other.key)), 404, "not_found")
		r.wantProblem(r.send(withKey(r.request("GET", "/v1/risk/decisions/dec_nosuchdecision", ""), r.bank.key)), 404, "not_found")
	})
	t.Run("error/another institution's customer is not found, nothing decided", func(t *testing.T) {
		other := r.newRisker()
		before := r.written()
		p := r.wantProblem(r.send(withKey(r.request("POST", "/v1/risk/events", r.paymentBody(otherFP)), other.key)), 404, "not_found")
		if p.Field != "customer_id" {
			t.Errorf("field %q", p.Field)
		}
		if after := r.written(); after != before {
			t.Errorf("a refused event wrote: %+v → %+v", before, after)
		}
	})
	t.Run("error/no scope risk", func(t *testing.T) {
		c, _ := r.newClient(institution.ScopeDevice, institution.ScopeRisk)
		deviceOnly, _ := r.newKey(c.ID, institution.ScopeDevice)
		before := r.written()
		r.wantProblem(r.send(withKey(r.request("POST", "/v1/risk/events", `{"kind":"login"}`), deviceOnly)), 403, "insufficient_scope")
		r.wantProblem(r.send(withKey(r.request("GET", "/v1/risk/decisions/"+d.ID, ""), deviceOnly)), 403, "insufficient_scope")
		if after := r.written(); after != before {
			t.Errorf("a refused event wrote: %+v → %+v", before, after)
		}
	})
	t.Run("error/no credential", func(t *testing.T) {
		r.wantProblem(r.send(r.request("POST", "/v1/risk/events", `{"kind":"login"}`)), 401, "unauthenticated")
	})
}

func TestRiskEventBadInput(t *testing.T) {
	r := newRiskEnv(t)
	old := r.clock.Now().Add(-25 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"error/unknown field", `{"kind":"payment","name":"이서연"}`, 400, "unknown_field", "name"},
		{"error/unknown gps field", `{"kind":"payment","gps":{"lat":1,"lon":2,"alt":3}}`, 400, "unknown_field", "gps.alt"},
		{"error/duplicate field", `{"kind":"payment","kind":"login"}`, 400, "duplicate_field", "kind"},
		{"error/no kind", `{"amount_krw":1000}`, 400, "invalid_request", "kind"},
		{"error/operator kind", `{"kind":"operator"}`, 400, "invalid_request", "kind"},
		{"error/latitude out of range", `{"kind":"payment","gps":{"lat":90.5,"lon":126.9}}`, 400, "invalid_request", "gps.lat"},
		{"error/longitude out of range", `{"kind":"payment","gps":{"lat":37.5,"lon":-180.01}}`, 400, "invalid_request", "gps.lon"},
		{"error/gps without longitude", `{"kind":"payment","gps":{"lat":37.5}}`, 400, "invalid_request", "gps.lon"},
		{"error/gps as a string", `{"kind":"payment","gps":"37.5,126.9"}`, 400, "wrong_type", "gps"},
		{"error/negative amount", `{"kind":"payment","amount_krw":-1}`, 400, "invalid_request", "amount_krw"},
		{"error/amount over a trillion", `{"kind":"payment","amount_krw":1000000000001}`, 400, "invalid_request", "amount_krw"},
		{"error/amount overflowing int64", `{"kind":"payment","amount_krw":99999999999999999999}`, 400, "wrong_type", "amount_krw"},
		{"error/fractional amount", `{"kind":"payment","amount_krw":1.5}`, 400, "wrong_type", "amount_krw"},
		{"error/amount on a login", `{"kind":"login","amount_krw":1000}`, 400, "invalid_request", "amount_krw"},
		{"error/five-digit bin", `{"kind":"payment","bin":"45797"}`, 400, "invalid_request", "bin"},
		{"error/bin with a letter", `{"kind":"payment","bin":"45797a"}`, 400, "invalid_request", "bin"},
		{"error/full card number as bin", `{"kind":"payment","bin":"4579730000000000"}`, 400, "invalid_request", "bin"},
		{"error/bin on a login", `{"kind":"login","bin":"457973"}`, 400, "invalid_request", "bin"},
		{"error/upper-case fingerprint", `{"kind":"login","fingerprint":"` + strings.ToUpper(phoneFP) + `"}`, 400, "invalid_request", "fingerprint"},
		{"error/short fingerprint", `{"kind":"login","fingerprint":"abcd"}`, 400, "invalid_request", "fingerprint"},
		{"error/bad ip", `{"kind":"login","ip":"203.0.113"}`, 400, "invalid_request", "ip"},
		{"error/ip with zone", `{"kind":"login","ip":"fe80::1%eth0"}`, 400, "invalid_request", "ip"},
		{"error/bad customer id", `{"kind":"login","customer_id":"Robert'); DROP"}`, 400, "invalid_request", "customer_id"},
		{"error/bad result", `{"kind":"login","result":"maybe"}`, 400, "invalid_request", "result"},
		{"error/bad time", `{"kind":"login","time":"yesterday"}`, 400, "invalid_request", "time"},
		{"error/time over a day old", `{"kind":"login","time":"` + old + `"}`, 400, "invalid_request", "time"},
		{"error/empty body", ` `, 400, "empty_body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.written()
			p := r.wantProblem(r.send(withKey(r.request("POST", "/v1/risk/events", tt.body), r.bank.key)), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if after := r.written(); after != before {
				t.Errorf("a refused event wrote: %+v → %+v", before, after)
			}
		})
	}
	t.Run("error/not json", func(t *testing.T) {
		req := r.request("POST", "/v1/risk/events", `{"kind":"login"}`)
		req.Header.Set("Content-Type", "text/plain")
		r.wantProblem(r.send(withKey(req, r.bank.key)), 415, "unsupported_media_type")
	})
	t.Run("ok/a time in the last day, a mapped IPv4 address", func(t *testing.T) {
		at := r.clock.Now().Add(-time.Hour).Format(time.RFC3339)
		d := r.score(r.bank.key, `{"kind":"login","result":"success","ip":"::ffff:203.0.113.9","time":"`+at+`"}`)
		if d.Kind != "login" {
			t.Errorf("decision %+v", d)
		}
	})
}

// analystRoutes is every operator risk route with a body it would accept.
func analystRoutes(caseID, entryID string) []struct{ method, path, body string } {
	return []struct{ method, path, body string }{
		{"GET", "/v1/operator/risk/decisions/dec_x", ""},
		{"GET", "/v1/operator/risk/cases", ""},
		{"GET", "/v1/operator/risk/cases/" + caseID, ""},
		{"POST", "/v1/operator/risk/cases/" + caseID + "/assign", `{"assignee":""}`},
		{"POST", "/v1/operator/risk/cases/" + caseID + "/comments", `{"text":"called the customer"}`},
		{"POST", "/v1/operator/risk/cases/" + caseID + "/close", `{"resolution":"legitimate"}`},
		{"GET", "/v1/operator/risk/rule-sets", ""},
		{"POST", "/v1/operator/risk/rule-sets", ruleSetBody("r", `amount > 1`)},
		{"GET", "/v1/operator/risk/lists", ""},
		{"POST", "/v1/operator/risk/lists", `{"list":"device","value":"` + otherFP + `","block":true,"reason":"mule device"}`},
		{"DELETE", "/v1/operator/risk/lists/" + entryID, ""},
	}
}

func ruleSetBody(name string, exprs ...string) string {
	rules := make([]string, len(exprs))
	for i, x := range exprs {
		q, _ := json.Marshal(x)
		rules[i] = fmt.Sprintf(`{"name":"%s_%d","expr":%s,"score":50,"description":"test rule"}`, name, i, q)
	}
	return `{"name":"` + name + `","rules":[` + strings.Join(rules, ",") + `],"thresholds":{"step_up":30,"review":60,"deny":90}}`
}

func TestRiskOperatorRoutesAnalystOnly(t *testing.T) {
	r := newRiskEnv(t)
	d := r.score(r.bank.key, r.paymentBody(phoneFP))
	res := r.as(r.an, r.request("POST", "/v1/operator/risk/lists", `{"list":"ip","value":"198.51.100.0/24","block":true,"reason":"botnet"}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("add entry: %d %s", res.StatusCode, res.body)
	}
	entry := decodeJSON[fds.ListEntry](t, res)
	res = r.as(r.an, r.request("POST", "/v1/operator/risk/rule-sets", ruleSetBody("v1", `amount > 1`)))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("save rule set: %d %s", res.StatusCode, res.body)
	}

	for _, role := range []operator.Role{operator.RoleAgent, operator.RoleTeller, operator.RoleSupervisor, operator.RoleAuditor, operator.RoleAdmin} {
		o := r.login(r.newOperator("op."+string(role), role))
		for _, rt := range analystRoutes(d.CaseID, entry.ID) {
			t.Run(fmt.Sprintf("error/%s %s %s", role, rt.method, rt.path), func(t *testing.T) {
				before := r.written()
				r.wantProblem(r.as(o, r.request(rt.method, rt.path, rt.body)), 403, "role_required")
				if after := r.written(); after != before {
					t.Errorf("a refused call wrote: %+v → %+v", before, after)
				}
			})
		}
		if role == operator.RoleAdmin {
			continue
		}
		t.Run("error/"+string(role)+" activates", func(t *testing.T) {
			before := r.written()
			r.wantProblem(r.as(o, r.request("POST", "/v1/operator/risk/rule-sets/1/activate", "")), 403, "role_required")
			if after := r.written(); after != before {
				t.Errorf("a refused activation wrote: %+v → %+v", before, after)
			}
		})
	}
	t.Run("ok/an admin activates", func(t *testing.T) {
		admin := r.login(r.newOperator("park.admin", operator.RoleAdmin))
		if res := r.as(admin, r.request("POST", "/v1/operator/risk/rule-sets/1/activate", "")); res.StatusCode != 200 {
			t.Errorf("admin activate: %d %s", res.StatusCode, res.body)
		}
	})
	t.Run("error/an institution key on an operator route", func(t *testing.T) {
		r.wantProblem(r.send(withKey(r.request("GET", "/v1/operator/risk/cases", ""), r.bank.key)), 401, "session_invalid")
	})
}

// caseView is a case as the API shows it.
type caseView struct {
	ID         string        `json:"id"`
	DecisionID string        `json:"decision_id"`
	CustomerID string        `json:"customer_id"`
	Outcome    string        `json:"outcome"`
	Status     string        `json:"status"`
	Assignee   string        `json:"assignee"`
	Resolution string        `json:"resolution"`
	Comments   []fds.Comment `json:"comments"`
}

func (r *riskEnv) caseCall(s session, method, path, body string) caseView {
	r.t.Helper()
	res := r.as(s, r.request(method, path, body))
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, res.body)
	}
	return decodeJSON[caseView](r.t, res)
}

func (r *riskEnv) listCases(query string) []caseView {
	r.t.Helper()
	res := r.as(r.an, r.request("GET", "/v1/operator/risk/cases"+query, ""))
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("cases%s: %d %s", query, res.StatusCode, res.body)
	}
	return decodeJSON[struct{ Cases []caseView }](r.t, res).Cases
}

func caseIDs(cs []caseView) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func TestRiskCaseFlow(t *testing.T) {
	r := newRiskEnv(t)
	d := r.score(r.bank.key, r.paymentBody(phoneFP))
	other := r.newOperator("choi.analyst", operator.RoleAnalyst)
	agent := r.newOperator("kang.agent", operator.RoleAgent)
	base := "/v1/operator/risk/cases/" + d.CaseID

	res := r.as(r.an, r.request("GET", "/v1/operator/risk/decisions/"+d.ID, ""))
	if got := decodeJSON[decisionView](t, res); res.StatusCode != 200 || got.CaseID != d.CaseID || got.InstitutionID != r.bank.id {
		t.Fatalf("operator explain: %d %s", res.StatusCode, res.body)
	}
	if open := r.listCases("?status=open"); !slices.Contains(caseIDs(open), d.CaseID) {
		t.Fatalf("open cases %v lack %s", caseIDs(open), d.CaseID)
	}
	c := r.caseCall(r.an, "GET", base, "")
	if c.DecisionID != d.ID || c.Status != "open" || c.Outcome != "review" || c.CustomerID != r.customer || c.Comments == nil {
		t.Errorf("case %+v", c)
	}

	if c = r.caseCall(r.an, "POST", base+"/assign", `{"assignee":""}`); c.Assignee != r.analyst.op.ID {
		t.Errorf("self-assign: assignee %q, want %q", c.Assignee, r.analyst.op.ID)
	}
	if c = r.caseCall(r.an, "POST", base+"/assign", `{"assignee":"`+other.op.ID+`"}`); c.Assignee != other.op.ID {
		t.Errorf("assign: assignee %q, want %q", c.Assignee, other.op.ID)
	}
	if mine := r.listCases("?assignee=" + other.op.ID + "&limit=10"); len(mine) != 1 || mine[0].ID != d.CaseID {
		t.Errorf("cases of %s: %v", other.op.ID, caseIDs(mine))
	}
	if c = r.caseCall(r.an, "POST", base+"/comments", `{"text":"Customer confirmed the payment by phone."}`); len(c.Comments) != 1 ||
		c.Comments[0].Author != r.analyst.op.ID || c.Comments[0].Text != "Customer confirmed the payment by phone." {
		t.Errorf("comments %+v", c.Comments)
	}
	if c = r.caseCall(r.an, "POST", base+"/close", `{"resolution":"legitimate"}`); c.Status != "closed" || c.Resolution != "legitimate" {
		t.Errorf("closed case %+v", c)
	}
	if closed := r.listCases("?status=closed"); !slices.Contains(caseIDs(closed), d.CaseID) {
		t.Errorf("closed cases %v lack %s", caseIDs(closed), d.CaseID)
	}
	if open := r.listCases("?status=open"); slices.Contains(caseIDs(open), d.CaseID) {
		t.Errorf("a closed case is listed as open")
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"error/assign to an agent", "POST", base + "/assign", `{"assignee":"` + agent.op.ID + `"}`, 400, "invalid_assignee", "assignee"},
		{"error/assign to nobody known", "POST", base + "/assign", `{"assignee":"op_nosuchoperator"}`, 400, "invalid_assignee", "assignee"},
		{"error/assign to a bad id", "POST", base + "/assign", `{"assignee":"<script>"}`, 400, "invalid_assignee", "assignee"},
		{"error/assign a closed case", "POST", base + "/assign", `{"assignee":""}`, 409, "case_closed", ""},
		{"error/close twice", "POST", base + "/close", `{"resolution":"fraud"}`, 409, "case_closed", ""},
		{"error/unknown resolution", "POST", base + "/close", `{"resolution":"whatever"}`, 400, "invalid_resolution", "resolution"},
		{"error/blank comment", "POST", base + "/comments", `{"text":"   "}`, 400, "invalid_comment", "text"},
		{"error/unknown comment field", "POST", base + "/comments", `{"text":"x","author":"someone"}`, 400, "unknown_field", "author"},
		{"error/unknown case", "POST", "/v1/operator/risk/cases/case_nosuchcase/comments", `{"text":"x"}`, 404, "not_found", ""},
		{"error/impossible case id", "GET", "/v1/operator/risk/cases/NOT-AN-ID", "", 404, "not_found", ""},
		{"error/unknown decision", "GET", "/v1/operator/risk/decisions/dec_nosuchdecision", "", 404, "not_found", ""},
		{"error/bad status filter", "GET", "/v1/operator/risk/cases?status=pending", "", 400, "invalid_request", "status"},
		{"error/limit zero", "GET", "/v1/operator/risk/cases?limit=0", "", 400, "invalid_request", "limit"},
		{"error/limit too large", "GET", "/v1/operator/risk/cases?limit=501", "", 400, "invalid_request", "limit"},
		{"error/unknown parameter", "GET", "/v1/operator/risk/cases?customer=x", "", 400, "unknown_parameter", "customer"},
		{"error/repeated parameter", "GET", "/v1/operator/risk/cases?status=open&status=closed", "", 400, "unknown_parameter", "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.written()
			p := r.wantProblem(r.as(r.an, r.request(tt.method, tt.path, tt.body)), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if after := r.written(); after != before {
				t.Errorf("a refused call wrote: %+v → %+v", before, after)
			}
		})
	}
	t.Run("ok/a closed case takes comments", func(t *testing.T) {
		if c := r.caseCall(r.an, "POST", base+"/comments", `{"text":"Refund handled."}`); len(c.Comments) != 2 {
			t.Errorf("comments %+v", c.Comments)
		}
	})
}

// ruleSetsView is the rule-set listing.
type ruleSetsView struct {
	RuleSets      []fds.RuleSet `json:"rule_sets"`
	ActiveVersion int64         `json:"active_version"`
}

func (r *riskEnv) saveRuleSet(body string) int64 {
	r.t.Helper()
	res := r.as(r.an, r.request("POST", "/v1/operator/risk/rule-sets", body))
	if res.StatusCode != http.StatusCreated {
		r.t.Fatalf("save rule set: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[struct{ Version int64 }](r.t, res).Version
}

func (r *riskEnv) activate(v int64) fds.RuleSet {
	r.t.Helper()
	res := r.as(r.an, r.request("POST", fmt.Sprintf("/v1/operator/risk/rule-sets/%d/activate", v), ""))
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("activate %d: %d %s", v, res.StatusCode, res.body)
	}
	return decodeJSON[fds.RuleSet](r.t, res)
}

func (r *riskEnv) ruleSets() ruleSetsView {
	r.t.Helper()
	res := r.as(r.an, r.request("GET", "/v1/operator/risk/rule-sets", ""))
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("rule sets: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[ruleSetsView](r.t, res)
}

func TestRiskRuleSets(t *testing.T) {
	r := newRiskEnv(t)
	if got := r.ruleSets(); len(got.RuleSets) != 0 || got.ActiveVersion != 0 {
		t.Fatalf("fresh rule sets %+v", got)
	}
	// v1 reviews any payment of 1,000 KRW or more; v2 denies them.
	v1 := r.saveRuleSet(`{"name":"strict","rules":[{"name":"any_payment","expr":"kind == \"payment\" && amount >= 1000","score":70,"description":"every payment"}],"thresholds":{"step_up":30,"review":60,"deny":90}}`)
	v2 := r.saveRuleSet(`{"name":"stricter","rules":[{"name":"deny_payment","expr":"kind == \"payment\"","score":10,"force":"deny","description":"no payments"}],"thresholds":{"step_up":30,"review":60,"deny":90}}`)
	if v1 < 1 || v2 != v1+1 {
		t.Fatalf("versions %d, %d", v1, v2)
	}
	if got := r.ruleSets(); len(got.RuleSets) != 2 || got.ActiveVersion != 0 {
		t.Errorf("saved sets are not active: %+v", got)
	}
	small := `{"kind":"payment","amount_krw":5000}`

	rs := r.activate(v1)
	if rs.Version != v1 || rs.Name != "strict" || rs.ActivatedAt == nil || rs.CreatedBy != r.analyst.op.ID {
		t.Errorf("activated %+v", rs)
	}
	if d := r.score(r.bank.key, small); d.RuleSetVersion != v1 || d.Outcome != "review" || !d.matched("any_payment") {
		t.Errorf("under v1: version %d outcome %s", d.RuleSetVersion, d.Outcome)
	}
	r.activate(v2)
	if d := r.score(r.bank.key, small); d.RuleSetVersion != v2 || d.Outcome != "deny" {
		t.Errorf("under v2: version %d outcome %s", d.RuleSetVersion, d.Outcome)
	}
	t.Run("ok/rollback to v1", func(t *testing.T) {
		r.activate(v1)
		if got := r.ruleSets(); got.ActiveVersion != v1 {
			t.Errorf("active %d after rollback, want %d", got.ActiveVersion, v1)
		}
		if d := r.score(r.bank.key, small); d.RuleSetVersion != v1 || d.Outcome != "review" {
			t.Errorf("after rollback: version %d outcome %s", d.RuleSetVersion, d.Outcome)
		}
	})

	tests := []struct {
		name, body  string
		code, field string
		names       string // what the problem's title must name
	}{
		{"error/rule that does not compile", ruleSetBody("broken", `amount > 1`, `no_such_feature > 1`), "invalid_rule", "rules[1].expr", "broken_1"},
		{"error/rule that is not boolean", ruleSetBody("notbool", `amount + 1`), "invalid_rule", "rules[0].expr", "notbool_0"},
		{"error/rule comparing a string to a number", ruleSetBody("mixed", `country > 3`), "invalid_rule", "rules[0].expr", "mixed_0"},
		{"error/syntax error", ruleSetBody("syntax", `amount >`), "invalid_rule", "rules[0].expr", "syntax_0"},
		{"error/thresholds out of order", `{"name":"x","rules":[],"thresholds":{"step_up":70,"review":60,"deny":90}}`, "invalid_rule", "thresholds", ""},
		{"error/no thresholds", `{"name":"x","rules":[]}`, "invalid_request", "thresholds", ""},
		{"error/no rules", `{"name":"x","thresholds":{"step_up":30,"review":60,"deny":90}}`, "invalid_request", "rules", ""},
		{"error/unknown rule field", `{"name":"x","rules":[{"name":"a","expr":"true","score":1,"description":"d","weight":2}],"thresholds":{"step_up":30,"review":60,"deny":90}}`, "unknown_field", "rules.weight", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.written()
			p := r.wantProblem(r.as(r.an, r.request("POST", "/v1/operator/risk/rule-sets", tt.body)), 400, tt.code)
			if p.Field != tt.field || !strings.Contains(p.Title, tt.names) {
				t.Errorf("field %q title %q; want field %q naming %q", p.Field, p.Title, tt.field, tt.names)
			}
			if after := r.written(); after != before {
				t.Errorf("a refused rule set wrote: %+v → %+v", before, after)
			}
		})
	}
	t.Run("ok/a rule dividing by zero decides, never a 5xx", func(t *testing.T) {
		res := r.as(r.an, r.request("POST", "/v1/operator/risk/rule-sets", ruleSetBody("div", `amount / (amount - amount) > 1`)))
		if res.StatusCode >= 500 {
			t.Fatalf("save: %d %s", res.StatusCode, res.body)
		}
		if res.StatusCode != http.StatusCreated {
			return // refused at load: a defined result too
		}
		r.activate(decodeJSON[struct{ Version int64 }](t, res).Version)
		d := r.score(r.bank.key, small)
		if d.matched("div_0") || len(d.Errors) != 1 || d.Errors[0].Rule != "div_0" {
			t.Errorf("division by zero: matched %+v errors %+v", d.Matched, d.Errors)
		}
	})
	for _, path := range []string{"99", "0", "-1", "01", "abc", "1e3"} {
		t.Run("error/activate "+path, func(t *testing.T) {
			r.wantProblem(r.as(r.an, r.request("POST", "/v1/operator/risk/rule-sets/"+path+"/activate", "")), 404, "not_found")
		})
	}
}

// raceStore holds the first two readers of the active rule set until both
// have read it, so two activations surely race on the same expectation.
type raceStore struct {
	fds.Store
	armed   atomic.Bool
	waiting atomic.Int32
	both    chan struct{}
}

func (s *raceStore) ActiveRuleSet(ctx context.Context) (*fds.RuleSet, error) {
	rs, err := s.Store.ActiveRuleSet(ctx)
	if s.armed.Load() {
		if s.waiting.Add(1) == 2 {
			close(s.both)
		}
		select {
		case <-s.both:
		case <-time.After(5 * time.Second):
		}
	}
	return rs, err
}

func TestRiskConcurrentActivation(t *testing.T) {
	race := &raceStore{both: make(chan struct{})}
	var store fds.Store
	e := newEnv(t, withFDS(t, &store, func(s fds.Store) fds.Store { race.Store = s; return race }))
	r := setUpRisk(e, store)
	v1 := r.saveRuleSet(ruleSetBody("a", `amount > 1`))
	v2 := r.saveRuleSet(ruleSetBody("b", `amount > 2`))

	race.armed.Store(true)
	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i, v := range []int64{v1, v2} {
		wg.Go(func() {
			res := r.as(r.an, r.request("POST", fmt.Sprintf("/v1/operator/risk/rule-sets/%d/activate", v), ""))
			statuses[i] = res.StatusCode
		})
	}
	wg.Wait()
	race.armed.Store(false)
	slices.Sort(statuses)
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusConflict {
		t.Fatalf("statuses %v, want one 200 and one 409", statuses)
	}
	if got := r.ruleSets(); got.ActiveVersion != v1 && got.ActiveVersion != v2 {
		t.Errorf("active version %d", got.ActiveVersion)
	}
}

func TestRiskLists(t *testing.T) {
	r := newRiskEnv(t)
	first := r.score(r.bank.key, r.paymentBody(phoneFP))
	if first.Outcome == "deny" {
		t.Fatalf("before listing: %s", first.Outcome)
	}
	res := r.as(r.an, r.request("POST", "/v1/operator/risk/lists", `{"list":"device","value":"`+strings.ToUpper(phoneFP)+`","block":true,"reason":"reported stolen"}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("add: %d %s", res.StatusCode, res.body)
	}
	entry := decodeJSON[fds.ListEntry](t, res)
	if entry.ID == "" || entry.List != fds.ListDevice || entry.Value != phoneFP || !entry.Block || entry.CreatedBy != r.analyst.op.ID {
		t.Errorf("entry %+v", entry)
	}
	listed := func(query string) []fds.ListEntry {
		t.Helper()
		res := r.as(r.an, r.request("GET", "/v1/operator/risk/lists"+query, ""))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("lists: %d %s", res.StatusCode, res.body)
		}
		return decodeJSON[struct{ Entries []fds.ListEntry }](t, res).Entries
	}
	if got := listed("?list=device"); len(got) != 1 || got[0].ID != entry.ID {
		t.Errorf("device list %+v", got)
	}
	if got := listed("?list=ip"); len(got) != 0 {
		t.Errorf("ip list %+v", got)
	}

	d := r.score(r.bank.key, `{"kind":"login","fingerprint":"`+phoneFP+`"}`)
	if d.Outcome != "deny" || !d.matched("block_listed") || d.CaseID == "" {
		t.Errorf("block-listed device: outcome %s matched %+v case %q", d.Outcome, d.Matched, d.CaseID)
	}

	if res := r.as(r.an, r.request("DELETE", "/v1/operator/risk/lists/"+entry.ID, "")); res.StatusCode != http.StatusNoContent {
		t.Fatalf("remove: %d %s", res.StatusCode, res.body)
	}
	if got := listed(""); len(got) != 0 {
		t.Errorf("lists after removal %+v", got)
	}
	if d := r.score(r.bank.key, `{"kind":"login","fingerprint":"`+phoneFP+`"}`); d.Outcome == "deny" || d.matched("block_listed") {
		t.Errorf("after removal: outcome %s matched %+v", d.Outcome, d.Matched)
	}

	t.Run("ok/a prefix is stored masked", func(t *testing.T) {
		res := r.as(r.an, r.request("POST", "/v1/operator/risk/lists", `{"list":"ip","value":"10.1.2.3/16","block":false,"reason":"branch office"}`))
		if e := decodeJSON[fds.ListEntry](t, res); res.StatusCode != http.StatusCreated || e.Value != "10.1.0.0/16" || e.Block {
			t.Errorf("prefix entry: %d %s", res.StatusCode, res.body)
		}
	})
	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"error/no block", "POST", "/v1/operator/risk/lists", `{"list":"device","value":"` + otherFP + `","reason":"x"}`, 400, "invalid_list_entry", "block"},
		{"error/unknown list", "POST", "/v1/operator/risk/lists", `{"list":"email","value":"a@b.c","block":true,"reason":"x"}`, 400, "invalid_list_entry", "list"},
		{"error/bad fingerprint", "POST", "/v1/operator/risk/lists", `{"list":"device","value":"xyz","block":true,"reason":"x"}`, 400, "invalid_list_entry", "value"},
		{"error/continent-wide prefix", "POST", "/v1/operator/risk/lists", `{"list":"ip","value":"0.0.0.0/0","block":true,"reason":"x"}`, 400, "invalid_list_entry", "value"},
		{"error/bad bin", "POST", "/v1/operator/risk/lists", `{"list":"bin","value":"4579","block":true,"reason":"x"}`, 400, "invalid_list_entry", "value"},
		{"error/no reason", "POST", "/v1/operator/risk/lists", `{"list":"bin","value":"457973","block":true,"reason":" "}`, 400, "invalid_list_entry", "reason"},
		{"error/block as a string", "POST", "/v1/operator/risk/lists", `{"list":"bin","value":"457973","block":"yes","reason":"x"}`, 400, "wrong_type", "block"},
		{"error/unknown list filter", "GET", "/v1/operator/risk/lists?list=email", "", 400, "invalid_list_entry", "list"},
		{"error/unknown parameter", "GET", "/v1/operator/risk/lists?value=x", "", 400, "unknown_parameter", "value"},
		{"error/remove unknown entry", "DELETE", "/v1/operator/risk/lists/lst_nosuchentry", "", 404, "not_found", ""},
		{"error/remove twice", "DELETE", "/v1/operator/risk/lists/" + entry.ID, "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.written()
			p := r.wantProblem(r.as(r.an, r.request(tt.method, tt.path, tt.body)), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if after := r.written(); after != before {
				t.Errorf("a refused call wrote: %+v → %+v", before, after)
			}
		})
	}
}

// recordingObserver keeps what it hears; it can be told to panic.
type recordingObserver struct {
	mu     sync.Mutex
	events []api.OperatorEvent
	panics bool
}

func (o *recordingObserver) ObserveOperator(_ context.Context, e api.OperatorEvent) {
	o.mu.Lock()
	o.events = append(o.events, e)
	panics := o.panics
	o.mu.Unlock()
	if panics {
		panic("observer failed")
	}
}

func (o *recordingObserver) take() []api.OperatorEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	evs := o.events
	o.events = nil
	return evs
}

func TestOperatorActionObserver(t *testing.T) {
	obs := &recordingObserver{}
	r := newRiskEnv(t, func(s *api.Server) { s.Risk = obs })
	agent := r.newOperator("kang.agent", operator.RoleAgent)
	agentSession := r.login(agent)
	obs.take() // logins are not operator-route writes, but start clean

	t.Run("ok/a write is reported with its status", func(t *testing.T) {
		res := r.as(r.an, r.request("POST", "/v1/operator/risk/lists", `{"list":"bin","value":"457973","block":true,"reason":"card testing"}`))
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("add: %d %s", res.StatusCode, res.body)
		}
		want := api.OperatorEvent{OperatorID: r.analyst.op.ID, Route: "/v1/operator/risk/lists", Method: "POST",
			IP: "127.0.0.1", Status: http.StatusCreated, Time: r.clock.Now().UTC()}
		if got := obs.take(); len(got) != 1 || !got[0].Time.Equal(want.Time) || func() bool { g := got[0]; g.Time = want.Time; return g != want }() {
			t.Errorf("observed %+v, want %+v", got, want)
		}
	})
	t.Run("ok/a customer route names the customer, a failed write is reported too", func(t *testing.T) {
		// No login service is configured: the handler answers 503.
		res := r.as(agentSession, r.request("POST", "/v1/operator/customers/"+r.customer+"/login-state/pin/clear", `{"reason":"identity_verified_by_call"}`))
		got := obs.take()
		if len(got) != 1 || got[0].OperatorID != agent.op.ID || got[0].CustomerID != r.customer || got[0].Status != res.StatusCode ||
			got[0].Route != "/v1/operator/customers/{id}/login-state/{method}/clear" || res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("observed %+v for %d", got, res.StatusCode)
		}
	})
	t.Run("ok/reads are not reported", func(t *testing.T) {
		for _, path := range []string{"/v1/operator/risk/cases", "/v1/operator/risk/lists", "/v1/operator/me"} {
			if res := r.as(r.an, r.request("GET", path, "")); res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, res.StatusCode)
			}
		}
		if got := obs.take(); len(got) != 0 {
			t.Errorf("reads observed: %+v", got)
		}
	})
	t.Run("ok/requests without a session are not reported", func(t *testing.T) {
		r.wantProblem(r.send(r.request("POST", "/v1/operator/risk/lists", `{}`)), 401, "session_invalid")
		r.score(r.bank.key, `{"kind":"login"}`)
		if got := obs.take(); len(got) != 0 {
			t.Errorf("observed %+v", got)
		}
	})
	t.Run("ok/a panicking observer changes nothing", func(t *testing.T) {
		obs.mu.Lock()
		obs.panics = true
		obs.mu.Unlock()
		defer func() { obs.mu.Lock(); obs.panics = false; obs.mu.Unlock() }()
		res := r.as(r.an, r.request("POST", "/v1/operator/risk/lists", `{"list":"bin","value":"512345","block":true,"reason":"card testing"}`))
		if res.StatusCode != http.StatusCreated || decodeJSON[fds.ListEntry](t, res).Value != "512345" {
			t.Errorf("with a panicking observer: %d %s", res.StatusCode, res.body)
		}
		if got := obs.take(); len(got) != 1 || got[0].Status != http.StatusCreated {
			t.Errorf("observed %+v", got)
		}
		if res := r.as(r.an, r.request("GET", "/v1/operator/me", "")); res.StatusCode != http.StatusOK {
			t.Errorf("server after the panic: %d", res.StatusCode)
		}
	})
	t.Run("ok/logout is an operator write", func(t *testing.T) {
		if res := r.as(agentSession, r.request("DELETE", "/v1/operator/sessions/current", "")); res.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", res.StatusCode, res.body)
		}
		if got := obs.take(); len(got) != 1 || got[0].Method != "DELETE" || got[0].OperatorID != agent.op.ID || got[0].Status != http.StatusNoContent {
			t.Errorf("observed %+v", got)
		}
	})
}

// TestRiskEventFutureTime: an event dated ahead of the server is recorded
// at the server's time, so the next decision's velocity counts it at once;
// a future-dated burst cannot stay out of the windows.
func TestRiskEventFutureTime(t *testing.T) {
	r := newRiskEnv(t)
	ahead := r.clock.Now().Add(4*time.Minute + 59*time.Second).UTC().Format(time.RFC3339)
	r.score(r.bank.key, `{"kind":"login","result":"failure","customer_id":"`+r.customer+`","time":"`+ahead+`"}`)
	r.clock.Add(time.Second)
	d := r.score(r.bank.key, `{"kind":"login","result":"failure","customer_id":"`+r.customer+`"}`)
	if d.Features["cust_failures_1m"] != float64(1) {
		t.Fatalf("the future-dated failure is not in the 1-minute window: %v", d.Features["cust_failures_1m"])
	}
}
