package storetest

import (
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/sqlstore"
)

func testDevices(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("counting", func(t *testing.T) { testDeviceCounting(t, open(t)) })
	t.Run("token reuse", func(t *testing.T) { testDeviceTokenReuse(t, open(t)) })
	t.Run("parallel failures", func(t *testing.T) { testDeviceParallel(t, open(t)) })
	t.Run("repeated restrictions", func(t *testing.T) { testDeviceRepeatedRestrictions(t, open(t)) })
	t.Run("many customers", func(t *testing.T) { testDeviceManyCustomers(t, open(t)) })
	t.Run("high risk", func(t *testing.T) { testDeviceHighRisk(t, open(t)) })
	t.Run("registration flow", func(t *testing.T) { testDeviceFlow(t, open(t)) })
	t.Run("lift", func(t *testing.T) { testDeviceLift(t, open(t)) })
	t.Run("releases", func(t *testing.T) { testDeviceReleases(t, open(t)) })
	t.Run("branch reset", func(t *testing.T) { testDeviceReset(t, open(t)) })
}

var deviceLimits = device.Limits{}.WithDefaults()

// attemptAt is an attempt on customer key c from fingerprint fp at base+d;
// failure "" is a success.
func attemptAt(c, fp, failure string, d time.Duration) *device.Attempt {
	return &device.Attempt{Now: base.Add(d), CustomerKey: c, CustomerID: c, Fingerprint: fp, Failure: failure,
		Limits: deviceLimits, Audit: entry("device.registration.verify_code", "reg_x")}
}

func record(t *testing.T, db *sqlstore.DB, a *device.Attempt) *device.Outcome {
	t.Helper()
	out, err := db.RecordAttempt(t.Context(), a)
	must(t, err)
	return out
}

func counter(t *testing.T, db *sqlstore.DB, kind, key string) device.Counter {
	t.Helper()
	cs, err := db.Counters(t.Context(), device.Subject{Kind: kind, Key: key})
	must(t, err)
	return cs[0]
}

// notes lists the kinds of the notifications queued for a customer.
func notes(t *testing.T, db *sqlstore.DB, customerID string) []string {
	t.Helper()
	rows, err := db.SQL().QueryContext(t.Context(), db.Rebind(`SELECT kind FROM notifications WHERE customer_id = ? ORDER BY created_at, kind`), customerID)
	must(t, err)
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		must(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	must(t, rows.Err())
	return kinds
}

func lastEvent(t *testing.T, db *sqlstore.DB) audit.Event {
	t.Helper()
	seq := headSeq(t, db)
	evs, err := db.AuditEvents(t.Context(), seq-1, 1)
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("no audit event at %d", seq)
	}
	return evs[0]
}

