package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/mask"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
	"github.com/haechi/haechi/internal/webhook"
)

// The eKYC demo: the demo bank receives its signed webhooks on a local
// receiver; one applicant passes with an ID card and a 1-won transfer, one
// fails with a card reported lost; both results arrive by webhook, whose
// signatures the receiver verifies. Every run opens new sessions, so it
// runs again on the same data; each run registers the receiver anew,
// which rotates the endpoint's secret.

// How long the demo waits for the dispatcher, which polls its outbox
// every few seconds and retries with backoff.
const (
	webhookWait = 20 * time.Second
	webhookPoll = 200 * time.Millisecond
)

// maxDelivery bounds what the receiver reads of one delivery.
const maxDelivery = 1 << 20

// demoPolicy is what both sessions need: the ID card and the account.
var demoPolicy = ekyc.Policy{Required: []ekyc.Method{ekyc.IDCard, ekyc.ExistingAccount}}

// ekycApplicant is one applicant as the simulators know them: the
// carrier's subscriber, the ID authority's resident card, a bank account
// and the face fixture of their ID photo.
type ekycApplicant struct {
	carrier.Subscriber
	record  idcheck.Record
	account bankxfer.Account
	photo   []byte
}

func (a ekycApplicant) String() string {
	return fmt.Sprintf("%s (%s, %s)", mask.Name(a.Name), mask.BirthDate(a.BirthDate), mask.Phone(a.Phone))
}

// clear are the applicant's values that must never be shown as they are.
func (a ekycApplicant) clear() []string {
	rrn := a.record.Card.RRN
	v := []string{a.Name, a.BirthDate, a.Phone, a.Phone[3:], rrn, strings.ReplaceAll(rrn, "-", ""), rrn[7:]}
	if a.account.Number != "" {
		v = append(v, a.account.Number)
	}
	return v
}

// ekycDemo holds the run's cast, clients and sessions.
type ekycDemo struct {
	t          *demoTarget
	l          *demoLog
	api        *ekycAPI
	rcv        *webhookReceiver
	pass, fail ekycApplicant
	// sessions maps each session the run opened to its expected end.
	sessions map[string]ekyc.Status
}

func demoEKYC(ctx context.Context, t *demoTarget, l *demoLog) error {
	pass, err := castApplicant("김민수", "kim", false)
	if err != nil {
		return err
	}
	fail, err := castApplicant("박철수", "park", true)
	if err != nil {
		return err
	}
	rcv, err := startReceiver()
	if err != nil {
		return err
	}
	defer rcv.close()
	d := &ekycDemo{t: t, l: l, api: &ekycAPI{server: t.Server, apiKey: t.APIKey, http: &http.Client{Timeout: 15 * time.Second}},
		rcv: rcv, pass: pass, fail: fail, sessions: map[string]ekyc.Status{}}
	for _, step := range []func(context.Context) error{d.register, d.passing, d.failing, d.webhooks} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// castApplicant finds name in the simulators' fixtures: the carrier's
// subscriber, their resident card (lost or not, as wanted) and, for a
// genuine card, an open account of theirs. person names their face fixture.
func castApplicant(name, person string, lost bool) (ekycApplicant, error) {
	i := slices.IndexFunc(carrier.DefaultSubscribers(), func(s carrier.Subscriber) bool { return s.Name == name })
	if i < 0 {
		return ekycApplicant{}, fmt.Errorf("the carrier simulator has no subscriber %s", mask.Name(name))
	}
	a := ekycApplicant{Subscriber: carrier.DefaultSubscribers()[i], photo: face.IDPhotoFixture(person)}
	rec, ok := residentRecord(a.Subscriber)
	if !ok || rec.Lost != lost {
		return a, fmt.Errorf("the ID-check simulator has no resident card of %s reported lost=%v", a, lost)
	}
	a.record = rec
	if lost {
		return a, nil
	}
	for _, e := range bankxfer.DefaultAccounts() {
		if e.Holder == name && !e.Closed {
			a.account = e.Account
			return a, nil
		}
	}
	return a, fmt.Errorf("the bank simulator has no open account of %s", a)
}

// residentRecord is the subscriber's resident card in the ID-check
// simulator: same name and birth date.
func residentRecord(s carrier.Subscriber) (idcheck.Record, bool) {
	for _, r := range idcheck.DefaultRecords() {
		_, birth, err := customer.NormalizeRRN(r.Card.RRN)
		if err == nil && r.Card.Kind == idcheck.KindResident && r.Card.Name == s.Name && birth == s.BirthDate {
			return r, true
		}
	}
	return idcheck.Record{}, false
}

// register is step 1: the bank's webhook receiver and its secret.
func (d *ekycDemo) register(ctx context.Context) error {
	d.l.title("The demo bank's webhook receiver")
	d.l.note("listening on %s (this process plays the bank's back end)", d.rcv.url)
	var out struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}
	err := d.api.call(ctx, http.MethodPut, "/v1/webhook-endpoint", "", map[string]string{"url": d.rcv.url}, &out)
	if err == nil && !strings.HasPrefix(out.Secret, webhook.SecretPrefix) {
		err = errors.New("the answer holds no whsec_ secret")
	}
	if err != nil {
		return d.l.fail("PUT /v1/webhook-endpoint: %v", err)
	}
	d.rcv.setSecret(out.Secret)
	d.l.ok("PUT /v1/webhook-endpoint (X-Api-Key) → signing secret %s, shown this once and kept in memory only", maskSecret(out.Secret))
	d.l.note("each registration issues a new secret; the one it replaces keeps signing until the next, so a receiver can switch over")
	return nil
}

