package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
)

// memStore is an in-memory audit log that appends the way a real store does:
// link the event, sign a checkpoint when due, sign the head.
type memStore struct {
	signer *audit.Signer
	now    time.Time
	events []audit.Event
	cps    []audit.Checkpoint
	head   audit.Checkpoint
	err    error // returned by every read when set
}

func (m *memStore) AppendAudit(_ context.Context, e audit.Entry) error {
	seq, prev := m.head.Seq+1, audit.GenesisHash
	if m.head.Seq > 0 {
		prev = m.head.Hash
	}
	h := audit.Link(prev, seq, e)
	m.events = append(m.events, audit.Event{Seq: seq, PrevHash: prev, Hash: h, Entry: e})
	if m.signer.Due(seq) {
		m.cps = append(m.cps, m.signer.Sign(seq, h, m.now))
	}
	m.head = m.signer.Sign(seq, h, m.now)
	return nil
}

func (m *memStore) AuditEvents(_ context.Context, after int64, limit int) ([]audit.Event, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []audit.Event
	for _, e := range m.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) AuditCheckpoints(context.Context) ([]audit.Checkpoint, error) {
	return slices.Clone(m.cps), m.err
}

func (m *memStore) AuditHead(context.Context) (audit.Checkpoint, error) { return m.head, m.err }

// index returns the position of the event at seq.
func (m *memStore) index(seq int64) int {
	return slices.IndexFunc(m.events, func(e audit.Event) bool { return e.Seq == seq })
}

func (m *memStore) delete(seq int64) {
	m.events = slices.Delete(m.events, m.index(seq), m.index(seq)+1)
}

var seed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

// newLog returns a store holding n events with a checkpoint every `every`.
func newLog(t testing.TB, n int, every int64) *memStore {
	t.Helper()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	m := &memStore{signer: &audit.Signer{Key: ed25519.NewKeyFromSeed(seed), Every: every}, now: now}
	for i := 1; i <= n; i++ {
		e := audit.Entry{
			Time: now.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("op_%d", i%7),
			Action: "client.create", Target: fmt.Sprintf("cl_%d", i), Result: audit.ResultSuccess,
			Details: map[string]string{"scopes": "ekyc login", "n": fmt.Sprint(i)},
		}
		if err := m.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func pub() ed25519.PublicKey { return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey) }

func TestVerify(t *testing.T) {
	otherPub, _, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name    string
		n       int
		every   int64
		tamper  func(m *memStore)
		key     ed25519.PublicKey
		checked int64
		brk     *audit.Break // Reason holds a word the reason must contain
	}{
		{name: "ok/intact chain over several pages", n: 2500, every: 100, checked: 2500},
		{name: "ok/empty log with unsigned zero head", n: 0, every: 10},
		{name: "ok/empty log with signed zero head", n: 0, every: 10, tamper: func(m *memStore) {
			m.head = m.signer.Sign(0, audit.GenesisHash, m.now)
		}},
		{name: "error/modified actor at 5", n: 30, every: 10, checked: 4, brk: &audit.Break{Seq: 5, Reason: "modified"},
			tamper: func(m *memStore) { m.events[m.index(5)].Actor = "intruder" }},
		{name: "error/modified details at 5", n: 30, every: 10, checked: 4, brk: &audit.Break{Seq: 5, Reason: "modified"},
			tamper: func(m *memStore) { m.events[m.index(5)].Details["scopes"] = "payment" }},
		{name: "error/deleted row 5", n: 30, every: 10, checked: 4, brk: &audit.Break{Seq: 5, Reason: "deleted"},
			tamper: func(m *memStore) { m.delete(5) }},
		{name: "error/deleted first row", n: 30, every: 10, brk: &audit.Break{Seq: 1, Reason: "deleted"},
			tamper: func(m *memStore) { m.delete(1) }},
		{name: "error/swapped rows 4 and 5", n: 30, every: 10, checked: 3, brk: &audit.Break{Seq: 4, Reason: "reordered"},
			tamper: func(m *memStore) {
				a, b := m.index(4), m.index(5)
				m.events[a], m.events[b] = m.events[b], m.events[a]
				m.events[a].Seq, m.events[b].Seq = 4, 5
			}},
		{name: "error/inserted row before 5", n: 30, every: 10, checked: 5, brk: &audit.Break{Seq: 6, Reason: "inserted"},
			tamper: func(m *memStore) {
				i := m.index(5)
				forged := audit.Event{Seq: 5, PrevHash: m.events[i-1].Hash, Entry: audit.Entry{Actor: "intruder"}}
				forged.Hash = audit.Link(forged.PrevHash, 5, forged.Entry)
				for j := i; j < len(m.events); j++ {
					m.events[j].Seq++
				}
				m.events = slices.Insert(m.events, i, forged)
			}},
		{name: "error/row 5 rewritten with every later hash recomputed", n: 30, every: 10, checked: 30,
			brk: &audit.Break{Seq: 10, Reason: "checkpoint"},
			tamper: func(m *memStore) {
				i := m.index(5)
				m.events[i].Actor = "intruder"
				for ; i < len(m.events); i++ {
					m.events[i].PrevHash = m.events[i-1].Hash
					m.events[i].Hash = audit.Link(m.events[i].PrevHash, m.events[i].Seq, m.events[i].Entry)
				}
			}},
		{name: "error/checkpoint with bad signature", n: 30, every: 10, checked: 30, brk: &audit.Break{Seq: 20, Reason: "signature"},
			tamper: func(m *memStore) { m.cps[1].Signature[0] ^= 1 }},
		{name: "error/checkpoint hash swapped for another", n: 30, every: 10, checked: 30, brk: &audit.Break{Seq: 10, Reason: "signature"},
			tamper: func(m *memStore) { m.cps[0].Hash = m.cps[1].Hash }},
		{name: "error/truncated tail, head left", n: 30, every: 10, checked: 27, brk: &audit.Break{Seq: 28, Reason: "truncated"},
			tamper: func(m *memStore) { m.events = m.events[:27] }},
		{name: "error/truncated past a checkpoint", n: 30, every: 10, checked: 18, brk: &audit.Break{Seq: 19, Reason: "truncated"},
			tamper: func(m *memStore) { m.events = m.events[:18] }},
		{name: "error/truncated tail with head moved back unsigned", n: 30, every: 10, checked: 27, brk: &audit.Break{Seq: 27, Reason: "head signature"},
			tamper: func(m *memStore) {
				m.events = m.events[:27]
				m.head = audit.Checkpoint{Seq: 27, Hash: m.events[26].Hash, Time: m.now}
			}},
		{name: "error/everything deleted, head left", n: 30, every: 10, brk: &audit.Break{Seq: 1, Reason: "truncated"},
			tamper: func(m *memStore) { m.events = nil }},
		{name: "error/events appended without head", n: 30, every: 10, checked: 30, brk: &audit.Break{Seq: 26, Reason: "head"},
			tamper: func(m *memStore) { m.head = m.signer.Sign(25, m.events[24].Hash, m.now) }},
		{name: "error/events with unsigned zero head", n: 3, every: 10, checked: 3, brk: &audit.Break{Seq: 1, Reason: "head"},
			tamper: func(m *memStore) { m.head = audit.Checkpoint{} }},
		{name: "error/head hash differs", n: 3, every: 10, checked: 3, brk: &audit.Break{Seq: 3, Reason: "head"},
			tamper: func(m *memStore) { m.head = m.signer.Sign(3, m.events[1].Hash, m.now) }},
		{name: "error/wrong public key", n: 30, every: 10, key: otherPub, checked: 30, brk: &audit.Break{Seq: 10, Reason: "signature"}},
		{name: "error/wrong public key, no checkpoints", n: 5, every: 10, key: otherPub, checked: 5, brk: &audit.Break{Seq: 5, Reason: "head signature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newLog(t, tt.n, tt.every)
			if tt.tamper != nil {
				tt.tamper(m)
			}
			key := pub()
			if tt.key != nil {
				key = tt.key
			}
			checked, brk, err := audit.Verify(context.Background(), m, key)
			if err != nil {
				t.Fatalf("Verify error: %v", err)
			}
			assertBreak(t, brk, tt.brk)
			if checked != tt.checked {
				t.Errorf("checked = %d, want %d", checked, tt.checked)
			}
		})
	}
}