func testDeviceCounting(t *testing.T, db *sqlstore.DB) {
	until := base.Add(2*time.Minute + deviceLimits.Restriction)
	steps := []struct {
		name      string
		at        time.Duration
		refused   device.Refusal
		remaining int
		until     time.Time
		failures  int
		outcome   string
	}{
		{"ok/first failure counted", 0, device.NotRefused, 2, time.Time{}, 1, "counted"},
		{"ok/second failure counted", time.Minute, device.NotRefused, 1, time.Time{}, 2, "counted"},
		{"ok/third failure restricts for 24 h", 2 * time.Minute, device.NotRefused, 0, until, 3, "restricted"},
		{"error/restricted: refused, not counted", 3 * time.Minute, device.RefusedRestricted, 3, until, 3, "refused_restricted"},
		{"error/still restricted a moment before the end", 2*time.Minute + 24*time.Hour - time.Nanosecond, device.RefusedRestricted, 3, until, 3, "refused_restricted"},
		{"ok/after 24 h the count starts afresh", 2*time.Minute + 24*time.Hour, device.NotRefused, 2, time.Time{}, 1, "counted"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out := record(t, db, attemptAt("cus_1", "fp_1", "code_wrong", s.at))
			if out.Refused != s.refused || out.Remaining != s.remaining || !out.RestrictedUntil.Equal(s.until) {
				t.Fatalf("outcome %+v, want refused %q remaining %d until %v", out, s.refused, s.remaining, s.until)
			}
			for _, kind := range []string{device.SubjectCustomer, device.SubjectFingerprint} {
				key := map[string]string{device.SubjectCustomer: "cus_1", device.SubjectFingerprint: "fp_1"}[kind]
				if c := counter(t, db, kind, key); c.Failures != s.failures {
					t.Fatalf("%s failures = %d, want %d", kind, c.Failures, s.failures)
				}
			}
			if got := lastEvent(t, db).Details["outcome"]; got != s.outcome {
				t.Fatalf("audit outcome %q, want %q", got, s.outcome)
			}
		})
	}
	t.Run("ok/the restriction is notified once", func(t *testing.T) {
		sameJSON(t, "notifications", notes(t, db, "cus_1"), []string{notify.KindRegistrationRestricted})
	})
	t.Run("ok/a success does not reset the count, a completion does", func(t *testing.T) {
		record(t, db, attemptAt("cus_1", "fp_1", "", 25*time.Hour))
		if c := counter(t, db, device.SubjectCustomer, "cus_1"); c.Failures != 1 {
			t.Fatalf("failures after a success = %d, want 1", c.Failures)
		}
		a := attemptAt("cus_1", "fp_1", "", 25*time.Hour)
		a.ResetCounters = true
		if out := record(t, db, a); out.Remaining != 3 {
			t.Fatalf("remaining after completion = %d, want 3", out.Remaining)
		}
		if c := counter(t, db, device.SubjectFingerprint, "fp_1"); c.Failures != 0 {
			t.Fatalf("fingerprint failures after completion = %d, want 0", c.Failures)
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

func testDeviceTokenReuse(t *testing.T, db *sqlstore.DB) {
	first := attemptAt("cus_1", "fp_1", "", 0)
	first.TokenID = "tok_1"
	if out := record(t, db, first); out.Failure != "" {
		t.Fatalf("first use: failure %q", out.Failure)
	}
	t.Run("error/reuse is a counted failure", func(t *testing.T) {
		again := attemptAt("cus_2", "fp_2", "", time.Minute)
		again.TokenID = "tok_1"
		out := record(t, db, again)
		if out.Failure != device.ErrTokenReused.Code || out.Remaining != 2 {
			t.Fatalf("outcome %+v, want integrity_token_reused with 2 remaining", out)
		}
		if c := counter(t, db, device.SubjectCustomer, "cus_2"); c.Failures != 1 {
			t.Fatalf("failures = %d, want 1", c.Failures)
		}
	})
}

// testDeviceParallel: 50 failures at once count exactly Failures; the rest
// are refused as restricted and count nothing.
func testDeviceParallel(t *testing.T, db *sqlstore.DB) {
	const n = 50
	before := headSeq(t, db)
	var mu sync.Mutex
	refused := map[device.Refusal]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			out, err := db.RecordAttempt(t.Context(), attemptAt("cus_1", "fp_1", "code_wrong", 0))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			refused[out.Refused]++
			mu.Unlock()
		})
	}
	wg.Wait()
	want := map[device.Refusal]int{device.NotRefused: deviceLimits.Failures, device.RefusedRestricted: n - deviceLimits.Failures}
	sameJSON(t, "outcomes", refused, want)
	if c := counter(t, db, device.SubjectCustomer, "cus_1"); c.Failures != deviceLimits.Failures {
		t.Fatalf("failures = %d, want %d", c.Failures, deviceLimits.Failures)
	}
	if got := headSeq(t, db) - before; got != n {
		t.Fatalf("%d audit events for %d attempts", got, n)
	}
	verifyChain(t, db, headSeq(t, db))
}

// restrictAt drives a fresh restriction of (c, fp) starting at d.
func restrictAt(t *testing.T, db *sqlstore.DB, c, fp string, d time.Duration) *device.Outcome {
	t.Helper()
	var out *device.Outcome
	for i := range deviceLimits.Failures {
		out = record(t, db, attemptAt(c, fp, "code_wrong", d+time.Duration(i)*time.Second))
	}
	return out
}