// passing is step 2: the ID card and a 1-won transfer pass the session.
func (d *ekycDemo) passing(ctx context.Context) error {
	a := d.pass
	d.l.title("A passing session: %s, policy requires id_card + existing_account", a)
	s, err := d.open(ctx, a)
	if err != nil {
		return err
	}
	v, err := d.submitCard(ctx, s, a)
	if err := d.expectMethod(v, err, ekyc.IDCard, ekyc.MethodPassed, "", "POST …/id-card: resident card %s with its photo", mask.RRN(a.record.Card.RRN)); err != nil {
		return err
	}
	acct := map[string]string{"bank": a.account.Bank, "account_number": a.account.Number}
	v, err = s.call(ctx, "/existing-account", acct)
	if err := d.expectMethod(v, err, ekyc.ExistingAccount, ekyc.MethodStarted, "", "POST …/existing-account: bank %s, account %s → 1 KRW deposited with a code in its memo", a.account.Bank, mask.Account(a.account.Number)); err != nil {
		return err
	}
	memo, err := d.readMemo(ctx, a.account)
	if err != nil {
		return err
	}
	v, err = s.call(ctx, "/existing-account/confirm", map[string]string{"code": memo})
	if err := d.expectMethod(v, err, ekyc.ExistingAccount, ekyc.MethodPassed, "", "POST …/existing-account/confirm with the memo's code"); err != nil {
		return err
	}
	return d.decided(ctx, s.id, a, ekyc.StatusPassed, "")
}

// readMemo plays the customer reading their statement in their own bank.
func (d *ekycDemo) readMemo(ctx context.Context, acct bankxfer.Account) (string, error) {
	d.l.note("the customer opens their own bank's app and reads the 1-won deposit's memo on the statement;")
	d.l.note("here the bank simulator's GET /v1/simulator/bank/{bank}/{account}/memo plays that part (demo servers only)")
	var out struct {
		Memo string `json:"memo"`
	}
	path := "/v1/simulator/bank/" + url.PathEscape(acct.Bank) + "/" + url.PathEscape(acct.Number) + "/memo"
	err := d.api.call(ctx, http.MethodGet, path, "", nil, &out)
	if err == nil && out.Memo == "" {
		err = errors.New("an empty memo")
	}
	return out.Memo, d.l.check(err, "memo read off the statement: %s", mask.All(out.Memo))
}

