package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/session"
	"github.com/haechi/haechi/internal/sqlstore"
)

// SessionFixture gives a fresh migrated database a client cl_1, customers
// cus_1 and cus_2, and an active device dev_1 of cus_1, so that sessions can
// be issued; for the session package's own tests.
func SessionFixture(t *testing.T, db *sqlstore.DB) (customerID, deviceID string) {
	t.Helper()
	f := newFlowFixture(t, db)
	reg := f.register("reg_1", "cus_1", "fp_1")
	if _, err := f.complete(reg, newDevice("dev_1", reg, "key-1")); err != nil {
		t.Fatal(err)
	}
	return "cus_1", "dev_1"
}

// sessionTokens makes one generation's stored tokens; the hashes are the
// names, which is all the store sees.
func sessionTokens(f *session.Family, gen int64, name string, at time.Time) (*session.RefreshToken, *session.AccessToken) {
	r := &session.RefreshToken{Hash: []byte("r-" + name), FamilyID: f.ID, Generation: gen, CreatedAt: at, ExpiresAt: at.Add(session.RefreshTTL)}
	a := &session.AccessToken{Hash: []byte("a-" + name), FamilyID: f.ID, CustomerID: f.CustomerID, DeviceID: f.DeviceID,
		JKT: f.JKT, Scope: session.ScopeCustomer, CreatedAt: at, ExpiresAt: at.Add(session.AccessTTL)}
	return r, a
}

func newFamily(id, customerID, deviceID string) *session.Family {
	return &session.Family{ID: id, CustomerID: customerID, DeviceID: deviceID, JKT: "jkt-" + deviceID,
		Generation: 1, CreatedAt: base, ExpiresAt: base.Add(session.FamilyTTL)}
}

func createFamily(t *testing.T, db *sqlstore.DB, f *session.Family) {
	t.Helper()
	r, a := sessionTokens(f, 1, f.ID+"-1", base)
	must(t, db.CreateSession(t.Context(), f, r, a, entry(session.ActionIssue, f.ID)))
}

func rotation(f *session.Family, from int64, name string, at time.Time) session.Rotation {
	r, a := sessionTokens(f, from+1, name, at)
	return session.Rotation{FamilyID: f.ID, From: from, Refresh: r, Access: a, Now: at, Entry: entry(session.ActionRefresh, f.ID)}
}

// testSessions checks session families: creation only for an active
// device, rotation by compare-and-set, revocation of a family with its
// access tokens, revocation per device and customer, and purging.
func testSessions(t *testing.T, db *sqlstore.DB) {
	SessionFixture(t, db)
	t.Run("ok/create and read", func(t *testing.T) { testSessionCreate(t, db) })
	t.Run("error/no session for a foreign or unknown device", func(t *testing.T) {
		before := headSeq(t, db)
		for _, f := range []*session.Family{newFamily("sf_x", "cus_2", "dev_1"), newFamily("sf_y", "cus_1", "dev_nope")} {
			r, a := sessionTokens(f, 1, f.ID, base)
			wantErr(t, db.CreateSession(t.Context(), f, r, a, entry(session.ActionIssue, f.ID)), errs.ErrNotFound)
		}
		if headSeq(t, db) != before {
			t.Fatal("a refused session was audited")
		}
	})
	t.Run("ok/rotation and stale generation", func(t *testing.T) { testSessionRotate(t, db) })
	t.Run("ok/reuse revocation kills access tokens", func(t *testing.T) { testSessionRevoke(t, db) })
	t.Run("ok/racing rotations, one winner", func(t *testing.T) { testSessionRace(t, db) })
	t.Run("ok/revoke by device and customer", func(t *testing.T) { testSessionRevokeAll(t, db) })
	t.Run("ok/dpop jti single use", func(t *testing.T) { testDPoPJTI(t, db) })
	t.Run("ok/purge and family cap", func(t *testing.T) { testSessionPurge(t, db) })
}

func testSessionCreate(t *testing.T, db *sqlstore.DB) {
	f := newFamily("sf_a", "cus_1", "dev_1")
	before := headSeq(t, db)
	createFamily(t, db, f)
	if headSeq(t, db) != before+1 {
		t.Fatal("creating a session wrote no audit event")
	}
	gotF, gotR, err := db.SessionRefresh(t.Context(), []byte("r-sf_a-1"))
	must(t, err)
	sameJSON(t, "family", gotF, f)
	wantR, wantA := sessionTokens(f, 1, "sf_a-1", base)
	sameJSON(t, "refresh", gotR, wantR)
	gotA, err := db.SessionAccess(t.Context(), []byte("a-sf_a-1"))
	must(t, err)
	sameJSON(t, "access", gotA, wantA)
	_, _, err = db.SessionRefresh(t.Context(), []byte("a-sf_a-1"))
	wantErr(t, err, errs.ErrNotFound)
	_, err = db.SessionAccess(t.Context(), []byte("r-sf_a-1"))
	wantErr(t, err, errs.ErrNotFound)
}