func testDeviceRepeatedRestrictions(t *testing.T, db *sqlstore.DB) {
	day := 25 * time.Hour
	for i := range 2 {
		if out := restrictAt(t, db, "cus_1", "fp_1", time.Duration(i)*day); out.RestrictedUntil.IsZero() || out.Blocked {
			t.Fatalf("restriction %d: %+v", i+1, out)
		}
	}
	t.Run("error/third restriction in 30 days hard-blocks", func(t *testing.T) {
		out := restrictAt(t, db, "cus_1", "fp_1", 2*day)
		if !out.Blocked {
			t.Fatalf("outcome %+v, want blocked", out)
		}
		c := counter(t, db, device.SubjectCustomer, "cus_1")
		if !c.Blocked() || c.BlockReason != device.BlockRestrictions {
			t.Fatalf("customer counter %+v, want blocked for repeated restrictions", c)
		}
		sameJSON(t, "notifications", notes(t, db, "cus_1"), []string{notify.KindRegistrationRestricted,
			notify.KindRegistrationRestricted, notify.KindRegistrationBlocked})
	})
	t.Run("error/a block does not lapse", func(t *testing.T) {
		out := record(t, db, attemptAt("cus_1", "fp_1", "code_wrong", 90*day))
		if out.Refused != device.RefusedBlocked {
			t.Fatalf("outcome %+v, want refused blocked", out)
		}
	})
	t.Run("ok/restrictions older than 30 days do not count", func(t *testing.T) {
		restrictAt(t, db, "cus_2", "fp_2", 0)
		restrictAt(t, db, "cus_2", "fp_2", day)
		if out := restrictAt(t, db, "cus_2", "fp_2", 31*24*time.Hour); out.Blocked {
			t.Fatalf("outcome %+v, want a restriction only", out)
		}
	})
}

func testDeviceManyCustomers(t *testing.T, db *sqlstore.DB) {
	record(t, db, attemptAt("cus_1", "fp_1", "", 0))
	record(t, db, attemptAt("cus_2", "fp_1", "identity_mismatch", time.Minute))
	t.Run("error/third customer from one fingerprint hard-blocks the fingerprint", func(t *testing.T) {
		a := attemptAt("cus_3", "fp_1", "", 2*time.Minute)
		a.Registration = &device.Registration{ID: "reg_never"} // would fail the insert if applied
		out := record(t, db, a)
		if !out.Blocked {
			t.Fatalf("outcome %+v, want blocked", out)
		}
		if c := counter(t, db, device.SubjectFingerprint, "fp_1"); c.BlockReason != device.BlockManyCustomer {
			t.Fatalf("fingerprint counter %+v", c)
		}
		if c := counter(t, db, device.SubjectCustomer, "cus_3"); c.Blocked() {
			t.Fatal("the customer tried is blocked too; only the fingerprint should be")
		}
	})
	t.Run("ok/outside 24 h the customers no longer add up", func(t *testing.T) {
		record(t, db, attemptAt("cus_1", "fp_2", "", 0))
		record(t, db, attemptAt("cus_2", "fp_2", "", time.Minute))
		if out := record(t, db, attemptAt("cus_3", "fp_2", "", 25*time.Hour)); out.Blocked {
			t.Fatalf("outcome %+v, want not blocked", out)
		}
	})
	t.Run("ok/failed customers per fingerprint", func(t *testing.T) {
		got, err := db.FailedCustomers(t.Context(), "fp_1", base)
		must(t, err)
		sameJSON(t, "failed customers", got, []string{"cus_2"})
	})
}

func testDeviceHighRisk(t *testing.T, db *sqlstore.DB) {
	a := attemptAt("cus_1", "fp_1", "", 0)
	a.HighRisk = true
	if out := record(t, db, a); !out.Blocked || out.Failure != "" {
		t.Fatalf("outcome %+v, want blocked", out)
	}
	for _, s := range []device.Subject{{Kind: device.SubjectCustomer, Key: "cus_1"}, {Kind: device.SubjectFingerprint, Key: "fp_1"}} {
		if c := counter(t, db, s.Kind, s.Key); c.BlockReason != device.BlockHighRisk {
			t.Fatalf("%s counter %+v, want blocked for high risk", s.Kind, c)
		}
	}
	sameJSON(t, "notifications", notes(t, db, "cus_1"), []string{notify.KindRegistrationBlocked})
}

// flowFixture is a client, a customer and helpers to run registrations.
type flowFixture struct {
	db *sqlstore.DB
	t  *testing.T
}

func newFlowFixture(t *testing.T, db *sqlstore.DB) *flowFixture {
	must(t, db.CreateClient(t.Context(), newClient("cl_1", base), entry("client.create", "cl_1")))
	for _, c := range []string{"cus_1", "cus_2"} {
		must(t, db.CreateCustomer(t.Context(), newCustomerRecord(c, "cl_1", "010"+c), entry("customer.create", c)))
	}
	return &flowFixture{db: db, t: t}
}

