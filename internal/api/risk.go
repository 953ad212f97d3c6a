package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/operator"
)

// The FDS routes have two callers: an institution scores its own events
// (payments and transfers chiefly) and reads the explanations (scope
// risk); analysts work the cases and manage rule sets and lists through
// the operator API. Every operator write also reaches the FDS as an
// operator-action event (runObserved).

// Input bounds.
const (
	maxRiskAmount    = 1_000_000_000_000 // 1조 원: above any single transfer
	maxEventAge      = 24 * time.Hour    // the longest velocity window: events are scored as they happen
	minFingerprint   = 16                // hex digits
	maxFingerprint   = 128
	defaultCaseLimit = 100
	maxCaseLimit     = 500
)

var (
	errFDSOff = errs.New(errs.Unavailable, "fds_not_configured",
		"Fraud detection is not configured on this server.", "이 서버에는 이상거래탐지가 설정되어 있지 않습니다.")
	errInvalidAssignee = errs.New(errs.Invalid, "invalid_assignee",
		"The assignee must be an active analyst.", "담당자는 활성 상태의 분석가여야 합니다.")
)

// RiskObserver hears of every operator write (its route, its outcome) so
// the FDS can score operator behaviour. It is called synchronously once
// the handler has answered, before the response is flushed, so it must be
// fast; it cannot change the response, and its panic is swallowed.
type RiskObserver interface {
	ObserveOperator(ctx context.Context, e OperatorEvent)
}

// OperatorEvent is one finished operator write. Route is the route
// pattern, never the raw path; CustomerID is set when the route names a
// customer (/customers/{id}).
type OperatorEvent struct {
	OperatorID, Route, Method, CustomerID, IP string
	Status                                    int
	Time                                      time.Time
}

func (s *Server) fdsEngine() (*fds.Engine, error) {
	if s.FDS == nil {
		return nil, errFDSOff
	}
	return s.FDS, nil
}

// ---- institution side ----

type gpsJSON struct {
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
}

// riskEventRequest is an institution's own event. Only ids and the
// values the rules read are taken: no names, phones or card numbers.
type riskEventRequest struct {
	Kind        string   `json:"kind"`
	CustomerID  string   `json:"customer_id"`
	Fingerprint string   `json:"fingerprint"`
	IP          string   `json:"ip"`
	GPS         *gpsJSON `json:"gps"`
	Result      string   `json:"result"`
	AmountKRW   int64    `json:"amount_krw"`
	BIN         string   `json:"bin"`
	Time        string   `json:"time"`

	now time.Time // set before decoding; Validate places Time around it
	ev  fds.Event
}

var institutionKinds = map[string]fds.Kind{
	"payment": fds.KindPayment, "login": fds.KindLogin,
	"registration": fds.KindRegistration, "verification": fds.KindVerification,
}