func assertBreak(t *testing.T, got, want *audit.Break) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("break = %+v, want none", *got)
	case want != nil && got == nil:
		t.Fatalf("no break, want seq %d", want.Seq)
	case want != nil && (got.Seq != want.Seq || !strings.Contains(got.Reason, want.Reason)):
		t.Fatalf("break = %+v, want seq %d with %q in reason", *got, want.Seq, want.Reason)
	}
}

func TestVerifyReadError(t *testing.T) {
	m := newLog(t, 3, 10)
	m.err = errors.New("disk on fire")
	_, brk, err := audit.Verify(context.Background(), m, pub())
	if !errors.Is(err, m.err) || brk != nil {
		t.Fatalf("Verify = %v, %v; want the read error and no break", brk, err)
	}
}

func TestExport(t *testing.T) {
	m := newLog(t, 2500, 100)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), m, &buf)
	if err != nil || n != 2500 {
		t.Fatalf("Export = %d, %v; want 2500 events", n, err)
	}
	sc := bufio.NewScanner(&buf)
	var seq int64
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", seq+1, err)
		}
		seq++
		want := m.events[seq-1]
		if e.Seq != seq || !bytes.Equal(e.Hash, want.Hash) || !bytes.Equal(audit.Link(e.PrevHash, e.Seq, e.Entry), want.Hash) {
			t.Fatalf("line %d: exported event does not re-hash to the stored one", seq)
		}
	}
	if seq != 2500 {
		t.Fatalf("read %d lines, want 2500", seq)
	}
}

func TestExportReadError(t *testing.T) {
	m := newLog(t, 3, 10)
	m.err = errors.New("disk on fire")
	if _, err := audit.Export(context.Background(), m, &bytes.Buffer{}); !errors.Is(err, m.err) {
		t.Fatalf("Export error = %v, want the read error", err)
	}
}

func BenchmarkLink(b *testing.B) {
	e := audit.Entry{
		Time: time.Now(), Actor: "op_01", Action: "device.register", Target: "cu_0123456789",
		Result: audit.ResultSuccess, RequestID: "req_abc", ClientIP: "203.0.113.9",
		Details: map[string]string{"device": "dv_123", "rrn": "900101-1******"},
	}
	prev := audit.GenesisHash
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		prev = audit.Link(prev, int64(i+1), e)
	}
}