func newRegistration(id, customerID, fp string) *device.Registration {
	return &device.Registration{ID: id, InstitutionID: "cl_1", CustomerID: customerID, CustomerKey: customerID,
		Fingerprint: fp, ChallengeHash: []byte("challenge-hash-" + id), CodeID: "otc_" + id, TokenID: "tok_" + id,
		Model: "SM-S918N", OS: "android", OSVersion: "15", AppVersion: "2.4.0", State: device.StateStarted,
		ExpiresAt: base.Add(5 * time.Minute), CreatedAt: base, UpdatedAt: base}
}

func newDevice(id string, reg *device.Registration, key string) *device.Device {
	sum := sha256.Sum256([]byte(key))
	return &device.Device{ID: id, InstitutionID: "cl_1", CustomerID: reg.CustomerID, RegistrationID: reg.ID,
		Fingerprint: reg.Fingerprint, KeyKind: device.KeyKindAppKey, PublicKey: []byte(key), KeyHash: sum[:],
		Model: reg.Model, OS: reg.OS, OSVersion: reg.OSVersion, AppVersion: reg.AppVersion, State: device.DeviceActive, CreatedAt: base}
}

// register runs a registration to code_verified and returns it.
func (f *flowFixture) register(id, customerID, fp string) *device.Registration {
	f.t.Helper()
	reg := newRegistration(id, customerID, fp)
	start := attemptAt(customerID, fp, "", 0)
	start.Registration, start.TokenID = reg, reg.TokenID
	record(f.t, f.db, start)
	verify := attemptAt(customerID, fp, "", time.Minute)
	verify.Transition = &device.Transition{RegistrationID: id, From: device.StateStarted, To: device.StateCodeVerified}
	record(f.t, f.db, verify)
	reg.State, reg.UpdatedAt = device.StateCodeVerified, base.Add(time.Minute)
	return reg
}

func (f *flowFixture) complete(reg *device.Registration, dev *device.Device) (*device.Outcome, error) {
	a := attemptAt(reg.CustomerID, reg.Fingerprint, "", 2*time.Minute)
	a.Device, a.RevokeOthers, a.ResetCounters = dev, true, true
	a.Transition = &device.Transition{RegistrationID: reg.ID, From: device.StateCodeVerified, To: device.StateCompleted}
	a.Notifications = []notify.Notification{notify.New(reg.CustomerID, notify.KindDeviceRegistered, nil, a.Now)}
	return f.db.RecordAttempt(f.t.Context(), a)
}