func (q *riskEventRequest) Validate() error {
	kind, ok := institutionKinds[q.Kind]
	if !ok {
		return errs.ErrInvalid.WithField("kind")
	}
	q.ev = fds.Event{Kind: kind, CustomerID: q.CustomerID, Fingerprint: q.Fingerprint,
		Result: fds.Result(q.Result), AmountKRW: q.AmountKRW, BIN: q.BIN}
	for _, check := range []func() error{q.checkIDs, q.checkIP, q.checkGPS, q.checkResult, q.checkPayment, q.checkTime} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (q *riskEventRequest) checkIDs() error {
	if q.CustomerID != "" && !pathIDPattern.MatchString(q.CustomerID) {
		return errs.ErrInvalid.WithField("customer_id")
	}
	if q.Fingerprint != "" && !validFingerprint(q.Fingerprint) {
		return errs.ErrInvalid.WithField("fingerprint")
	}
	return nil
}

func (q *riskEventRequest) checkIP() error {
	if q.IP == "" {
		return nil
	}
	ip, ok := parseIP(q.IP)
	if !ok {
		return errs.ErrInvalid.WithField("ip")
	}
	q.ev.IP = ip.String()
	return nil
}

func (q *riskEventRequest) checkGPS() error {
	if q.GPS == nil {
		return nil
	}
	switch g := q.GPS; {
	case g.Lat == nil || *g.Lat < -90 || *g.Lat > 90:
		return errs.ErrInvalid.WithField("gps.lat")
	case g.Lon == nil || *g.Lon < -180 || *g.Lon > 180:
		return errs.ErrInvalid.WithField("gps.lon")
	}
	q.ev.GPS = &fds.Location{Lat: *q.GPS.Lat, Lon: *q.GPS.Lon}
	return nil
}

func (q *riskEventRequest) checkResult() error {
	switch fds.Result(q.Result) {
	case fds.ResultNone, fds.ResultSuccess, fds.ResultFailure:
		return nil
	}
	return errs.ErrInvalid.WithField("result")
}

// checkPayment bounds the amount and BIN, which only a payment carries.
func (q *riskEventRequest) checkPayment() error {
	payment := q.ev.Kind == fds.KindPayment
	switch {
	case q.AmountKRW < 0 || q.AmountKRW > maxRiskAmount || (q.AmountKRW != 0 && !payment):
		return errs.ErrInvalid.WithField("amount_krw")
	case q.BIN != "" && (!isDigits(q.BIN, 6) || !payment):
		return errs.ErrInvalid.WithField("bin")
	}
	return nil
}

// checkTime takes the event's time, now when absent. This route scores
// events as they happen: one older than maxEventAge is refused, and one
// ahead of now is recorded at now, since velocity windows end at now and
// a future-dated burst would stay out of them for as long as it is early.
func (q *riskEventRequest) checkTime() error {
	t := q.now
	if q.Time != "" {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, q.Time); err != nil || t.Before(q.now.Add(-maxEventAge)) {
			return errs.ErrInvalid.WithField("time")
		}
	}
	if t.After(q.now) {
		t = q.now
	}
	q.ev.Time = t.UTC()
	return nil
}

// validFingerprint accepts the one spelling of a device fingerprint:
// lowercase hex of whole bytes, so list entries and events compare equal.
func validFingerprint(s string) bool {
	if len(s) < minFingerprint || len(s) > maxFingerprint || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseIP accepts an address without a zone, IPv4-mapped ones as IPv4.
func parseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// scoreEvent decides an institution's own event. The customer, when
// named, must be the caller's: the engine's history is shared, and one
// institution's events must not move another's customer's features.
func (s *Server) scoreEvent(w http.ResponseWriter, r *http.Request) error {
	eng, err := s.fdsEngine()
	if err != nil {
		return err
	}
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	req := riskEventRequest{now: s.Now()}
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	if err := s.ownCustomer(r.Context(), p.ClientID, req.CustomerID); err != nil {
		return err
	}
	req.ev.InstitutionID = p.ClientID
	d, err := eng.Decide(r.Context(), req.ev)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/risk/decisions/"+d.ID)
	respond(w, http.StatusCreated, viewDecision(d))
	return nil
}

func (s *Server) ownCustomer(ctx context.Context, institutionID, id string) error {
	if id == "" || s.Customers == nil {
		return nil
	}
	_, err := s.Customers.Store.Customer(ctx, institutionID, id)
	if errors.Is(err, errs.ErrNotFound) {
		return errs.ErrNotFound.WithField("customer_id")
	}
	return err
}

// riskDecision explains one of the caller's decisions; another
// institution's is not found, exactly like one that does not exist.
func (s *Server) riskDecision(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	return s.explain(w, r, p.ClientID)
}

// explain answers a stored decision; institutionID "" reaches any.
func (s *Server) explain(w http.ResponseWriter, r *http.Request, institutionID string) error {
	eng, err := s.fdsEngine()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := eng.Explain(r.Context(), institutionID, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, viewDecision(d))
	return nil
}

// viewDecision shows empty lists as [] rather than null.
func viewDecision(d *fds.Decision) fds.Decision {
	v := *d
	if v.Matched == nil {
		v.Matched = []fds.Match{}
	}
	if v.Features == nil {
		v.Features = map[string]any{}
	}
	return v
}

// ---- operator side: decisions and cases ----

func (s *Server) operatorDecision(w http.ResponseWriter, r *http.Request) error {
	return s.explain(w, r, "")
}

// operatorEngine returns the engine and the logged-in operator calling it.
func (s *Server) operatorEngine(r *http.Request) (*fds.Engine, *operatorAuth, error) {
	eng, err := s.fdsEngine()
	if err != nil {
		return nil, nil, err
	}
	a, ok := operatorFrom(r.Context())
	if !ok {
		return nil, nil, operator.ErrNoSession
	}
	return eng, a, nil
}

func (s *Server) riskCases(w http.ResponseWriter, r *http.Request) error {
	eng, err := s.fdsEngine()
	if err != nil {
		return err
	}
	f, err := parseCaseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	cases, err := eng.Cases(r.Context(), f)
	if err != nil {
		return err
	}
	views := make([]fds.Case, len(cases))
	for i := range cases {
		views[i] = viewCase(&cases[i])
	}
	respond(w, http.StatusOK, map[string]any{"cases": views})
	return nil
}

// parseCaseFilter reads ?status=&assignee=&limit= strictly: each at most
// once, and nothing else.
func parseCaseFilter(q url.Values) (fds.CaseFilter, error) {
	f := fds.CaseFilter{Limit: defaultCaseLimit}
	if err := onlyParams(q, "status", "assignee", "limit"); err != nil {
		return f, err
	}
	if v, ok := q["status"]; ok {
		f.Status = fds.CaseStatus(v[0])
		if f.Status != fds.CaseOpen && f.Status != fds.CaseClosed {
			return f, errs.ErrInvalid.WithField("status")
		}
	}
	if v, ok := q["assignee"]; ok {
		if f.Assignee = v[0]; !pathIDPattern.MatchString(f.Assignee) {
			return f, errs.ErrInvalid.WithField("assignee")
		}
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxCaseLimit {
			return f, errs.ErrInvalid.WithField("limit")
		}
		f.Limit = n
	}
	return f, nil
}

// onlyParams refuses a query parameter not in names, or one given twice.
func onlyParams(q url.Values, names ...string) error {
	for k, v := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known || len(v) != 1 {
			return errUnknownParam.WithField(safeField(k))
		}
	}
	return nil
}

