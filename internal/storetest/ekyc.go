package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/webhook"
)

// newEKYCSession is a pending session with made-up sealed bytes: the store
// keeps them opaque.
func newEKYCSession(id, institutionID string) *ekyc.Record {
	return &ekyc.Record{Session: ekyc.Session{ID: id, InstitutionID: institutionID, Reference: "ref:" + id,
		Policy: ekyc.Policy{Required: []ekyc.Method{ekyc.IDCard}, Min: 2}, Status: ekyc.StatusPending,
		Methods: []ekyc.MethodState{}, CreatedAt: base, ExpiresAt: base.Add(30 * time.Minute), Version: 1},
		TokenHash: []byte("tok-" + id), NameSealed: []byte("name-" + id), BirthSealed: []byte("birth-" + id),
		PhoneSealed: []byte("phone-" + id), PhoneIndex: []byte("pidx-" + id)}
}

func newEvidence(id string, r *ekyc.Record, kind ekyc.EvidenceKind) ekyc.EvidenceRecord {
	return ekyc.EvidenceRecord{Evidence: ekyc.Evidence{ID: id, SessionID: r.ID, Method: ekyc.IDCard, Kind: kind,
		ContentType: "image/png", Size: 4, CreatedAt: base}, InstitutionID: r.InstitutionID,
		Sealed: []byte("sealed-" + id), Index: []byte("idx-" + id)}
}

func testEKYC(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("sessions", func(t *testing.T) { testEKYCSessions(t, ekycDB(t, open)) })
	t.Run("compare and set", func(t *testing.T) { testEKYCCompareAndSet(t, ekycDB(t, open)) })
	t.Run("nonces", func(t *testing.T) { testEKYCNonces(t, ekycDB(t, open)) })
	t.Run("step-up consumption", func(t *testing.T) { testEKYCConsume(t, ekycDB(t, open)) })
	t.Run("purge", func(t *testing.T) { testEKYCPurge(t, ekycDB(t, open)) })
}

// ekycDB is a migrated database with institutions cl_1 and cl_2 and a
// customer cus_1 of cl_1.
func ekycDB(t *testing.T, open func(t *testing.T) *sqlstore.DB) *sqlstore.DB {
	db := open(t)
	for _, id := range []string{"cl_1", "cl_2"} {
		must(t, db.CreateClient(t.Context(), newClient(id, base), entry("client.create", id)))
	}
	must(t, db.CreateCustomer(t.Context(), newCustomerRecord("cus_1", "cl_1", "01012345678"), entry("customer.create", "cus_1")))
	return db
}

func createEKYC(t *testing.T, db *sqlstore.DB, r *ekyc.Record) {
	t.Helper()
	must(t, db.CreateEKYCSession(t.Context(), r, entry("ekyc.open", r.ID)))
}

// next is r as the following version, with a method state that uses every
// stored field.
func next(r *ekyc.Record, at time.Time) *ekyc.Record {
	c := *r
	c.Methods = []ekyc.MethodState{{Method: ekyc.ExistingAccount, Status: ekyc.MethodStarted, Attempts: 2,
		Reason: "code_wrong", UpdatedAt: at, Pending: 1, Sends: 2, CodeID: "otc_1", CodeUntil: at.Add(10 * time.Minute),
		Evidence: "evd_1"}}
	c.Version++
	return &c
}