// failing is step 3: a card reported lost fails the required id_card, and
// with it the session.
func (d *ekycDemo) failing(ctx context.Context) error {
	a := d.fail
	d.l.title("A failing session: %s, with a resident card reported lost", a)
	s, err := d.open(ctx, a)
	if err != nil {
		return err
	}
	v, err := d.submitCard(ctx, s, a)
	if err := d.expectMethod(v, err, ekyc.IDCard, ekyc.MethodFailed, ekyc.ReasonIDLost, "POST …/id-card: resident card %s with its photo", mask.RRN(a.record.Card.RRN)); err != nil {
		return err
	}
	return d.decided(ctx, s.id, a, ekyc.StatusFailed, ekyc.ReasonRequiredFailed)
}

// applicantSession is an open session and the token the applicant's app
// uses on it.
type applicantSession struct {
	api   *ekycAPI
	id    string
	token string
}

// call posts to one of the session's applicant routes.
func (s *applicantSession) call(ctx context.Context, rest string, in any) (*ekyc.View, error) {
	var v ekyc.View
	if err := s.api.call(ctx, http.MethodPost, "/v1/verifications/"+url.PathEscape(s.id)+rest, s.token, in, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// open opens a session for a as the bank's back end does.
func (d *ekycDemo) open(ctx context.Context, a ekycApplicant) (*applicantSession, error) {
	in := map[string]any{
		"reference": "demo-ekyc-" + crypto.RandomBase32(8),
		"applicant": map[string]string{"name": a.Name, "birth_date": a.BirthDate, "phone": a.Phone},
		"policy":    map[string]any{"required": demoPolicy.Required},
	}
	var out struct {
		Session        ekyc.View `json:"session"`
		ApplicantToken string    `json:"applicant_token"`
	}
	err := d.api.call(ctx, http.MethodPost, "/v1/verifications", "", in, &out)
	if err == nil && (out.Session.Status != ekyc.StatusPending || out.ApplicantToken == "") {
		err = fmt.Errorf("session %s %s, applicant token given %v", out.Session.ID, out.Session.Status, out.ApplicantToken != "")
	}
	if err != nil {
		return nil, d.l.fail("POST /v1/verifications: %v", err)
	}
	d.l.ok("POST /v1/verifications (X-Api-Key) → %s pending, min %d methods; its applicant token (shown once) goes to the app", out.Session.ID, out.Session.Policy.Min)
	d.l.note("the app calls the session's routes with Authorization: Bearer <applicant token>")
	return &applicantSession{api: d.api, id: out.Session.ID, token: out.ApplicantToken}, nil
}

// submitCard sends the applicant's resident card and its photo.
func (d *ekycDemo) submitCard(ctx context.Context, s *applicantSession, a ekycApplicant) (*ekyc.View, error) {
	c := a.record.Card
	return s.call(ctx, "/id-card", map[string]string{"kind": string(c.Kind), "name": c.Name, "rrn": c.RRN,
		"issue_date": c.IssueDate, "image": base64.StdEncoding.EncodeToString(a.photo)})
}

// expectMethod checks a method's state in the session an applicant call
// answered with.
func (d *ekycDemo) expectMethod(v *ekyc.View, err error, m ekyc.Method, want ekyc.MethodStatus, reason, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if err != nil {
		return d.l.fail("%s: %v", what, err)
	}
	st := methodState(v, m)
	if st.Status != want || (reason != "" && st.Reason != reason) {
		return d.l.fail("%s: %s %s %s, want %s %s", what, m, orNone(string(st.Status)), st.Reason, want, reason)
	}
	if reason != "" {
		d.l.ok("%s → %s %s: %s", what, m, st.Status, st.Reason)
		return nil
	}
	d.l.ok("%s → %s %s", what, m, st.Status)
	return nil
}

// decided reads the session as the institution sees it and checks its
// end and that its applicant shows masked only.
func (d *ekycDemo) decided(ctx context.Context, id string, a ekycApplicant, want ekyc.Status, reason string) error {
	var raw json.RawMessage
	err := d.api.call(ctx, http.MethodGet, "/v1/verifications/"+url.PathEscape(id), "", nil, &raw)
	var v ekyc.View
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err == nil && (v.Status != want || v.Reason != reason || v.DecidedAt == nil) {
		err = fmt.Errorf("status %s %s, want %s %s", v.Status, v.Reason, want, reason)
	}
	if err == nil {
		err = showsClear(raw, a)
	}
	if err != nil {
		return d.l.fail("GET /v1/verifications/%s: %v", id, err)
	}
	ap := v.Applicant
	d.l.ok("GET /v1/verifications/%s → %s%s, passed [%s], failed [%s]; applicant %s, %s, %s (masked)", id, v.Status, orEmpty(": ", v.Reason),
		joinMethods(v.Passed), joinMethods(v.Failed), ap.Name, ap.BirthDate, ap.Phone)
	d.sessions[id] = want
	return nil
}

// webhooks is step 4: both sessions' ends, received and verified.
func (d *ekycDemo) webhooks(ctx context.Context) error {
	d.l.title("The webhooks, as the bank's back end receives them")
	d.l.note("waiting up to %s for both deliveries (the dispatcher polls its outbox every %s)…", webhookWait, webhookEvery)
	got, err := d.rcv.wait(ctx, d.sessions, webhookWait)
	if err != nil {
		return d.l.fail("%v", err)
	}
	for _, want := range []ekyc.Status{ekyc.StatusPassed, ekyc.StatusFailed} {
		for _, ev := range got {
			if d.sessions[ev.session] == want {
				if err := d.showEvent(ev, want); err != nil {
					return err
				}
			}
		}
	}
	if n := d.rcv.others(d.sessions); n > 0 {
		d.l.note("%s of earlier sessions also arrived, verified, and are not shown", plural(n, "event"))
	}
	return nil
}

// showEvent checks and prints one received event.
func (d *ekycDemo) showEvent(ev receivedEvent, want ekyc.Status) error {
	a := d.pass
	if want == ekyc.StatusFailed {
		a = d.fail
	}
	typ := "verification." + string(want)
	d.l.note("delivery %s %s (Haechi-Event-Type), session %s", ev.id, ev.typ, ev.session)
	if ev.typ != typ {
		return d.l.fail("event %s is %s, want %s", ev.id, ev.typ, typ)
	}
	d.l.ok("Haechi-Signature: %s — signed with %s; signature verified with the newest (webhook.Verify, ±%s)", signatureShape(ev.signature), plural(ev.signatures, "secret"), webhook.Tolerance)
	if err := d.l.check(showsClear(ev.body, a), "payload (Haechi-Event-Id matches its id; masked personal data only):"); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, ev.body, "      ", "  "); err != nil {
		return d.l.fail("payload of %s is not JSON: %v", ev.id, err)
	}
	fmt.Fprintf(d.l.out, "      %s\n", pretty.String())
	return nil
}

// showsClear fails when b shows any of the applicant's values unmasked.
func showsClear(b []byte, a ekycApplicant) error {
	for _, v := range a.clear() {
		if bytes.Contains(b, []byte(v)) {
			return errors.New("an unmasked personal value is shown")
		}
	}
	return nil
}

func methodState(v *ekyc.View, m ekyc.Method) ekyc.MethodState {
	for _, s := range v.Methods {
		if s.Method == m {
			return s
		}
	}
	return ekyc.MethodState{Method: m}
}

func joinMethods(ms []ekyc.Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, " + ")
}

