package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
)

func testAudit(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("ok/empty log", func(t *testing.T) {
		db := open(t)
		h, err := db.AuditHead(t.Context())
		must(t, err)
		if h.Seq != 0 || !bytes.Equal(h.Hash, audit.GenesisHash) || len(h.Signature) != 0 {
			t.Fatalf("empty head = %+v, want seq 0, genesis hash, no signature", h)
		}
		verifyChain(t, db, 0)
	})
	t.Run("ok/chain, checkpoints and signed head", func(t *testing.T) { testAuditChain(t, open(t)) })
	t.Run("ok/event round trip", func(t *testing.T) { testAuditRoundTrip(t, open(t)) })
	t.Run("ok/paging", func(t *testing.T) {
		db := open(t)
		appendN(t, db, 20)
		page, err := db.AuditEvents(t.Context(), 10, 5)
		must(t, err)
		if len(page) != 5 || page[0].Seq != 11 || page[4].Seq != 15 {
			t.Fatalf("page after 10 = %d events starting %v", len(page), seqs(page))
		}
		_, err = db.AuditEvents(t.Context(), 0, 0)
		wantErr(t, err, errs.ErrInvalid)
	})
	t.Run("ok/text that is not valid UTF-8 stays verifiable", func(t *testing.T) {
		db := open(t)
		e := entry("login.fail", "user\xff\x00name")
		e.Details = map[string]string{"ua\xfe": "bad\x00value\xc3"}
		must(t, db.AppendAudit(t.Context(), e))
		verifyChain(t, db, 1)
	})
	t.Run("ok/concurrent appends keep one chain", func(t *testing.T) {
		db := open(t)
		ConcurrentChain(t, db)
	})
	t.Run("error/events are append-only", func(t *testing.T) {
		db := open(t)
		appendN(t, db, 1)
		if _, err := db.SQL().ExecContext(t.Context(), `UPDATE audit_events SET actor = 'mallory'`); err == nil {
			t.Fatal("updating an audit event succeeded")
		}
		if _, err := db.SQL().ExecContext(t.Context(), `DELETE FROM audit_events`); err == nil {
			t.Fatal("deleting audit events succeeded")
		}
		verifyChain(t, db, 1)
	})
}

func testAuditChain(t *testing.T, db *sqlstore.DB) {
	appendN(t, db, 25)
	evs, err := db.AuditEvents(t.Context(), 0, 100)
	must(t, err)
	if len(evs) != 25 || evs[0].Seq != 1 || evs[24].Seq != 25 {
		t.Fatalf("events = %v, want 1..25", seqs(evs))
	}
	cps, err := db.AuditCheckpoints(t.Context())
	must(t, err)
	if len(cps) != 2 || cps[0].Seq != 10 || cps[1].Seq != 20 {
		t.Fatalf("checkpoints at %+v, want 10 and 20", cps)
	}
	for _, c := range cps {
		if !audit.VerifyCheckpoint(PublicKey(), c) || !bytes.Equal(c.Hash, evs[c.Seq-1].Hash) {
			t.Fatalf("checkpoint %d is not a signature over event %d's hash", c.Seq, c.Seq)
		}
	}
	h, err := db.AuditHead(t.Context())
	must(t, err)
	if h.Seq != 25 || !bytes.Equal(h.Hash, evs[24].Hash) || !audit.VerifyCheckpoint(PublicKey(), h) {
		t.Fatalf("head = seq %d, not a valid signature over event 25", h.Seq)
	}
	verifyChain(t, db, 25)
}

func testAuditRoundTrip(t *testing.T, db *sqlstore.DB) {
	ctx := audit.WithMeta(t.Context(), audit.Meta{RequestID: "req-1", ClientIP: "203.0.113.7"})
	at := time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.FixedZone("KST", 9*3600))
	e := audit.Entry{Time: at, Actor: "op_1", Action: "client.create", Target: "cl_1",
		Result: audit.ResultSuccess, Details: map[string]string{"scopes": "ekyc login", "n": "1"}}
	must(t, db.AppendAudit(ctx, e))
	must(t, db.AppendAudit(t.Context(), audit.Entry{Actor: "system", Action: "tick", Result: audit.ResultSuccess}))
	evs, err := db.AuditEvents(t.Context(), 0, 10)
	must(t, err)
	want := e
	want.Time = at.UTC().Truncate(time.Microsecond)
	want.RequestID, want.ClientIP = "req-1", "203.0.113.7"
	sameJSON(t, "stored entry", evs[0].Entry, want)
	if !bytes.Equal(evs[0].PrevHash, audit.GenesisHash) || !bytes.Equal(evs[1].PrevHash, evs[0].Hash) {
		t.Fatal("events are not linked by their hashes")
	}
	if evs[1].Time.IsZero() || evs[1].Details != nil {
		t.Fatalf("entry without time or details stored as time %v details %v", evs[1].Time, evs[1].Details)
	}
	verifyChain(t, db, 2)
}

// ConcurrentChain appends 50 events from as many goroutines, spread over
// dbs (which may be several handles on one database, as several processes
// would hold), and checks that they got seq 1..50 in one valid chain.
func ConcurrentChain(t *testing.T, dbs ...*sqlstore.DB) {
	t.Helper()
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		db := dbs[i%len(dbs)]
		wg.Go(func() {
			if err := db.AppendAudit(t.Context(), entry("concurrent", fmt.Sprint(i))); err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	evs, err := dbs[0].AuditEvents(t.Context(), 0, 2*n)
	must(t, err)
	if len(evs) != n || evs[0].Seq != 1 || evs[n-1].Seq != n {
		t.Fatalf("events = %v, want 1..%d", seqs(evs), n)
	}
	targets := map[string]bool{}
	for _, ev := range evs {
		targets[ev.Target] = true
	}
	if len(targets) != n {
		t.Fatalf("%d distinct events stored, want %d", len(targets), n)
	}
	for _, db := range dbs {
		verifyChain(t, db, n)
	}
}

func appendN(t *testing.T, db *sqlstore.DB, n int) {
	t.Helper()
	for i := range n {
		must(t, db.AppendAudit(t.Context(), entry("test.append", fmt.Sprint(i+1))))
	}
}

func seqs(evs []audit.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}