func (s *Server) riskCase(w http.ResponseWriter, r *http.Request) error {
	eng, err := s.fdsEngine()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := eng.Case(r.Context(), id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, viewCase(c))
	return nil
}

func viewCase(c *fds.Case) fds.Case {
	v := *c
	if v.Comments == nil {
		v.Comments = []fds.Comment{}
	}
	return v
}

// caseStep is one analyst action on the {id} case.
type caseStep func(ctx context.Context, eng *fds.Engine, actor, id string) (*fds.Case, error)

// runCaseStep decodes req (which the step reads), runs the step as the
// logged-in analyst and answers the case as it now stands.
func (s *Server) runCaseStep(w http.ResponseWriter, r *http.Request, req any, step caseStep) error {
	eng, a, err := s.operatorEngine(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := decode(w, r, req, s.BodyLimit); err != nil {
		return err
	}
	c, err := step(r.Context(), eng, actorOf(a), id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, viewCase(c))
	return nil
}

type assignRequest struct {
	Assignee string `json:"assignee"` // operator id; "" is the caller
}

func (q *assignRequest) Validate() error {
	if q.Assignee != "" && !pathIDPattern.MatchString(q.Assignee) {
		return errInvalidAssignee.WithField("assignee")
	}
	return nil
}

func (s *Server) assignCase(w http.ResponseWriter, r *http.Request) error {
	var req assignRequest
	return s.runCaseStep(w, r, &req, func(ctx context.Context, eng *fds.Engine, actor, id string) (*fds.Case, error) {
		assignee := req.Assignee
		if assignee == "" {
			assignee = actor
		}
		if err := s.checkAnalyst(ctx, assignee); err != nil {
			return nil, err
		}
		return eng.AssignCase(ctx, actor, id, assignee)
	})
}

// checkAnalyst refuses an assignee who could not work the case: unknown,
// disabled, or without the analyst role.
func (s *Server) checkAnalyst(ctx context.Context, id string) error {
	op, err := s.Operators.Store.Operator(ctx, id)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return errInvalidAssignee.WithField("assignee")
	case err != nil:
		return err
	case op.Disabled || !op.Has(operator.RoleAnalyst):
		return errInvalidAssignee.WithField("assignee")
	}
	return nil
}

