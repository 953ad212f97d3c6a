package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
	"github.com/haechi/haechi/internal/storetest"
)

// Fault tests of the login ladder against real `haechi serve` processes:
// two nodes on one PostgreSQL database under a parallel attack, and a node
// killed with SIGKILL while an attempt is being verified. The ladder runs
// on the children's wall clock, so these tests pace themselves in real
// time; an operator's clear (which keeps the count) stands in for waiting
// out the 5 s and 30 s delays.

// pinLadder is the ladder `serve` wires (app.buildLogin): DESIGN §3's table.
var pinLadder = lockout.DefaultLadders()[lockout.PIN]

// binDir holds the binary built for this run; TestMain removes it.
var binDir struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir.path != "" {
		os.RemoveAll(filepath.Dir(binDir.path))
	}
	os.Exit(code)
}

// haechiBinary builds cmd/haechi once per test run. A plain build: the
// race detector would slow the children's Argon2id, and their timing is
// what these tests are about.
func haechiBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs real processes on the wall clock")
	}
	binDir.once.Do(func() {
		dir, err := os.MkdirTemp("", "haechi-bin-")
		if err != nil {
			binDir.err = err
			return
		}
		binDir.path = filepath.Join(dir, "haechi")
		cmd := exec.Command(goTool(), "build", "-o", binDir.path, ".")
		binDir.out, binDir.err = cmd.CombinedOutput()
	})
	if binDir.err != nil {
		t.Fatalf("go build: %v\n%s", binDir.err, binDir.out)
	}
	return binDir.path
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "/usr/local/go/bin/go"
}

// childEnv is the environment of a child: none of the parent's HAECHI_
// settings, the cheapest hash the config accepts, rate limits high enough
// that only the ladder refuses the attack, and extra (a later entry wins).
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HAECHI_") {
			env = append(env, kv)
		}
	}
	env = append(env, "HAECHI_ARGON2_MEMORY_KIB=19456", "HAECHI_LOG_LEVEL=warn",
		"HAECHI_RATE_IP_PER_SEC=100000", "HAECHI_RATE_IP_BURST=100000",
		"HAECHI_RATE_CLIENT_PER_SEC=100000", "HAECHI_RATE_CLIENT_BURST=100000")
	return append(env, extra...)
}

// sharedKeyEnv is key material for several nodes, given by the environment
// as a deployment of more than one node gives it.
func sharedKeyEnv() []string {
	key := func() string {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	return []string{"HAECHI_MASTER_KEYS=1:" + key(), "HAECHI_BLIND_INDEX_KEY=" + key(),
		"HAECHI_PEPPER=" + key(), "HAECHI_AUDIT_SIGNING_KEY=" + key()}
}

// child is a running `haechi serve`.
type child struct {
	name   string
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// startChild runs bin with args and waits for its "listening on" line.
// The child is SIGKILLed when the test ends, if still running.
func startChild(t *testing.T, name, bin string, env []string, args ...string) *child {
	t.Helper()
	c := &child{name: name, cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd.Env = env
	c.cmd.Stderr = c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, c.stderr.String())
		}
	})
	banner := make(chan string, 1)
	go c.read(out, banner)
	select {
	case c.base = <-banner:
	case <-c.exited:
		t.Fatalf("%s exited before listening: %v\n%s", name, c.err, c.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed no listening line within 60 s", name)
	}
	return c
}

// read passes the listening address on, drains stdout (which holds the
// demo's secrets, never logged) and reaps the process.
func (c *child) read(out io.Reader, banner chan<- string) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "listening on "); i >= 0 {
			banner <- strings.Fields(line[i+len("listening on "):])[0]
			break
		}
	}
	io.Copy(io.Discard, out)
	c.err = c.cmd.Wait()
	close(c.exited)
}