func testSessionRotate(t *testing.T, db *sqlstore.DB) {
	f := newFamily("sf_b", "cus_1", "dev_1")
	createFamily(t, db, f)
	must(t, db.RotateSession(t.Context(), rotation(f, 1, "sf_b-2", base.Add(time.Minute))))
	old, oldR, err := db.SessionRefresh(t.Context(), []byte("r-sf_b-1"))
	must(t, err)
	if old.Generation != 2 || oldR.Generation != 1 {
		t.Fatalf("after rotation: family generation %d, old token %d", old.Generation, oldR.Generation)
	}
	before := headSeq(t, db)
	wantErr(t, db.RotateSession(t.Context(), rotation(f, 1, "sf_b-2bis", base.Add(2*time.Minute))), errs.ErrConflict)
	if _, _, err := db.SessionRefresh(t.Context(), []byte("r-sf_b-2bis")); !errors.Is(err, errs.ErrNotFound) || headSeq(t, db) != before {
		t.Fatalf("a refused rotation wrote something: %v", err)
	}
	bad := rotation(f, 2, "sf_b-skip", base)
	bad.Refresh.Generation = 4
	wantErr(t, db.RotateSession(t.Context(), bad), errs.ErrInvalid)
}

func testSessionRevoke(t *testing.T, db *sqlstore.DB) {
	f := newFamily("sf_c", "cus_1", "dev_1")
	createFamily(t, db, f)
	must(t, db.RotateSession(t.Context(), rotation(f, 1, "sf_c-2", base.Add(time.Minute))))
	at := base.Add(2 * time.Minute)
	e := entry(session.ActionRefreshReuse, f.ID)
	before := headSeq(t, db)
	must(t, db.RevokeSessionFamily(t.Context(), f.ID, session.ReasonReuse, at, e))
	if headSeq(t, db) != before+1 {
		t.Fatal("revocation was not audited")
	}
	for _, h := range []string{"a-sf_c-1", "a-sf_c-2"} {
		_, err := db.SessionAccess(t.Context(), []byte(h))
		wantErr(t, err, errs.ErrNotFound)
	}
	got, _, err := db.SessionRefresh(t.Context(), []byte("r-sf_c-2"))
	must(t, err)
	if !got.RevokedAt.Equal(at) || got.RevokeReason != session.ReasonReuse {
		t.Fatalf("family after revocation: %+v", got)
	}
	wantErr(t, db.RotateSession(t.Context(), rotation(f, 2, "sf_c-3", at)), errs.ErrNotFound)
	_, err = db.SessionAccess(t.Context(), []byte("a-sf_a-1"))
	must(t, err) // another family is untouched
}

// testSessionRace rotates one family from many goroutines: exactly one may
// win, or two parties would hold live refresh tokens of one family.
func testSessionRace(t *testing.T, db *sqlstore.DB) {
	const racers = 10
	f := newFamily("sf_race", "cus_1", "dev_1")
	createFamily(t, db, f)
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			err := db.RotateSession(t.Context(), rotation(f, 1, "race-"+string(rune('a'+i)), base.Add(time.Minute)))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, errs.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("rotate: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != racers-1 {
		t.Fatalf("wins %d, conflicts %d; want 1 and %d", wins.Load(), conflicts.Load(), racers-1)
	}
}

func testSessionRevokeAll(t *testing.T, db *sqlstore.DB) {
	f1, f2 := newFamily("sf_d1", "cus_1", "dev_1"), newFamily("sf_d2", "cus_1", "dev_1")
	createFamily(t, db, f1)
	createFamily(t, db, f2)
	n, err := db.RevokeDeviceSessions(t.Context(), "dev_1", session.ReasonDevice, base, entry(session.ActionRevokeDevice, "dev_1"))
	must(t, err)
	if n < 2 {
		t.Fatalf("revoked %d families, want at least 2", n)
	}
	_, err = db.SessionAccess(t.Context(), []byte("a-sf_d2-1"))
	wantErr(t, err, errs.ErrNotFound)
	f3 := newFamily("sf_d3", "cus_1", "dev_1")
	createFamily(t, db, f3)
	n, err = db.RevokeCustomerSessions(t.Context(), "cus_1", session.ReasonCustomer, base, entry(session.ActionRevokeCustomer, "cus_1"))
	must(t, err)
	if n != 1 {
		t.Fatalf("customer revocation revoked %d families, want only the new one", n)
	}
	_, err = db.SessionAccess(t.Context(), []byte("a-sf_d3-1"))
	wantErr(t, err, errs.ErrNotFound)
	// A device revoked by a new registration ends its sessions at once,
	// even before anyone calls RevokeDeviceSessions.
	f4 := newFamily("sf_d4", "cus_1", "dev_1")
	createFamily(t, db, f4)
	f := &flowFixture{db: db, t: t}
	reg := f.register("reg_2", "cus_1", "fp_2")
	if _, err := f.complete(reg, newDevice("dev_2", reg, "key-2")); err != nil {
		t.Fatal(err)
	}
	_, err = db.SessionAccess(t.Context(), []byte("a-sf_d4-1"))
	wantErr(t, err, errs.ErrNotFound)
	wantErr(t, db.RotateSession(t.Context(), rotation(f4, 1, "sf_d4-2", base)), errs.ErrNotFound)
}