type commentRequest struct {
	Text string `json:"text"`
}

func (s *Server) commentCase(w http.ResponseWriter, r *http.Request) error {
	var req commentRequest
	return s.runCaseStep(w, r, &req, func(ctx context.Context, eng *fds.Engine, actor, id string) (*fds.Case, error) {
		return eng.CommentCase(ctx, actor, id, req.Text)
	})
}

type closeRequest struct {
	Resolution string `json:"resolution"`
}

func (s *Server) closeCase(w http.ResponseWriter, r *http.Request) error {
	var req closeRequest
	return s.runCaseStep(w, r, &req, func(ctx context.Context, eng *fds.Engine, actor, id string) (*fds.Case, error) {
		return eng.CloseCase(ctx, actor, id, req.Resolution)
	})
}

// ---- operator side: rule sets ----

func (s *Server) ruleSets(w http.ResponseWriter, r *http.Request) error {
	eng, err := s.fdsEngine()
	if err != nil {
		return err
	}
	sets, err := eng.RuleSets(r.Context())
	if err != nil {
		return err
	}
	var active int64
	switch a, err := eng.Active(r.Context()); {
	case err == nil:
		active = a.Version
	case !errors.Is(err, errs.ErrNotFound):
		return err
	}
	views := make([]fds.RuleSet, len(sets))
	for i := range sets {
		views[i] = viewRuleSet(&sets[i])
	}
	respond(w, http.StatusOK, map[string]any{"rule_sets": views, "active_version": active})
	return nil
}

func viewRuleSet(rs *fds.RuleSet) fds.RuleSet {
	v := *rs
	if v.Rules == nil {
		v.Rules = []fds.Rule{}
	}
	return v
}

// ruleSetRequest is a new rule set. The engine compiles every rule and
// names the one it refuses; thresholds must be given, since zeros would
// deny everything.
type ruleSetRequest struct {
	Name       string          `json:"name"`
	Rules      []fds.Rule      `json:"rules"`
	Thresholds *fds.Thresholds `json:"thresholds"`
}

func (q *ruleSetRequest) Validate() error {
	switch {
	case q.Rules == nil:
		return errs.ErrInvalid.WithField("rules")
	case q.Thresholds == nil:
		return errs.ErrInvalid.WithField("thresholds")
	}
	return nil
}

// runOperatorCreate decodes req (which create reads), runs create as the
// logged-in analyst and answers 201 with what it made.
func (s *Server) runOperatorCreate(w http.ResponseWriter, r *http.Request, req any,
	create func(ctx context.Context, eng *fds.Engine, actor string) (any, error)) error {
	eng, a, err := s.operatorEngine(r)
	if err != nil {
		return err
	}
	if err := decode(w, r, req, s.BodyLimit); err != nil {
		return err
	}
	out, err := create(r.Context(), eng, actorOf(a))
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, out)
	return nil
}

func (s *Server) createRuleSet(w http.ResponseWriter, r *http.Request) error {
	var req ruleSetRequest
	return s.runOperatorCreate(w, r, &req, func(ctx context.Context, eng *fds.Engine, actor string) (any, error) {
		v, err := eng.SaveRuleSet(ctx, actor, fds.RuleSet{Name: req.Name, Rules: req.Rules, Thresholds: *req.Thresholds})
		if err != nil {
			return nil, err
		}
		return map[string]int64{"version": v}, nil
	})
}

// activateRuleSet makes the {id} version active; a rollback is activating
// an older one. The answer is the set as stored, read after activation.
func (s *Server) activateRuleSet(w http.ResponseWriter, r *http.Request) error {
	eng, a, err := s.operatorEngine(r)
	if err != nil {
		return err
	}
	version, err := pathVersion(r)
	if err != nil {
		return err
	}
	if err := decodeNothing(w, r, s.BodyLimit); err != nil {
		return err
	}
	if err := eng.Activate(r.Context(), actorOf(a), version); err != nil {
		return err
	}
	rs, err := eng.Store.RuleSet(r.Context(), version)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, viewRuleSet(rs))
	return nil
}