// kill sends SIGKILL: no deferred function, no drain, no final write.
func (c *child) kill() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// auditEvents runs `haechi audit export` against the children's database.
func auditEvents(t *testing.T, bin string, env []string, dataDir string) []audit.Event {
	t.Helper()
	cmd := exec.Command(bin, "audit", "export", "--data-dir", dataDir)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, stderr.String())
	}
	var evs []audit.Event
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var ev audit.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("audit export line %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// loginAttempt is one login as the client saw it. The request id it sent
// ties it to the audit entry its verification wrote, if any.
type loginAttempt struct {
	id         string
	node       string
	code       string // the problem code; "ok" for tokens, "" for no answer
	retryAfter time.Duration
}

// ledger records every attempt of a test, from any goroutine.
type ledger struct {
	mu       sync.Mutex
	attempts []loginAttempt
	n        int
}

func (l *ledger) nextID(phase string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return fmt.Sprintf("%s-%04d", phase, l.n)
}

func (l *ledger) add(a loginAttempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, a)
}

func (l *ledger) all() []loginAttempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.attempts)
}

// outcomeOf reads a login's result.
func outcomeOf(err error) (string, time.Duration) {
	if err == nil {
		return "ok", 0
	}
	if p, ok := deviceapp.AsProblem(err); ok {
		return p.Code, p.RetryAfter
	}
	return "", 0
}

type requestIDKey struct{}

// requestIDTransport sends the id in the context as X-Request-Id on
// logins, so the test can match each answer to the audit log.
type requestIDTransport struct{ base http.RoundTripper }

func (rt requestIDTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok && r.URL.Path == "/v1/logins" {
		r = r.Clone(r.Context())
		r.Header.Set("X-Request-Id", id)
	}
	return rt.base.RoundTrip(r)
}

func testHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: requestIDTransport{tr}, Timeout: 30 * time.Second}
}

// try logs in once with secret and records the outcome.
func (l *ledger) try(ctx context.Context, app *deviceapp.App, node, phase, secret string) loginAttempt {
	id := l.nextID(phase)
	_, err := app.Login(context.WithValue(ctx, requestIDKey{}, id), deviceapp.MethodPIN, secret)
	a := loginAttempt{id: id, node: node}
	a.code, a.retryAfter = outcomeOf(err)
	l.add(a)
	return a
}

