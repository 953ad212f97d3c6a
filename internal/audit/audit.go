// Package audit is haechi's tamper-evident log: every event carries the
// SHA-256 of the one before it, and every N events a checkpoint is signed with
// Ed25519, so that modifying, deleting or reordering a row breaks the chain.
//
// Stores write events in the same transaction as the change they record, so a
// change without its audit event (or the reverse) cannot be committed.
package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sort"
	"time"
)

// Results of an audited action.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultDenied  = "denied"
)

// Entry is what a caller records. Details must hold masked values only.
type Entry struct {
	Time      time.Time         `json:"time"`
	Actor     string            `json:"actor"`
	Action    string            `json:"action"`
	Target    string            `json:"target"`
	Result    string            `json:"result"`
	RequestID string            `json:"request_id,omitempty"`
	ClientIP  string            `json:"client_ip,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// Event is an Entry placed in the chain.
type Event struct {
	Seq      int64  `json:"seq"`
	PrevHash []byte `json:"prev_hash"`
	Hash     []byte `json:"hash"`
	Entry
}

// Checkpoint is a signed statement "the chain up to Seq ends in Hash".
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      []byte    `json:"hash"`
	Time      time.Time `json:"time"`
	Signature []byte    `json:"signature"`
}

// GenesisHash is the PrevHash of the first event.
var GenesisHash = make([]byte, sha256.Size)

// canonical is the byte form that is hashed: fixed field order (struct order),
// UTC times with nanoseconds, details sorted by key.
func canonical(seq int64, e Entry) []byte {
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	det := make([][2]string, len(keys))
	for i, k := range keys {
		det[i] = [2]string{k, e.Details[k]}
	}
	b, _ := json.Marshal(struct {
		Seq       int64       `json:"seq"`
		Time      string      `json:"time"`
		Actor     string      `json:"actor"`
		Action    string      `json:"action"`
		Target    string      `json:"target"`
		Result    string      `json:"result"`
		RequestID string      `json:"request_id"`
		ClientIP  string      `json:"client_ip"`
		Details   [][2]string `json:"details"`
	}{seq, e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.Result, e.RequestID, e.ClientIP, det})
	return b
}

// Link computes the hash of the event at seq that follows prev.
func Link(prev []byte, seq int64, e Entry) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical(seq, e))
	return h.Sum(nil)
}

// checkpointMessage is what a checkpoint signature covers.
func checkpointMessage(seq int64, hash []byte, at time.Time) []byte {
	msg := []byte("haechi-audit-checkpoint-v1\x00")
	msg = binary.BigEndian.AppendUint64(msg, uint64(seq))
	msg = append(msg, hash...)
	return binary.BigEndian.AppendUint64(msg, uint64(at.UTC().UnixNano()))
}

// Signer signs checkpoints. Every is how many events lie between two.
type Signer struct {
	Key   ed25519.PrivateKey
	Every int64
}

// Sign returns a checkpoint for the chain ending at seq/hash.
func (s *Signer) Sign(seq int64, hash []byte, at time.Time) Checkpoint {
	at = at.UTC()
	return Checkpoint{Seq: seq, Hash: hash, Time: at, Signature: ed25519.Sign(s.Key, checkpointMessage(seq, hash, at))}
}

// Due reports whether the event at seq closes a checkpoint interval.
func (s *Signer) Due(seq int64) bool { return s.Every > 0 && seq%s.Every == 0 }

// VerifyCheckpoint checks a checkpoint's signature.
func VerifyCheckpoint(pub ed25519.PublicKey, c Checkpoint) bool {
	return ed25519.Verify(pub, checkpointMessage(c.Seq, c.Hash, c.Time), c.Signature)
}

// Store is what the audit package needs from storage. Appending happens inside
// each capability store's own transactions; Append is for events that record
// no other change (a refused login, a denied request).
type Store interface {
	AppendAudit(ctx context.Context, e Entry) error
	// AuditEvents returns up to limit events with Seq > after, in Seq order.
	AuditEvents(ctx context.Context, after int64, limit int) ([]Event, error)
	AuditCheckpoints(ctx context.Context) ([]Checkpoint, error)
	// AuditHead returns the signed head: the last sequence number and hash.
	AuditHead(ctx context.Context) (Checkpoint, error)
}

type metaKey struct{}

// Meta is request context that every audit entry carries.
type Meta struct {
	RequestID string
	ClientIP  string
}

// WithMeta attaches request metadata for stores to copy into entries.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the request metadata, or zero values outside a request.
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}

// Fill copies request metadata into e where e leaves it empty.
func Fill(ctx context.Context, e Entry) Entry {
	m := MetaFrom(ctx)
	if e.RequestID == "" {
		e.RequestID = m.RequestID
	}
	if e.ClientIP == "" {
		e.ClientIP = m.ClientIP
	}
	return e
}