func testDeviceFlow(t *testing.T, db *sqlstore.DB) {
	f := newFlowFixture(t, db)
	reg1 := f.register("reg_1", "cus_1", "fp_1")
	t.Run("ok/registration round trip, scoped by institution", func(t *testing.T) {
		got, err := db.Registration(t.Context(), "cl_1", "reg_1")
		must(t, err)
		sameJSON(t, "registration", got, reg1)
		_, err = db.Registration(t.Context(), "cl_other", "reg_1")
		wantErr(t, err, errs.ErrNotFound)
	})
	dev1 := newDevice("dev_1", reg1, "key-1")
	if _, err := f.complete(reg1, dev1); err != nil {
		t.Fatal(err)
	}
	t.Run("ok/second device revokes the first", func(t *testing.T) {
		reg2 := f.register("reg_2", "cus_1", "fp_2")
		out, err := f.complete(reg2, newDevice("dev_2", reg2, "key-2"))
		must(t, err)
		sameJSON(t, "revoked", out.Revoked, []string{"dev_1"})
		got, err := db.Device(t.Context(), "cl_1", "dev_1")
		must(t, err)
		if got.State != device.DeviceRevoked || got.RevokedAt == nil || got.RevokeReason != "replaced" {
			t.Fatalf("old device %+v, want revoked", got)
		}
		all, err := db.CustomerDevices(t.Context(), "cl_1", "cus_1")
		must(t, err)
		if len(all) != 2 || all[0].State != device.DeviceActive && all[1].State != device.DeviceActive {
			t.Fatalf("devices %+v", all)
		}
		sameJSON(t, "notifications", notes(t, db, "cus_1"), []string{notify.KindDeviceRegistered,
			notify.KindDeviceRegistered, notify.KindDeviceRevoked})
	})
	t.Run("error/a key binds once; nothing written", func(t *testing.T) {
		reg3 := f.register("reg_3", "cus_2", "fp_3")
		seq := headSeq(t, db)
		_, err := f.complete(reg3, newDevice("dev_3", reg3, "key-1"))
		wantErr(t, err, device.ErrKeyInUse)
		wantUnchanged(t, db, seq, "reg_3", device.StateCodeVerified)
	})
	t.Run("error/completing twice is stale; nothing written", func(t *testing.T) {
		seq := headSeq(t, db)
		_, err := f.complete(reg1, newDevice("dev_4", reg1, "key-4"))
		wantErr(t, err, device.ErrStale)
		wantUnchanged(t, db, seq, "reg_1", device.StateCompleted)
	})
	t.Run("ok/a failure ends the registration", func(t *testing.T) {
		a := attemptAt("cus_2", "fp_3", "proof_invalid", 3*time.Minute)
		a.Transition = &device.Transition{RegistrationID: "reg_3", From: device.StateCodeVerified, To: device.StateFailed}
		record(t, db, a)
		got, err := db.Registration(t.Context(), "cl_1", "reg_3")
		must(t, err)
		if got.State != device.StateFailed {
			t.Fatalf("state %q, want failed", got.State)
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

// wantUnchanged checks that no audit event was added and the registration
// kept its state.
func wantUnchanged(t *testing.T, db *sqlstore.DB, seq int64, regID, state string) {
	t.Helper()
	if got := headSeq(t, db); got != seq {
		t.Fatalf("%d audit events written, want none", got-seq)
	}
	got, err := db.Registration(t.Context(), "cl_1", regID)
	must(t, err)
	if got.State != state {
		t.Fatalf("registration %s state %q, want %q", regID, got.State, state)
	}
}

func liftAt(d time.Duration, blocks bool) device.Lift {
	return device.Lift{Now: base.Add(d), Window: deviceLimits.HardBlockWindow, Blocks: blocks}
}

func testDeviceLift(t *testing.T, db *sqlstore.DB) {
	record(t, db, attemptAt("cus_1", "fp_shared", "code_wrong", 0))
	record(t, db, attemptAt("cus_2", "fp_shared", "code_wrong", 0))
	if out := restrictAt(t, db, "cus_1", "fp_own", time.Minute); out.Refused != device.RefusedRestricted {
		t.Fatalf("cus_1 not restricted: %+v", out)
	}
	t.Run("ok/step-up lifts the customer and its own phone only", func(t *testing.T) {
		must(t, db.LiftCustomer(t.Context(), "cus_1", liftAt(time.Hour, false), entry("device.restriction.lift", "cus_1"), nil))
		for _, s := range []struct {
			kind, key string
			failures  int
		}{{device.SubjectCustomer, "cus_1", 0}, {device.SubjectFingerprint, "fp_own", 0}, {device.SubjectFingerprint, "fp_shared", 2}} {
			c := counter(t, db, s.kind, s.key)
			if c.Failures != s.failures || c.Restricted(base.Add(time.Hour)) {
				t.Fatalf("%s %s: %+v, want %d failures, unrestricted", s.kind, s.key, c, s.failures)
			}
		}
	})
	t.Run("error/step-up does not lift a hard block; nothing written", func(t *testing.T) {
		a := attemptAt("cus_3", "fp_3", "", 0)
		a.HighRisk = true
		record(t, db, a)
		seq := headSeq(t, db)
		err := db.LiftCustomer(t.Context(), "cus_3", liftAt(time.Hour, false), entry("device.restriction.lift", "cus_3"), nil)
		wantErr(t, err, device.ErrBlocked)
		if headSeq(t, db) != seq || !counter(t, db, device.SubjectCustomer, "cus_3").Blocked() {
			t.Fatal("a refused lift wrote something")
		}
	})
}

func testDeviceReleases(t *testing.T, db *sqlstore.DB) {
	for _, o := range []*operator.Operator{newOperator("op_agent", "agent"), newOperator("op_super", "super")} {
		createOperator(t, db, o)
	}
	a := attemptAt("cus_1", "fp_1", "", 0)
	a.HighRisk = true
	record(t, db, a)
	rel := &device.Release{ID: "rel_1", CustomerID: "cus_1", ReasonSealed: []byte("sealed"), Checklist: map[string]bool{"name": true},
		RequestedBy: "op_agent", RequestedAt: base, ExpiresAt: base.Add(24 * time.Hour), State: device.ReleaseRequested}
	must(t, db.CreateRelease(t.Context(), rel, entry("device.release.request", "cus_1")))
	t.Run("ok/round trip", func(t *testing.T) {
		got, err := db.Release(t.Context(), "rel_1")
		must(t, err)
		sameJSON(t, "release", got, rel)
	})
	approve := func(id, by string, d time.Duration) (*device.Release, error) {
		return db.ApproveRelease(t.Context(), id, by, liftAt(d, true), entry("device.release.approve", "cus_1"), nil)
	}
	refusals := []struct {
		name, id, by string
		at           time.Duration
		want         error
	}{
		{"error/self-approval", "rel_1", "op_agent", time.Hour, device.ErrSelfApproval},
		{"error/expired", "rel_1", "op_super", 25 * time.Hour, device.ErrReleaseExpired},
		{"error/unknown release", "rel_nope", "op_super", time.Hour, device.ErrReleaseNotFound},
	}
	for _, r := range refusals {
		t.Run(r.name+": nothing written", func(t *testing.T) {
			seq := headSeq(t, db)
			_, err := approve(r.id, r.by, r.at)
			wantErr(t, err, r.want)
			if headSeq(t, db) != seq || !counter(t, db, device.SubjectCustomer, "cus_1").Blocked() {
				t.Fatal("a refused approval wrote something")
			}
		})
	}
	t.Run("ok/approval lifts the block and starts the history afresh", func(t *testing.T) {
		got, err := approve("rel_1", "op_super", time.Hour)
		must(t, err)
		if got.State != device.ReleaseApproved || got.ApprovedBy != "op_super" || got.ApprovedAt == nil {
			t.Fatalf("release %+v", got)
		}
		for _, kind := range []string{device.SubjectCustomer, device.SubjectFingerprint} {
			key := map[string]string{device.SubjectCustomer: "cus_1", device.SubjectFingerprint: "fp_1"}[kind]
			if c := counter(t, db, kind, key); c.Blocked() || !c.ReleasedAt.Equal(base.Add(time.Hour)) {
				t.Fatalf("%s counter %+v, want lifted", kind, c)
			}
		}
	})
	t.Run("error/approving twice", func(t *testing.T) {
		_, err := approve("rel_1", "op_super", 2*time.Hour)
		wantErr(t, err, device.ErrReleaseNotPending)
	})
	verifyChain(t, db, headSeq(t, db))
}

func testDeviceReset(t *testing.T, db *sqlstore.DB) {
	f := newFlowFixture(t, db)
	for _, id := range []string{"reg_1", "reg_2"} {
		reg := f.register(id, "cus_1", "fp_1")
		a := attemptAt("cus_1", "fp_1", "", 2*time.Minute)
		a.Device = newDevice("dev_"+id, reg, "key-"+id)
		a.Transition = &device.Transition{RegistrationID: id, From: device.StateCodeVerified, To: device.StateCompleted}
		record(t, db, a) // RevokeOthers false: both stay active
	}
	open := f.register("reg_open", "cus_1", "fp_1")
	restrictAt(t, db, "cus_1", "fp_1", 3*time.Minute)
	ids, err := db.ResetCustomer(t.Context(), "cus_1", liftAt(time.Hour, true), entry("device.branch_reset", "cus_1"), nil)
	must(t, err)
	t.Run("ok/every device revoked", func(t *testing.T) {
		if len(ids) != 2 {
			t.Fatalf("revoked %v, want both devices", ids)
		}
		devs, err := db.CustomerDevices(t.Context(), "cl_1", "cus_1")
		must(t, err)
		for _, d := range devs {
			if d.State != device.DeviceRevoked || d.RevokeReason != "branch_reset" {
				t.Fatalf("device %s: %s %q", d.ID, d.State, d.RevokeReason)
			}
		}
	})
	t.Run("ok/open registrations end, counters lift", func(t *testing.T) {
		got, err := db.Registration(t.Context(), "cl_1", open.ID)
		must(t, err)
		if got.State != device.StateFailed {
			t.Fatalf("open registration state %q, want failed", got.State)
		}
		if c := counter(t, db, device.SubjectCustomer, "cus_1"); c.Failures != 0 || c.Restricted(base.Add(time.Hour)) {
			t.Fatalf("counter %+v, want lifted", c)
		}
		if got := lastEvent(t, db).Details["revoked"]; got != "2" {
			t.Fatalf("audit revoked = %q, want 2", got)
		}
	})
}