// phoneWithPIN registers a new phone for the demo's first customer on server and
// sets a random PIN.
func phoneWithPIN(ctx context.Context, t *testing.T, server, dataDir string) (*deviceapp.App, demoCustomer, string, *demoTarget) {
	t.Helper()
	target, err := loadDemoTarget(dataDir, server)
	if err != nil {
		t.Fatal(err)
	}
	cust := target.Customers[0]
	app, err := deviceapp.NewApp(server, target.InstitutionID, deviceapp.DemoReport(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	app.HTTP = testHTTPClient()
	if _, err := app.Register(ctx, identityOf(cust)); err != nil {
		t.Fatalf("register: %v", err)
	}
	pin := randomPIN(cust.BirthDate, "")
	if err := app.SetCredential(ctx, deviceapp.MethodPIN, pin); err != nil {
		t.Fatalf("set PIN: %v", err)
	}
	return app, cust, pin, target
}

func agentOf(ctx context.Context, t *testing.T, target *demoTarget) *deviceapp.OperatorClient {
	t.Helper()
	o, err := target.operator(ctx, "demo-agent")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// pinState is the operator view of the customer's PIN ladder.
func pinState(ctx context.Context, t *testing.T, o *deviceapp.OperatorClient, customerID string) deviceapp.MethodState {
	t.Helper()
	st, err := o.LoginState(ctx, customerID)
	if err != nil {
		t.Fatalf("login state: %v", err)
	}
	return st.Method(deviceapp.MethodPIN)
}

// clearDelay has the agent end a delay in force, so the test need not wait
// it out; the count stays.
func clearDelay(ctx context.Context, t *testing.T, o *deviceapp.OperatorClient, customerID string) {
	t.Helper()
	err := o.ClearLogin(ctx, customerID, deviceapp.MethodPIN, "customer_locked_out_by_mistake")
	if err != nil && deviceapp.CodeOf(err) != lockout.ErrNothingToClear.Code {
		t.Fatalf("clear the delay: %v", err)
	}
}

// ladderAnswers are the codes by which the ladder itself answers.
var ladderAnswers = map[string]lockout.Transition{
	lockout.ErrDelayed.Code:    lockout.Delayed,
	lockout.ErrLocked.Code:     lockout.Locked,
	lockout.ErrProtection.Code: lockout.Protected,
}

// tally is what the audit log says the ladder verified and counted.
type tally struct {
	checked   int            // verifications that failed (login.failure)
	abandoned int            // reservations counted when they lapsed
	escalated int            // count added beyond one per failure (bot pace)
	final     int            // the count after the last failure
	byID      map[string]int // login.failure entries per request id
	byNode    map[string]int // checked attempts per node
}

// reconcile matches every attempt with the audit log of customerID and
// checks the ladder's arithmetic: an answer of login_failed was verified
// and counted once, an in-progress refusal was not verified, a ladder
// refusal was verified only if its own failure imposed that stage, no
// verification happened that no attempt of the test asked for, and each
// failure raised the count by one unless it was bot-paced.
func reconcile(t *testing.T, attempts []loginAttempt, evs []audit.Event, customerID string) tally {
	t.Helper()
	sent := map[string]loginAttempt{}
	for _, a := range attempts {
		sent[a.id] = a
	}
	tl := tally{byID: map[string]int{}, byNode: map[string]int{}}
	transitions := map[string]string{}
	for _, ev := range evs {
		if ev.Target != customerID {
			continue
		}
		switch ev.Action {
		case lockout.ActionSuccess:
			t.Errorf("audit event %d: a login succeeded (request %q)", ev.Seq, ev.RequestID)
		case lockout.ActionFailure:
			a, ok := sent[ev.RequestID]
			if !ok {
				t.Errorf("audit event %d: a failure for request %q, which the test never sent", ev.Seq, ev.RequestID)
			}
			tl.checked++
			tl.byID[ev.RequestID]++
			tl.byNode[a.node]++
			transitions[ev.RequestID] = ev.Details["transitions"]
			tl.count(t, ev)
		case lockout.ActionAbandoned:
			tl.abandoned++
			tl.count(t, ev)
		}
	}
	for _, a := range attempts {
		n := tl.byID[a.id]
		stage, isLadder := ladderAnswers[a.code]
		switch {
		case n > 1:
			t.Errorf("attempt %s (%s) counted %d times", a.id, a.code, n)
		case a.code == login.ErrFailed.Code && n != 1:
			t.Errorf("attempt %s answered %s but no failure was recorded", a.id, a.code)
		case a.code == lockout.ErrInProgress.Code && n != 0:
			t.Errorf("attempt %s answered %s yet was verified", a.id, a.code)
		case isLadder && n == 1 && !strings.Contains(transitions[a.id], string(stage)):
			t.Errorf("attempt %s answered %s, but its failure imposed %q", a.id, a.code, transitions[a.id])
		case a.code != "" && a.code != login.ErrFailed.Code && a.code != lockout.ErrInProgress.Code && !isLadder:
			t.Errorf("attempt %s answered %q, which is neither a failure nor the ladder", a.id, a.code)
		}
	}
	return tl
}

// count follows the count of consecutive failures through one entry.
func (tl *tally) count(t *testing.T, ev audit.Event) {
	t.Helper()
	n, err := strconv.Atoi(ev.Details["failures"])
	if err != nil {
		t.Errorf("audit event %d has no failure count: %v", ev.Seq, ev.Details)
		return
	}
	switch {
	case ev.Details["bot_suspected"] == "true" && n > tl.final+1:
		tl.escalated += n - tl.final - 1
	case n != tl.final+1:
		t.Errorf("audit event %d (%s): count %d after %d", ev.Seq, ev.Action, n, tl.final)
	}
	tl.final = n
}

// TestLoginAttackAcrossTwoProcesses attacks one customer's PIN from 40
// goroutines split across two `haechi serve` processes on one PostgreSQL
// database, round after round (an agent clearing each delay), until the
// temporary lock: however the attempts interleave over the two nodes, no
// more PINs are verified than the ladder allows before the lock.
func TestLoginAttackAcrossTwoProcesses(t *testing.T) {
	dbURL := storetest.PostgresSchemaURL(t) // a schema of its own, dropped at the end
	bin := haechiBinary(t)
	env := childEnv(append(sharedKeyEnv(), "HAECHI_DATABASE_URL="+dbURL)...)
	dirA, dirB := t.TempDir(), t.TempDir()
	// A seeds the demo institution, operators and customers; B serves the
	// same database with the simulators on and seeds nothing.
	a := startChild(t, "node A", bin, env, "serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", dirA)
	b := startChild(t, "node B", bin, append(env, "HAECHI_SIMULATORS=true"), "serve", "--addr", "127.0.0.1:0", "--data-dir", dirB)
	for _, f := range []string{filepath.Join(dirA, "keys.json"), filepath.Join(dirB, "keys.json"), filepath.Join(dirB, "demo.json")} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s exists: keys come from the environment and only node A seeds", f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	appA, cust, pin, target := phoneWithPIN(ctx, t, a.base, dirA)
	appB := *appA
	appB.Server = b.base
	agent := agentOf(ctx, t, target)
	agent.Server = b.base // the session made on A is valid on B: one database

	l := &ledger{}
	nodes := []struct {
		name string
		app  *deviceapp.App
	}{{"A", appA}, {"B", &appB}}
	var st deviceapp.MethodState
	for round := 1; ; round++ {
		if round > pinLadder.LockAt {
			t.Fatalf("no lock after %d rounds: %+v", round-1, st)
		}
		before := len(l.all())
		var wg sync.WaitGroup
		for g := range 40 {
			n := nodes[g%2]
			wg.Go(func() { attackUntilRefused(ctx, l, n.app, n.name, fmt.Sprintf("r%d", round), pin) })
		}
		wg.Wait()
		if round == 1 {
			first := l.all()[before:]
			t.Logf("round 1: %d attempts, answers %v", len(first), answerCounts(first))
		}
		if st = pinState(ctx, t, agent, cust.ID); st.LockedUntil.After(time.Now()) || st.Protected {
			break
		}
		if !st.DelayedUntil.After(time.Now()) {
			t.Fatalf("round %d ended without a delay or lock in force: %+v", round, st)
		}
		clearDelay(ctx, t, agent, cust.ID)
	}

	t.Run("the right PIN is refused on both nodes while locked", func(t *testing.T) {
		for _, n := range nodes {
			if got := l.try(ctx, n.app, n.name, "right", pin); got.code != lockout.ErrLocked.Code {
				t.Errorf("node %s: the right PIN answered %q, want %s", n.name, got.code, lockout.ErrLocked.Code)
			}
		}
	})
	st = pinState(ctx, t, agent, cust.ID)
	attempts := l.all()
	tl := reconcile(t, attempts, auditEvents(t, bin, env, dirA), cust.ID)
	t.Logf("%d attempts over two nodes, answers %v; verified %d (node A %d, node B %d), count %d (%d added for bot pace), operator view %d failures, locked %v",
		len(attempts), answerCounts(attempts), tl.checked, tl.byNode["A"], tl.byNode["B"], tl.final, tl.escalated, st.Failures, st.LockedUntil.After(time.Now()))
	firstRound := 0
	for id, n := range tl.byID {
		if strings.HasPrefix(id, "r1-") {
			firstRound += n
		}
	}
	if firstRound > pinLadder.Delays[0].At {
		t.Errorf("round 1 verified %d PINs; the ladder delays after %d", firstRound, pinLadder.Delays[0].At)
	}
	switch {
	case st.Protected || !st.LockedUntil.After(time.Now()):
		t.Errorf("operator view %+v: want locked, not protected", st)
	case st.Failures != pinLadder.LockAt || tl.final != pinLadder.LockAt:
		t.Errorf("operator view %d failures, audit %d; want exactly %d, the lock's threshold", st.Failures, tl.final, pinLadder.LockAt)
	case tl.checked > pinLadder.LockAt || tl.abandoned != 0:
		t.Errorf("%d PINs verified and %d reservations abandoned before the lock; the ladder allows %d", tl.checked, tl.abandoned, pinLadder.LockAt)
	case tl.checked+tl.escalated != st.Failures:
		t.Errorf("%d verified + %d escalated != %d counted", tl.checked, tl.escalated, st.Failures)
	}
	for _, n := range []string{"A", "B"} {
		if countAnswers(attempts, n, lockout.ErrInProgress.Code)+countAnswers(attempts, n, lockout.ErrDelayed.Code) == 0 {
			t.Errorf("node %s never refused an attempt: the two nodes did not share the ladder", n)
		}
	}
}

// attackUntilRefused sends wrong PINs until the ladder answers with a
// delay, lock or protection; attempts refused as in progress are retried
// at once, as a script would.
func attackUntilRefused(ctx context.Context, l *ledger, app *deviceapp.App, node, phase, right string) {
	for range 500 {
		a := l.try(ctx, app, node, phase, randomPIN("", right))
		switch a.code {
		case login.ErrFailed.Code:
		case lockout.ErrInProgress.Code:
			time.Sleep(5 * time.Millisecond)
		default:
			return
		}
	}
}

func answerCounts(as []loginAttempt) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[cmp.Or(a.code, "no answer")]++
	}
	return m
}

func countAnswers(as []loginAttempt, node, code string) int {
	n := 0
	for _, a := range as {
		if a.node == node && a.code == code {
			n++
		}
	}
	return n
}

// humanPace spaces attempts like a person retyping a PIN: each gap over
// the bot rule's second and uneven, so the ladder counts one per failure.
type humanPace struct {
	last time.Time
	i    int
}

var paceGaps = []time.Duration{1300 * time.Millisecond, 1900 * time.Millisecond, 1500 * time.Millisecond, 2300 * time.Millisecond}

func (p *humanPace) wait() {
	time.Sleep(time.Until(p.last.Add(paceGaps[p.i%len(paceGaps)])))
	p.i++
}

func (p *humanPace) mark() { p.last = time.Now() }

// TestLoginFailuresSurviveSIGKILL kills a node with SIGKILL while a wrong
// PIN is being verified, restarts it on the same data dir and checks that
// the attempt in flight counted exactly once (its failure was written, or
// its reservation lapsed and counted), that no answered failure was lost,
// and that the lock still comes at the ladder's fifth failure.
func TestLoginFailuresSurviveSIGKILL(t *testing.T) {
	bin := haechiBinary(t)
	dir := t.TempDir()
	// A costlier hash keeps the attempt in verification for a few hundred
	// milliseconds, long enough to kill the process in the middle of it.
	env := childEnv("HAECHI_ARGON2_MEMORY_KIB=65536", "HAECHI_ARGON2_TIME=10")
	srv := startChild(t, "first process", bin, env, "serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	app, cust, pin, target := phoneWithPIN(ctx, t, srv.base, dir)
	agent := agentOf(ctx, t, target)
	l, pace := &ledger{}, &humanPace{}

	for i := 1; i <= 2; i++ {
		pace.wait()
		if a := l.try(ctx, app, "first", "before", randomPIN("", pin)); a.code != login.ErrFailed.Code {
			t.Fatalf("wrong PIN %d answered %q, want %s", i, a.code, login.ErrFailed.Code)
		}
		pace.mark()
	}
	if st := pinState(ctx, t, agent, cust.ID); st.Failures != 2 {
		t.Fatalf("before the kill: %d failures, want 2", st.Failures)
	}
	pace.wait()
	inFlight := killMidAttempt(ctx, t, srv, app, l, pin)
	pace.mark()

	srv = startChild(t, "restarted process", bin, append(env, "HAECHI_SIMULATORS=true"), "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	app.Server, agent.Server = srv.base, srv.base
	pace.wait()
	lapsed, settler := settleInFlight(ctx, t, app, agent, l, cust.ID, pin)
	pace.mark()
	if st := pinState(ctx, t, agent, cust.ID); st.Failures != 3 {
		t.Fatalf("after the restart: %d failures, want 3 (2 answered + the one in flight)", st.Failures)
	}

	// The rest of the ladder, at a human pace, an agent clearing each delay.
	for i := 0; ; i++ {
		st := pinState(ctx, t, agent, cust.ID)
		if st.LockedUntil.After(time.Now()) || st.Protected {
			break
		}
		if i == pinLadder.LockAt {
			t.Fatalf("no lock after %d more wrong PINs: %+v", i, st)
		}
		if st.DelayedUntil.After(time.Now()) {
			clearDelay(ctx, t, agent, cust.ID)
		}
		pace.wait()
		a := l.try(ctx, app, "restarted", "after", randomPIN("", pin))
		pace.mark()
		if a.code == lockout.ErrLocked.Code && st.Failures+1 != pinLadder.LockAt {
			t.Fatalf("locked at failure %d, want %d", st.Failures+1, pinLadder.LockAt)
		}
	}
	if a := l.try(ctx, app, "restarted", "right", pin); a.code != lockout.ErrLocked.Code {
		t.Errorf("the right PIN while locked answered %q, want %s", a.code, lockout.ErrLocked.Code)
	}

	st := pinState(ctx, t, agent, cust.ID)
	attempts := l.all()
	tl := reconcile(t, attempts, auditEvents(t, bin, env, dir), cust.ID)
	t.Logf("in flight at the kill: %s; %d attempts, answers %v; verified %d, reservations counted on lapse %d, count %d, operator view %d failures",
		map[bool]string{true: "its reservation lapsed and counted", false: "its failure was written before the kill"}[lapsed],
		len(attempts), answerCounts(attempts), tl.checked, tl.abandoned, tl.final, st.Failures)
	if counted := tl.byID[inFlight] + tl.abandoned; counted != 1 || (tl.abandoned == 1) != lapsed {
		t.Errorf("the attempt in flight counted %d times (%d by its failure, %d on lapse), want once", counted, tl.byID[inFlight], tl.abandoned)
	}
	if lapsed && tl.byID[settler] != 0 {
		t.Errorf("attempt %s, the first after the lapse, was verified: the lapsed reservation imposed no delay", settler)
	}
	switch {
	case !st.LockedUntil.After(time.Now()) || st.Protected:
		t.Errorf("operator view %+v: want locked, not protected", st)
	case tl.escalated != 0:
		t.Errorf("%d added for bot pace at a human pace", tl.escalated)
	case st.Failures != pinLadder.LockAt || tl.checked+tl.abandoned != pinLadder.LockAt:
		t.Errorf("locked at %d failures (%d verified + %d lapsed); without a kill the ladder locks at exactly %d",
			st.Failures, tl.checked, tl.abandoned, pinLadder.LockAt)
	}
}

// killMidAttempt sends several wrong PINs at once, prepared beforehand so
// that they arrive together: one is reserved and verified, the others are
// refused as in progress. When every other one has answered so, the one
// left is in verification and the process gets SIGKILL. It returns that
// attempt's request id.
func killMidAttempt(ctx context.Context, t *testing.T, srv *child, app *deviceapp.App, l *ledger, right string) string {
	t.Helper()
	const parallel = 6
	reqs := make([]*http.Request, parallel)
	for i := range reqs {
		var err error
		if reqs[i], err = prepareLogin(ctx, app, l.nextID("kill"), randomPIN("", right)); err != nil {
			t.Fatal(err)
		}
	}
	answers := make(chan loginAttempt, parallel)
	for _, req := range reqs {
		go func() { answers <- sendLogin(app.HTTP, req, "first") }()
	}
	var got []loginAttempt
	for len(got) < parallel-1 {
		select {
		case a := <-answers:
			got = append(got, a)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d attempts answered", len(got), parallel)
		}
	}
	srv.kill()
	got = append(got, <-answers)
	for _, a := range got {
		l.add(a)
	}
	last := got[parallel-1]
	for _, a := range got[:parallel-1] {
		if a.code != lockout.ErrInProgress.Code {
			t.Fatalf("attempts at once answered %v: want all but one refused as in progress", answerCounts(got))
		}
	}
	if last.code != "" {
		t.Fatalf("the attempt in verification answered %q before the kill", last.code)
	}
	return last.id
}

// settleInFlight finds the attempt that was in verification at the kill
// after the restart. If its failure was not written, its reservation
// survived: further attempts are refused as in progress until it lapses,
// and the first one after that counts it as the third failure, which
// imposes the 5 s delay. It reports whether the reservation lapsed and
// the id of the attempt that counted it, which must not be verified.
func settleInFlight(ctx context.Context, t *testing.T, app *deviceapp.App, agent *deviceapp.OperatorClient, l *ledger, customerID, right string) (bool, string) {
	t.Helper()
	switch st := pinState(ctx, t, agent, customerID); st.Failures {
	case 3:
		return false, ""
	case 2:
	default:
		t.Fatalf("after the restart: %d failures, want 2 or 3", st.Failures)
	}
	probe := l.try(ctx, app, "restarted", "probe", randomPIN("", right))
	if probe.code != lockout.ErrInProgress.Code || probe.retryAfter <= 0 || probe.retryAfter > lockout.DefaultReservationTTL {
		t.Fatalf("after the restart an attempt answered %q (Retry-After %s), want %s within %s",
			probe.code, probe.retryAfter, lockout.ErrInProgress.Code, lockout.DefaultReservationTTL)
	}
	// The reservation's lapse is the ladder's own clock in another
	// process; Retry-After says when.
	time.Sleep(probe.retryAfter + 300*time.Millisecond)
	a := l.try(ctx, app, "restarted", "lapse", randomPIN("", right))
	if a.code != lockout.ErrDelayed.Code {
		t.Fatalf("the first attempt after the lapse answered %q, want %s (the lapsed attempt is the 3rd failure)", a.code, lockout.ErrDelayed.Code)
	}
	clearDelay(ctx, t, agent, customerID)
	return true, a.id
}

// prepareLogin builds a device-signed login with its DPoP proof, ready to
// send: the nonce is fetched now, so sending takes one round trip.
func prepareLogin(ctx context.Context, app *deviceapp.App, id, secret string) (*http.Request, error) {
	const path = "/v1/logins"
	body, err := json.Marshal(map[string]string{"method": deviceapp.MethodPIN, "secret": secret})
	if err != nil {
		return nil, err
	}
	nonce, err := app.Nonce(ctx)
	if err != nil {
		return nil, err
	}
	unix := time.Now().Unix()
	sig, err := app.SignRequest(http.MethodPost, path, body, nonce, unix)
	if err != nil {
		return nil, err
	}
	proof, err := app.DPoPProof(http.MethodPost, app.Server+path, "")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.Server+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json", "X-Request-Id": id,
		deviceapp.HeaderDPoP: proof, deviceapp.HeaderDeviceID: app.DeviceID, deviceapp.HeaderNonce: nonce,
		deviceapp.HeaderTimestamp: strconv.FormatInt(unix, 10), deviceapp.HeaderSignature: base64.RawURLEncoding.EncodeToString(sig)} {
		req.Header.Set(k, v)
	}
	return req, nil
}

func sendLogin(c *http.Client, req *http.Request, node string) loginAttempt {
	a := loginAttempt{id: req.Header.Get("X-Request-Id"), node: node}
	res, err := c.Do(req)
	if err != nil {
		return a
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	switch {
	case err != nil:
	case res.StatusCode == http.StatusOK:
		a.code = "ok"
	default:
		p := deviceapp.DecodeProblem(res.StatusCode, res.Header, body)
		a.code, a.retryAfter = p.Code, p.RetryAfter
	}
	return a
}