func orNone(s string) string {
	if s == "" {
		return "not tried"
	}
	return s
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// maskSecret keeps the secret's prefix and first four characters, enough
// to tell two secrets apart and far too little to sign with.
func maskSecret(s string) string {
	rest, ok := strings.CutPrefix(s, webhook.SecretPrefix)
	if !ok || len(rest) < 16 {
		return mask.All(s)
	}
	return webhook.SecretPrefix + rest[:4] + "****…"
}

// signatureShape shows a Haechi-Signature header with each v1 cut to its
// first eight hex digits: the shape, not a value anyone could reuse.
func signatureShape(h string) string {
	parts := strings.Split(h, ",")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if ok && k == "v1" && len(v) > 8 {
			parts[i] = k + "=" + v[:8] + "…"
		}
	}
	return strings.Join(parts, ",")
}

// ekycAPI calls the server as the institution (X-Api-Key) or as the
// applicant's app (a Bearer applicant token).
type ekycAPI struct {
	server string
	apiKey string
	http   *http.Client
}

// call sends in as JSON (nil: no body) and decodes a 2xx answer into out;
// any other answer is a *deviceapp.Problem.
func (c *ekycAPI) call(ctx context.Context, method, path, bearer string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	} else {
		req.Header.Set("X-Api-Key", c.apiKey)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxDelivery))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return deviceapp.DecodeProblem(res.StatusCode, res.Header, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// receivedEvent is one verified delivery, the first of its event id.
type receivedEvent struct {
	id, typ    string
	session    string // the session the event is about (data.id)
	signature  string // the Haechi-Signature header
	signatures int    // how many v1 it carried
	body       []byte
}

// webhookReceiver is the bank's endpoint: it verifies every delivery with
// the newest secret (deliveries are signed with every active one) and
// keeps the first of each event id, since delivery is at least once.
type webhookReceiver struct {
	url string
	srv *http.Server

	mu       sync.Mutex
	secret   []byte
	seen     map[string]bool
	events   []receivedEvent
	rejected error // the first delivery refused
}

func startReceiver() (*webhookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := &webhookReceiver{url: "http://" + ln.Addr().String() + "/haechi-webhooks", seen: map[string]bool{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *webhookReceiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.srv.Shutdown(ctx)
}

func (r *webhookReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = []byte(s)
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxDelivery))
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	w.WriteHeader(r.receive(req.Header, body))
}

// receive judges one delivery and answers its status. Before the secret
// is known (an earlier run's event may come in the moment the endpoint
// moves here) it answers 503, so the dispatcher tries again later.
func (r *webhookReceiver) receive(h http.Header, body []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secret == nil {
		return http.StatusServiceUnavailable
	}
	sig := h.Get(webhook.HeaderSignature)
	ev, err := parseDelivery(h, body)
	if err == nil {
		err = webhook.Verify(sig, body, [][]byte{r.secret}, time.Now(), 0)
	}
	if err != nil {
		if r.rejected == nil {
			r.rejected = fmt.Errorf("a delivery was refused: %w", err)
		}
		return http.StatusUnauthorized
	}
	if !r.seen[ev.id] {
		r.seen[ev.id] = true
		ev.signature, ev.signatures = sig, strings.Count(sig, "v1=")
		r.events = append(r.events, ev)
	}
	return http.StatusNoContent
}

// parseDelivery reads the event the headers and body describe, which must
// agree on its id and type.
func parseDelivery(h http.Header, body []byte) (receivedEvent, error) {
	var b struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return receivedEvent{}, errors.New("the body is not a JSON event")
	}
	ev := receivedEvent{id: h.Get(webhook.HeaderEventID), typ: h.Get(webhook.HeaderEventType), session: b.Data.ID, body: body}
	if ev.id == "" || ev.id != b.ID || ev.typ != b.Type {
		return ev, fmt.Errorf("headers %s %s, body %s %s", webhook.HeaderEventID, webhook.HeaderEventType, b.ID, b.Type)
	}
	return ev, nil
}

// wait returns the events of the sessions once each has one, polling
// until timeout; a refused delivery ends it at once.
func (r *webhookReceiver) wait(ctx context.Context, sessions map[string]ekyc.Status, timeout time.Duration) ([]receivedEvent, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := r.of(sessions)
		switch {
		case err != nil:
			return nil, err
		case len(got) == len(sessions):
			return got, nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%d of %d webhooks within %s", len(got), len(sessions), timeout)
		}
		if err := sleepCtx(ctx, webhookPoll); err != nil {
			return nil, err
		}
	}
}

// of is the first event received for each of the sessions.
func (r *webhookReceiver) of(sessions map[string]ekyc.Status) ([]receivedEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var got []receivedEvent
	have := map[string]bool{}
	for _, ev := range r.events {
		if _, ok := sessions[ev.session]; ok && !have[ev.session] {
			have[ev.session] = true
			got = append(got, ev)
		}
	}
	return got, r.rejected
}

// others counts the verified events about other sessions.
func (r *webhookReceiver) others(sessions map[string]ekyc.Status) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if _, ok := sessions[ev.session]; !ok {
			n++
		}
	}
	return n
}
