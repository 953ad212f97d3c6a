package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/haechi/haechi/internal/errs"
)

// pageSize is how many events Verify and Export read at a time, so that a
// long log is checked in bounded memory.
const pageSize = 1000

// Break is the first place where the log is not what was written: the
// sequence number of the first event that cannot be trusted, and why.
type Break struct {
	Seq    int64
	Reason string
}

func (b *Break) String() string { return fmt.Sprintf("seq %d: %s", b.Seq, b.Reason) }

// Reasons a Break gives.
const (
	reasonMissing    = "event missing (deleted?)"
	reasonOrder      = "sequence number out of order"
	reasonPrev       = "previous hash does not match (reordered or inserted?)"
	reasonHash       = "hash does not match contents (modified?)"
	reasonTruncated  = "event missing (log truncated?)"
	reasonUncovered  = "event not covered by the signed head"
	reasonCPSig      = "checkpoint signature invalid"
	reasonCPSeq      = "checkpoint names an invalid seq"
	reasonCPMismatch = "checkpoint does not match the chain (rewritten?)"
	reasonHeadSig    = "head signature invalid"
	reasonHeadHash   = "signed head does not match the last event"
)

// Verify walks the whole log and reports the first broken link: a deleted,
// modified, reordered or inserted event, a checkpoint that is not signed by
// pub or does not match the chain, or a signed head that does not match the
// last event (a truncated tail). checked counts the events found intact
// before the break. err is for failures to read; a broken log is brk != nil.
//
// Hashes alone prove nothing against someone who rewrites a row and every
// hash after it; the signed checkpoints and head are what catch that.
func Verify(ctx context.Context, s Store, pub ed25519.PublicKey) (checked int64, brk *Break, err error) {
	cps, err := s.AuditCheckpoints(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	v := newVerifier(pub, cps)
	if err := v.walk(ctx, s, math.MaxInt64); err != nil {
		return v.checked, nil, err
	}
	// The head is read after the walk: an event appended meanwhile moves the
	// head forward, never behind the events already read.
	head, err := readHead(ctx, s)
	if err != nil {
		return v.checked, nil, err
	}
	if v.brk == nil && head.Seq > v.last {
		if err := v.walk(ctx, s, head.Seq); err != nil {
			return v.checked, nil, err
		}
	}
	v.checkCheckpoints()
	v.checkHead(head)
	return v.checked, v.brk, nil
}

// verifier holds the state of one walk along the chain.
type verifier struct {
	pub     ed25519.PublicKey
	cps     []Checkpoint
	hashes  map[int64][]byte // hash at each seq a checkpoint names
	last    int64            // seq of the last intact event
	prev    []byte           // hash of the last intact event
	checked int64
	brk     *Break
}

func newVerifier(pub ed25519.PublicKey, cps []Checkpoint) *verifier {
	cps = append([]Checkpoint(nil), cps...)
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
	hashes := make(map[int64][]byte, len(cps)+1)
	for _, c := range cps {
		hashes[c.Seq] = nil
	}
	hashes[0] = GenesisHash
	return &verifier{pub: pub, cps: cps, hashes: hashes, prev: GenesisHash}
}

// fail records a break unless an earlier one is already known.
func (v *verifier) fail(seq int64, reason string) {
	if v.brk == nil || seq < v.brk.Seq {
		v.brk = &Break{Seq: seq, Reason: reason}
	}
}

// walk reads events after v.last up to seq upTo, stopping at the first break:
// everything after it is untrustworthy anyway.
func (v *verifier) walk(ctx context.Context, s Store, upTo int64) error {
	for v.brk == nil && v.last < upTo {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := s.AuditEvents(ctx, v.last, pageSize)
		if err != nil {
			return fmt.Errorf("audit: read events after %d: %w", v.last, err)
		}
		if len(page) == 0 {
			return nil
		}
		for i := range page {
			if page[i].Seq > upTo {
				return nil
			}
			if v.step(&page[i]); v.brk != nil {
				return nil
			}
		}
	}
	return nil
}

// step checks one event against the one before it.
func (v *verifier) step(e *Event) {
	want := v.last + 1
	switch {
	case e.Seq > want:
		v.fail(want, reasonMissing)
	case e.Seq < want:
		v.fail(want, reasonOrder)
	case !bytes.Equal(e.PrevHash, v.prev):
		v.fail(e.Seq, reasonPrev)
	case !bytes.Equal(e.Hash, Link(e.PrevHash, e.Seq, e.Entry)):
		v.fail(e.Seq, reasonHash)
	default:
		v.accept(e)
	}
}

func (v *verifier) accept(e *Event) {
	v.last, v.prev = e.Seq, e.Hash
	v.checked++
	if _, ok := v.hashes[e.Seq]; ok {
		v.hashes[e.Seq] = e.Hash
	}
}

// checkCheckpoints checks every checkpoint before the first break: signed by
// pub, naming an event that exists, with that event's hash.
func (v *verifier) checkCheckpoints() {
	for _, c := range v.cps {
		if v.brk != nil && c.Seq >= v.brk.Seq {
			return
		}
		switch {
		case c.Seq < 0:
			v.fail(0, reasonCPSeq)
		case !VerifyCheckpoint(v.pub, c):
			v.fail(c.Seq, reasonCPSig)
		case c.Seq > v.last:
			v.fail(v.last+1, reasonTruncated)
		case !bytes.Equal(c.Hash, v.hashes[c.Seq]):
			v.fail(c.Seq, reasonCPMismatch)
		}
	}
}

// checkHead checks that the signed head names exactly the last event. An
// unsigned zero head is what an empty log has.
func (v *verifier) checkHead(h Checkpoint) {
	switch {
	case h.Seq < v.last:
		v.fail(h.Seq+1, reasonUncovered)
	case h.Seq > v.last:
		v.fail(v.last+1, reasonTruncated)
	case h.Seq == 0 && len(h.Signature) == 0 && (len(h.Hash) == 0 || bytes.Equal(h.Hash, GenesisHash)):
		// empty log, never signed
	case !VerifyCheckpoint(v.pub, h):
		v.fail(h.Seq, reasonHeadSig)
	case !bytes.Equal(h.Hash, v.prev):
		v.fail(h.Seq, reasonHeadHash)
	}
}

// readHead returns the signed head; a store that has none yet is an empty log.
func readHead(ctx context.Context, s Store) (Checkpoint, error) {
	h, err := s.AuditHead(ctx)
	if errors.Is(err, errs.ErrNotFound) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: read head: %w", err)
	}
	return h, nil
}