// testDPoPJTI checks that a proof id serves once per key, also among 20
// racing requests, and is forgotten only after its expiry.
func testDPoPJTI(t *testing.T, db *sqlstore.DB) {
	exp := base.Add(time.Minute)
	use := func(jkt, jti string, now time.Time) bool {
		t.Helper()
		ok, err := db.UseDPoPJTI(t.Context(), jkt, jti, now, exp)
		must(t, err)
		return ok
	}
	const racers = 20
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			ok, err := db.UseDPoPJTI(t.Context(), "k1", "j-race", base, exp)
			if err != nil {
				t.Errorf("use jti: %v", err)
			} else if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d racing uses won, want 1", wins.Load(), racers)
	}
	if use("k1", "j-race", base.Add(59*time.Second)) {
		t.Fatal("a used jti was accepted again before its expiry")
	}
	if !use("k2", "j-race", base) {
		t.Fatal("the same jti under another key was refused")
	}
	if use("k1", "j-race", exp.Add(-time.Nanosecond)) {
		t.Fatal("a used jti was accepted again a nanosecond before its expiry")
	}
	if ok, err := db.UseDPoPJTI(t.Context(), "k1", "j-race", exp, exp.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("a jti at its expiry could not be taken over: %v %v", ok, err)
	}
	if ok, err := db.UseDPoPJTI(t.Context(), "k1", "j-race", exp, exp.Add(time.Minute)); err != nil || ok {
		t.Fatalf("a taken-over jti was accepted twice: %v %v", ok, err)
	}
	if ok, err := db.UseDPoPJTI(t.Context(), "k9", "j-old", base, exp); err != nil || !ok {
		t.Fatalf("use j-old: %v %v", ok, err)
	}
	n, err := db.PurgeSessions(t.Context(), exp)
	must(t, err)
	var left int
	must(t, db.SQL().QueryRowContext(t.Context(), db.Rebind(`SELECT COUNT(*) FROM dpop_jtis WHERE jkt = ?`), "k9").Scan(&left))
	if n == 0 || left != 0 {
		t.Fatalf("purge at expiry removed %d rows and left %d expired jtis", n, left)
	}
	_, err = db.UseDPoPJTI(t.Context(), "k1", "j-bad", exp, exp)
	wantErr(t, err, errs.ErrInvalid)
}

func testSessionPurge(t *testing.T, db *sqlstore.DB) {
	reg := newFlowFixture2(t, db)
	f := newFamily("sf_p", "cus_2", reg)
	createFamily(t, db, f)
	wantErr(t, db.RotateSession(t.Context(), rotation(f, 1, "sf_p-late", f.ExpiresAt)), errs.ErrNotFound)
	_, err := db.SessionAccess(t.Context(), []byte("a-sf_p-1"))
	must(t, err)
	n, err := db.PurgeSessions(t.Context(), base.Add(session.AccessTTL))
	must(t, err)
	if n == 0 {
		t.Fatal("expired access tokens were not purged")
	}
	_, err = db.SessionAccess(t.Context(), []byte("a-sf_p-1"))
	wantErr(t, err, errs.ErrNotFound)
	_, err = db.PurgeSessions(t.Context(), f.ExpiresAt)
	must(t, err)
	_, _, err = db.SessionRefresh(t.Context(), []byte("r-sf_p-1"))
	wantErr(t, err, errs.ErrNotFound)
}

// newFlowFixture2 registers an active device for cus_2 (the client and
// customers exist already) and returns its id.
func newFlowFixture2(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	f := &flowFixture{db: db, t: t}
	reg := f.register("reg_p", "cus_2", "fp_p")
	if _, err := f.complete(reg, newDevice("dev_p", reg, "key-p")); err != nil {
		t.Fatal(err)
	}
	return "dev_p"
}

// testSessionsOfRevokedInstitution: revoking a bank ends its customers'
// sessions, access and refresh alike.
func testSessionsOfRevokedInstitution(t *testing.T, db *sqlstore.DB) {
	SessionFixture(t, db)
	f := newFamily("sf_inst", "cus_1", "dev_1")
	createFamily(t, db, f)
	must(t, db.RevokeClient(t.Context(), "cl_1", base, entry("client.revoke", "cl_1")))
	_, err := db.SessionAccess(t.Context(), []byte("a-sf_inst-1"))
	wantErr(t, err, errs.ErrNotFound)
	if err := db.RotateSession(t.Context(), rotation(f, 1, "sf_inst-2", base.Add(time.Minute))); err == nil {
		t.Fatal("a session of a revoked institution's device rotated")
	}
}
