package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/postgres"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

const inst = "cl_bank"

// appDigest is the genuine app's signing digest in the test policy.
var appDigest = strings.Repeat("ab", 32)

// The carrier simulator's subscribers; all but jung are customers.
var (
	kim  = carrier.Identity{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678"}
	lee  = carrier.Identity{Name: "이영희", BirthDate: "1985-05-05", Phone: "01098765432"}
	park = carrier.Identity{Name: "박철수", BirthDate: "1980-03-15", Phone: "01055556666"}
	choi = carrier.Identity{Name: "최지은", BirthDate: "1992-07-20", Phone: "01077778888"}
	jung = carrier.Identity{Name: "정하늘", BirthDate: "2001-11-30", Phone: "01033334444"}
)

// clock is the injected time every collaborator shares.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is what several services (nodes, restarts) share: the clock, the
// simulators and the key material.
type world struct {
	clk     *clock
	carrier *carrier.Simulator
	attest  *attest.Simulator
	km      *crypto.KeyMaterial
}

func newWorld() *world {
	w := &world{clk: &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		carrier: carrier.NewSimulator(carrier.DefaultSubscribers()...), attest: attest.NewSimulator(), km: testKeys()}
	w.attest.Now = w.clk.Now
	return w
}

func testKeys() *crypto.KeyMaterial {
	k := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	return &crypto.KeyMaterial{MasterKeys: map[int][]byte{1: k(1)}, ActiveMaster: 1, BlindKey: k(2), Pepper: k(3), AuditSeed: k(4)}
}

// fixture is one node: a database handle and a service over it.
type fixture struct {
	*world
	t   testing.TB
	db  *sqlstore.DB
	svc *device.Service
}

// newFixture is a fresh SQLite database with the customers and operators.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return seed(attach(t, newWorld(), storetest.MustOpenSQLite(t, storetest.Options())))
}

// fileFixture opens (migrating if needed) the SQLite file at path; several
// fixtures on one path are several processes sharing the database.
func fileFixture(t testing.TB, w *world, path string) *fixture {
	t.Helper()
	db, err := sqlite.Open(path, storetest.Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return attach(t, w, db)
}

// pgFixture opens the PostgreSQL schema at url (see
// storetest.PostgresSchemaURL); several on one url are several processes.
func pgFixture(t testing.TB, w *world, url string) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, url, storetest.Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return attach(t, w, db)
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "haechi.db") }