// pathVersion reads {id} as a rule-set version: a positive decimal.
func pathVersion(r *http.Request) (int64, error) {
	id := r.PathValue("id")
	v, err := strconv.ParseInt(id, 10, 64)
	if err != nil || v < 1 || strconv.FormatInt(v, 10) != id {
		return 0, errs.ErrNotFound
	}
	return v, nil
}

// ---- operator side: allow- and block-lists ----

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) error {
	eng, err := s.fdsEngine()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := onlyParams(q, "list"); err != nil {
		return err
	}
	entries, err := eng.ListEntries(r.Context(), fds.ListKind(q.Get("list")))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []fds.ListEntry{}
	}
	respond(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}

// listEntryRequest adds one entry; the engine checks and canonicalizes
// the value for its list. Block has no default: an entry meant to block
// that silently became an allow entry would exempt the very device it
// was meant to stop.
type listEntryRequest struct {
	List   string `json:"list"`
	Value  string `json:"value"`
	Block  *bool  `json:"block"`
	Reason string `json:"reason"`
}

func (q *listEntryRequest) Validate() error {
	if q.Block == nil {
		return fds.ErrInvalidListEntry.WithField("block")
	}
	return nil
}

func (s *Server) addListEntry(w http.ResponseWriter, r *http.Request) error {
	var req listEntryRequest
	return s.runOperatorCreate(w, r, &req, func(ctx context.Context, eng *fds.Engine, actor string) (any, error) {
		return eng.AddListEntry(ctx, actor, fds.ListEntry{
			List: fds.ListKind(req.List), Value: req.Value, Block: *req.Block, Reason: req.Reason})
	})
}

func (s *Server) removeListEntry(w http.ResponseWriter, r *http.Request) error {
	eng, a, err := s.operatorEngine(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := eng.RemoveListEntry(r.Context(), actorOf(a), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- operator-action events ----

// observesOperator says whether a request is an operator write to report.
func (s *Server) observesOperator(rt route, r *http.Request) bool {
	return s.Risk != nil && rt.auth == authOperator && !isSafeMethod(r.Method)
}

// runObserved serves an operator write, then reports it with its final
// status. The request is taken as the handler saw it, so the operator is
// known even when the handler panics (reported as 500; the recoverer
// answers). A refusal before the session resolves has no operator and
// is not reported.
func (s *Server) runObserved(w http.ResponseWriter, r *http.Request, rt route) {
	sw := &statusWriter{ResponseWriter: w}
	seen, finished := r, false
	inner := rt
	inner.handle = func(w http.ResponseWriter, r *http.Request) error {
		seen = r
		return rt.handle(w, r)
	}
	defer func() {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
			if !finished {
				status = http.StatusInternalServerError
			}
		}
		s.observeOperator(seen, rt, status)
	}()
	s.serveRoute(sw, r, inner)
	finished = true
}

// observeOperator calls the observer; its panic is logged and swallowed,
// and its context outlives the client, who already has the answer.
func (s *Server) observeOperator(r *http.Request, rt route, status int) {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return
	}
	ev := OperatorEvent{OperatorID: a.op.ID, Route: rt.pattern, Method: r.Method,
		IP: ipString(infoFrom(r.Context()).ip), Status: status, Time: s.Now().UTC()}
	if strings.Contains(rt.pattern, "/customers/{id}") && pathIDPattern.MatchString(r.PathValue("id")) {
		ev.CustomerID = r.PathValue("id")
	}
	ctx := context.WithoutCancel(r.Context())
	defer func() {
		if v := recover(); v != nil {
			s.Logger.ErrorContext(ctx, "risk observer panicked", "err", fmt.Sprint(v), "route", rt.pattern)
		}
	}()
	s.Risk.ObserveOperator(ctx, ev)
}