func testEKYCSessions(t *testing.T, db *sqlstore.DB) {
	r := newEKYCSession("vs_1", "cl_1")
	r.CustomerID = "cus_1"
	createEKYC(t, db, r)
	t.Run("ok/round trip", func(t *testing.T) {
		got, err := db.EKYCSession(t.Context(), "cl_1", "vs_1")
		must(t, err)
		sameJSON(t, "session", got, r)
		byID, err := db.EKYCSessionByID(t.Context(), "vs_1")
		must(t, err)
		sameJSON(t, "session by id", byID, r)
	})
	t.Run("ok/every method field survives a save", func(t *testing.T) {
		n := next(r, base.Add(time.Minute))
		must(t, db.SaveEKYCSession(t.Context(), ekyc.Change{Session: n}))
		got, err := db.EKYCSession(t.Context(), "cl_1", "vs_1")
		must(t, err)
		m, w := got.Methods[0], n.Methods[0]
		if m.Pending != w.Pending || m.Sends != w.Sends || m.CodeID != w.CodeID || !m.CodeUntil.Equal(w.CodeUntil) ||
			m.Evidence != w.Evidence || !m.UpdatedAt.Equal(w.UpdatedAt) || got.Version != 2 {
			t.Fatalf("method state = %+v (version %d), want %+v", m, got.Version, w)
		}
		sameJSON(t, "saved session", got, n)
	})
	t.Run("error/another institution's session", func(t *testing.T) {
		_, err := db.EKYCSession(t.Context(), "cl_2", "vs_1")
		wantErr(t, err, errs.ErrNotFound)
		_, err = db.EKYCEvidence(t.Context(), "cl_2", "vs_1")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/unknown session", func(t *testing.T) {
		_, err := db.EKYCSessionByID(t.Context(), "vs_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/duplicate id writes nothing", func(t *testing.T) {
		head := headSeq(t, db)
		wantErr(t, db.CreateEKYCSession(t.Context(), newEKYCSession("vs_1", "cl_1"), entry("ekyc.open", "vs_1")), errs.ErrConflict)
		if headSeq(t, db) != head {
			t.Fatal("a refused create was audited")
		}
	})
	t.Run("ok/due sessions", func(t *testing.T) {
		late := newEKYCSession("vs_2", "cl_2")
		late.ExpiresAt = base.Add(time.Hour)
		createEKYC(t, db, late)
		due, err := db.DueEKYCSessions(t.Context(), base.Add(30*time.Minute), 10)
		must(t, err)
		if len(due) != 1 || due[0].ID != "vs_1" {
			t.Fatalf("due = %v, want vs_1", sessionIDs(due))
		}
		due, err = db.DueEKYCSessions(t.Context(), base.Add(time.Hour), 1)
		must(t, err)
		if len(due) != 1 || due[0].ID != "vs_1" {
			t.Fatalf("due with limit 1 = %v, want the soonest", sessionIDs(due))
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

func sessionIDs(rs []*ekyc.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testEKYCCompareAndSet(t *testing.T, db *sqlstore.DB) {
	r := newEKYCSession("vs_1", "cl_1")
	createEKYC(t, db, r)
	decided := base.Add(2 * time.Minute)
	passed := next(r, base.Add(time.Minute))
	passed.Status, passed.DecidedAt = ekyc.StatusPassed, &decided
	ev := webhook.NewEvent("cl_1", "verification.passed", json.RawMessage(`{"id":"x"}`), decided)
	change := ekyc.Change{Session: passed, Evidence: []ekyc.EvidenceRecord{newEvidence("evd_1", r, ekyc.EvidenceIDImage)},
		Events: []webhook.Event{ev}, Audit: []audit.Entry{entry("ekyc.id_card", "vs_1"), entry("ekyc.session.passed", "vs_1")}}
	head := headSeq(t, db)
	t.Run("ok/change with evidence, event and audit", func(t *testing.T) {
		must(t, db.SaveEKYCSession(t.Context(), change))
		if got := headSeq(t, db); got != head+2 {
			t.Fatalf("audit head %d, want %d", got, head+2)
		}
		items, err := db.EKYCEvidence(t.Context(), "cl_1", "vs_1")
		must(t, err)
		if len(items) != 1 || items[0].Sealed != nil || items[0].Kind != ekyc.EvidenceIDImage {
			t.Fatalf("evidence list = %+v, want one item without its bytes", items)
		}
		item, err := db.EKYCEvidenceItem(t.Context(), "cl_1", "vs_1", "evd_1")
		must(t, err)
		sameJSON(t, "evidence", item, change.Evidence[0])
		if n := countRows(t, db, "webhook_events"); n != 1 {
			t.Fatalf("%d webhook events, want 1", n)
		}
	})
	t.Run("error/stale version writes nothing", func(t *testing.T) {
		stale := change
		stale.Evidence = []ekyc.EvidenceRecord{newEvidence("evd_2", r, ekyc.EvidenceRRN)}
		stale.Events = []webhook.Event{webhook.NewEvent("cl_1", "verification.failed", json.RawMessage(`{}`), decided)}
		head := headSeq(t, db)
		wantErr(t, db.SaveEKYCSession(t.Context(), stale), errs.ErrConflict)
		if headSeq(t, db) != head || countRows(t, db, "webhook_events") != 1 || countRows(t, db, "ekyc_evidence") != 1 {
			t.Fatal("a refused change wrote something")
		}
	})
	t.Run("error/other institution's evidence item", func(t *testing.T) {
		_, err := db.EKYCEvidenceItem(t.Context(), "cl_2", "vs_1", "evd_1")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("ok/parallel writers of one version: one wins", func(t *testing.T) {
		seed := newEKYCSession("vs_race", "cl_1")
		createEKYC(t, db, seed)
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				err := db.SaveEKYCSession(t.Context(), ekyc.Change{Session: next(seed, seed.CreatedAt),
					Audit: []audit.Entry{entry("ekyc.race", "vs_race")}})
				if err == nil {
					won.Add(1)
				} else if !errors.Is(err, errs.ErrConflict) {
					t.Errorf("save: %v", err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d writers won, want 1", won.Load())
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

func testEKYCNonces(t *testing.T, db *sqlstore.DB) {
	createEKYC(t, db, newEKYCSession("vs_1", "cl_1"))
	nonce := func(h string, at time.Time) ekyc.NonceRecord {
		return ekyc.NonceRecord{Hash: []byte(h), SessionID: "vs_1", ExpiresAt: at.Add(5 * time.Minute), CreatedAt: at}
	}
	t.Run("ok/issued nonce is consumed once", func(t *testing.T) {
		must(t, db.IssueEKYCNonce(t.Context(), nonce("n1", base), 3))
		must(t, db.ConsumeEKYCNonce(t.Context(), "vs_1", []byte("n1"), base.Add(time.Minute)))
		wantErr(t, db.ConsumeEKYCNonce(t.Context(), "vs_1", []byte("n1"), base.Add(time.Minute)), errs.ErrNotFound)
	})
	t.Run("error/another session's nonce", func(t *testing.T) {
		createEKYC(t, db, newEKYCSession("vs_2", "cl_1"))
		must(t, db.IssueEKYCNonce(t.Context(), nonce("n2", base), 3))
		wantErr(t, db.ConsumeEKYCNonce(t.Context(), "vs_2", []byte("n2"), base), errs.ErrNotFound)
	})
	t.Run("error/expired nonce", func(t *testing.T) {
		must(t, db.IssueEKYCNonce(t.Context(), nonce("n3", base), 3))
		wantErr(t, db.ConsumeEKYCNonce(t.Context(), "vs_1", []byte("n3"), base.Add(5*time.Minute)), errs.ErrNotFound)
	})
	t.Run("error/too many live nonces", func(t *testing.T) {
		must(t, db.IssueEKYCNonce(t.Context(), nonce("n4", base), 3))
		wantErr(t, db.IssueEKYCNonce(t.Context(), nonce("n5", base), 3), errs.ErrConflict)
		must(t, db.IssueEKYCNonce(t.Context(), nonce("n5", base.Add(5*time.Minute)), 3)) // the others expired
	})
	t.Run("error/unknown or decided session", func(t *testing.T) {
		n := nonce("n6", base)
		n.SessionID = "vs_nope"
		wantErr(t, db.IssueEKYCNonce(t.Context(), n, 3), errs.ErrNotFound)
	})
	t.Run("ok/parallel consumers: one wins", func(t *testing.T) {
		must(t, db.IssueEKYCNonce(t.Context(), nonce("n7", base.Add(5*time.Minute)), 3))
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if db.ConsumeEKYCNonce(t.Context(), "vs_1", []byte("n7"), base.Add(6*time.Minute)) == nil {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d consumers won, want 1", won.Load())
		}
	})
}

func testEKYCConsume(t *testing.T, db *sqlstore.DB) {
	r := newEKYCSession("vs_1", "cl_1")
	r.CustomerID = "cus_1"
	createEKYC(t, db, r)
	decided := base.Add(time.Minute)
	p := next(r, decided)
	p.Status, p.DecidedAt = ekyc.StatusPassed, &decided
	must(t, db.SaveEKYCSession(t.Context(), ekyc.Change{Session: p}))
	now := base.Add(2 * time.Minute)
	tests := []struct {
		name, inst, customer string
		after                time.Time
	}{
		{"error/another institution", "cl_2", "cus_1", base},
		{"error/another customer", "cl_1", "cus_2", base},
		{"error/decided too long ago", "cl_1", "cus_1", decided},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := headSeq(t, db)
			_, err := db.ConsumeEKYCSession(t.Context(), tc.inst, tc.customer, "vs_1", tc.after, now, entry("ekyc.step_up.consume", "vs_1"))
			wantErr(t, err, errs.ErrNotFound)
			if headSeq(t, db) != head {
				t.Fatal("a refused consumption was audited")
			}
		})
	}
	t.Run("ok/consumed once", func(t *testing.T) {
		got, err := db.ConsumeEKYCSession(t.Context(), "cl_1", "cus_1", "vs_1", base, now, entry("ekyc.step_up.consume", "vs_1"))
		must(t, err)
		if got.ConsumedAt == nil || !got.ConsumedAt.Equal(now) || got.Version != 3 || len(got.Methods) != 1 {
			t.Fatalf("consumed = %+v", got)
		}
		_, err = db.ConsumeEKYCSession(t.Context(), "cl_1", "cus_1", "vs_1", base, now, entry("ekyc.step_up.consume", "vs_1"))
		wantErr(t, err, errs.ErrNotFound)
	})
}

func testEKYCPurge(t *testing.T, db *sqlstore.DB) {
	done := newEKYCSession("vs_done", "cl_1")
	open := newEKYCSession("vs_open", "cl_1")
	late := newEKYCSession("vs_late", "cl_1")
	late.CreatedAt = base.Add(time.Hour)
	for _, r := range []*ekyc.Record{done, open, late} {
		createEKYC(t, db, r)
	}
	for _, r := range []*ekyc.Record{done, late} {
		decided := r.CreatedAt.Add(time.Minute)
		n := next(r, decided)
		n.Status, n.DecidedAt = ekyc.StatusFailed, &decided
		must(t, db.SaveEKYCSession(t.Context(), ekyc.Change{Session: n,
			Evidence: []ekyc.EvidenceRecord{newEvidence("evd_a_"+r.ID, r, ekyc.EvidenceIDImage), newEvidence("evd_b_"+r.ID, r, ekyc.EvidenceRRN)}}))
	}
	must(t, db.IssueEKYCNonce(t.Context(), ekyc.NonceRecord{Hash: []byte("n"), SessionID: "vs_open", ExpiresAt: base.Add(time.Hour), CreatedAt: base}, 3))
	var counted ekyc.PurgeResult
	got, err := db.PurgeEKYC(t.Context(), base.Add(time.Minute), base.Add(2*time.Hour), func(p ekyc.PurgeResult) audit.Entry {
		counted = p
		return entry("ekyc.purge", "ekyc_sessions")
	})
	must(t, err)
	if got != (ekyc.PurgeResult{Sessions: 1, Evidence: 2}) || counted != got {
		t.Fatalf("purge = %+v (entry saw %+v), want 1 session and 2 items", got, counted)
	}
	r, err := db.EKYCSessionByID(t.Context(), "vs_done")
	must(t, err)
	if r.PurgedAt == nil || r.NameSealed != nil || r.BirthSealed != nil || r.PhoneSealed != nil || r.PhoneIndex != nil ||
		!bytes.Equal(r.TokenHash, done.TokenHash) || r.Status != ekyc.StatusFailed {
		t.Fatalf("purged = %+v", r)
	}
	for _, id := range []string{"vs_open", "vs_late"} {
		r, err := db.EKYCSessionByID(t.Context(), id)
		must(t, err)
		if r.PurgedAt != nil || r.NameSealed == nil {
			t.Fatalf("%s was purged", id)
		}
	}
	if n := countRows(t, db, "ekyc_evidence"); n != 2 {
		t.Fatalf("%d evidence rows left, want the late session's 2", n)
	}
	t.Run("error/a purged session takes no change", func(t *testing.T) {
		wantErr(t, db.SaveEKYCSession(t.Context(), ekyc.Change{Session: next(r, base)}), errs.ErrConflict)
	})
	verifyChain(t, db, headSeq(t, db))
}

// countRows counts a table's rows; the name is one of ours.
func countRows(t *testing.T, db *sqlstore.DB, table string) int {
	t.Helper()
	var n int
	must(t, db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table).Scan(&n))
	return n
}