func attach(t testing.TB, w *world, db *sqlstore.DB) *fixture {
	t.Helper()
	ring, err := crypto.LoadKeyring(context.Background(), w.km, db, w.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	policy := device.DefaultPolicy()
	policy.AllowedDigests, policy.MinAppVersion = []string{appDigest}, "2.0.0"
	svc := &device.Service{
		Store: db, Customers: &customer.Service{Store: db, Ring: ring, Now: w.clk.Now},
		Carrier: w.carrier, Attest: w.attest, Codes: &onetime.Service{Store: db, Pepper: w.km.Pepper, Now: w.clk.Now},
		Ring: ring, Policy: policy, Risk: device.SimpleScorer{Log: db}, Now: w.clk.Now,
		StepUp: device.SimulatorStepUp{Carrier: w.carrier, IDCheck: mustIDCheck(t)},
	}
	return &fixture{world: w, t: t, db: db, svc: svc}
}

func mustIDCheck(t testing.TB) *idcheck.Simulator {
	sim, err := idcheck.NewSimulator(idcheck.DefaultRecords()...)
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// seed creates the institution, its customers and the operators.
func seed(f *fixture) *fixture {
	f.t.Helper()
	ctx := context.Background()
	cl := &institution.Client{ID: inst, Name: "Test Bank", Scopes: []string{"device"}, SecretHash: []byte("h"), CreatedAt: f.clk.Now()}
	must(f.t, f.db.CreateClient(ctx, cl, audit.Entry{Actor: "test", Action: "client.create", Target: inst, Result: audit.ResultSuccess}))
	for _, id := range []carrier.Identity{kim, lee, park, choi} {
		_, err := f.svc.Customers.Create(ctx, "test", inst, customer.New{Name: id.Name, BirthDate: id.BirthDate, Phone: id.Phone})
		must(f.t, err)
	}
	for _, op := range operators() {
		must(f.t, f.db.CreateOperator(ctx, op, audit.Entry{Actor: "test", Action: "operator.create", Target: op.ID, Result: audit.ResultSuccess}))
	}
	return f
}

// operators: an agent, a supervisor, one who is both, a teller.
func operators() []*operator.Operator {
	mk := func(id string, roles ...operator.Role) *operator.Operator {
		return &operator.Operator{ID: id, Username: id, Roles: roles, PasswordHash: "x", TOTPSealed: []byte("x"), CreatedAt: time.Unix(0, 1)}
	}
	return []*operator.Operator{mk("op_agent", operator.RoleAgent), mk("op_super", operator.RoleSupervisor),
		mk("op_both", operator.RoleAgent, operator.RoleSupervisor), mk("op_teller", operator.RoleTeller)}
}

func (f *fixture) operator(id string) *operator.Operator {
	f.t.Helper()
	op, err := f.db.Operator(context.Background(), id)
	must(f.t, err)
	return op
}

func (f *fixture) customerID(id carrier.Identity) string {
	f.t.Helper()
	c, err := f.svc.Customers.FindByPhone(context.Background(), inst, id.Phone)
	must(f.t, err)
	return c.ID
}

// report is a healthy device's report.
func (f *fixture) report(deviceID string) device.Report {
	return device.Report{DeviceID: deviceID, Model: "SM-S918N", OS: "android", OSVersion: "15",
		SecurityPatch: f.clk.Now().AddDate(0, -2, 0).Format(time.DateOnly), AppVersion: "2.4.0",
		AppDigest: appDigest, NetworkType: "wifi"}
}

// token is a genuine integrity token bound to r.
func (f *fixture) token(r device.Report) string {
	f.t.Helper()
	tok, err := f.attest.Mint(attest.Claims{Nonce: device.IntegrityNonce(r), AppDigest: r.AppDigest, AppVersion: r.AppVersion, DeviceIntegrity: true})
	must(f.t, err)
	return tok
}

func (f *fixture) input(id carrier.Identity, deviceID string) device.StartInput {
	r := f.report(deviceID)
	return device.StartInput{Identity: id, Report: r, IntegrityToken: f.token(r)}
}

func (f *fixture) start(id carrier.Identity, deviceID string) (*device.Started, error) {
	return f.svc.Start(context.Background(), inst, f.input(id, deviceID))
}

func (f *fixture) mustStart(id carrier.Identity, deviceID string) *device.Started {
	f.t.Helper()
	st, err := f.start(id, deviceID)
	must(f.t, err)
	return st
}

// smsCode is the last code the carrier simulator "sent" to the phone.
func (f *fixture) smsCode(id carrier.Identity) string {
	f.t.Helper()
	code, ok := f.carrier.LastCode(id.Phone)
	if !ok {
		f.t.Fatalf("no code sent to %s", id.Name)
	}
	return code
}

// wrongCode differs from the code sent to id.
func (f *fixture) wrongCode(id carrier.Identity) string {
	c := []byte(f.smsCode(id))
	c[0] = '0' + (c[0]-'0'+1)%10
	return string(c)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	return k
}

// proof signs the registration's key-proof message with k.
func proof(t testing.TB, k *ecdsa.PrivateKey, regID string, challenge []byte) device.AppKeyProof {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	must(t, err)
	return device.AppKeyProof{PublicKey: der, Signature: sign(t, k, device.KeyProofMessage(regID, challenge))}
}

func sign(t testing.TB, k *ecdsa.PrivateKey, msg []byte) []byte {
	sum := sha256sum(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum)
	must(t, err)
	return sig
}

// register runs the whole flow and returns the device and its key.
func (f *fixture) register(id carrier.Identity, deviceID string) (*device.Device, *ecdsa.PrivateKey, error) {
	ctx := context.Background()
	st, err := f.start(id, deviceID)
	if err != nil {
		return nil, nil, err
	}
	if err := f.svc.VerifyCode(ctx, inst, st.RegistrationID, f.smsCode(id)); err != nil {
		return nil, nil, err
	}
	k := newKey(f.t)
	d, err := f.svc.BindKey(ctx, inst, st.RegistrationID, st.Challenge, proof(f.t, k, st.RegistrationID, st.Challenge))
	return d, k, err
}

func (f *fixture) counter(kind, key string) device.Counter {
	f.t.Helper()
	cs, err := f.db.Counters(context.Background(), device.Subject{Kind: kind, Key: key})
	must(f.t, err)
	return cs[0]
}

// customerFailures is the consecutive count of a customer.
func (f *fixture) customerFailures(id carrier.Identity) int {
	return f.counter(device.SubjectCustomer, f.customerID(id)).Failures
}

// fingerprintFailures is the consecutive count of a device id.
func (f *fixture) fingerprintFailures(deviceID string) int {
	return f.counter(device.SubjectFingerprint, f.svc.Fingerprint(f.report(deviceID))).Failures
}

func (f *fixture) auditSeq() int64 {
	f.t.Helper()
	h, err := f.db.AuditHead(context.Background())
	must(f.t, err)
	return h.Seq
}

// events returns the audit events after seq.
func (f *fixture) events(after int64) []audit.Event {
	f.t.Helper()
	evs, err := f.db.AuditEvents(context.Background(), after, 1000)
	must(f.t, err)
	return evs
}

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err is the *errs.Error with code.
func wantCode(t testing.TB, err error, code string) *errs.Error {
	t.Helper()
	e := errs.As(err)
	if e == nil || e.Code != code {
		t.Fatalf("error = %v, want code %q", err, code)
	}
	return e
}

func wantIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
