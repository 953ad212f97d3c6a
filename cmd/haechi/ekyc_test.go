package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEKYCPurge: `haechi ekyc purge` scrubs the demo's sessions (their
// evidence and applicant PII go; the sessions and their results stay),
// refuses a cutoff in the future, and leaves an audit chain that verifies.
func TestEKYCPurge(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	var out bytes.Buffer
	if err := runDemoEKYC(d.base, dir, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	// A busy timeout, as the server's own connections have: a lock held a
	// moment longer by the stopping server must not fail the count.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "haechi.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM ekyc_evidence`); n < 3 {
		t.Fatalf("%d evidence items before the purge, want the demo's ID images, RRNs and account", n)
	}
	sessions := count(`SELECT count(*) FROM ekyc_sessions`)

	if _, err := runCLI(t, dir, "ekyc", "purge", "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); err == nil || !strings.Contains(err.Error(), "future") {
		t.Fatalf("a future cutoff: %v", err)
	}
	if _, err := runCLI(t, dir, "ekyc", "purge", "--before", "yesterday"); err == nil {
		t.Fatal("a cutoff that is not a time was accepted")
	}
	if n := count(`SELECT count(*) FROM ekyc_evidence`); n < 3 {
		t.Fatalf("a refused purge deleted evidence: %d left", n)
	}
	got, err := runCLI(t, dir, "ekyc", "purge", "--before", time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "2 sessions scrubbed") {
		t.Fatalf("purge said %q", got)
	}
	if n := count(`SELECT count(*) FROM ekyc_evidence`); n != 0 {
		t.Fatalf("%d evidence items left", n)
	}
	if n := count(`SELECT count(*) FROM ekyc_sessions WHERE name_sealed IS NOT NULL OR phone_index IS NOT NULL OR purged_at IS NULL`); n != 0 {
		t.Fatalf("%d sessions still hold applicant PII", n)
	}
	if n := count(`SELECT count(*) FROM ekyc_sessions`); n != sessions {
		t.Fatalf("sessions went from %d to %d: results must stay", sessions, n)
	}
	if v, err := runCLI(t, dir, "audit", "verify"); err != nil || !strings.Contains(v, "intact") {
		t.Fatalf("audit verify after purge: %v %s", err, v)
	}
	// The default cutoff (now less five years) finds nothing more.
	if got, err := runCLI(t, dir, "ekyc", "purge"); err != nil || !strings.Contains(got, "0 sessions scrubbed") {
		t.Fatalf("default purge: %v %q", err, got)
	}
}
