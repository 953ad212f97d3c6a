package ekyc

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
)

// MaxImageBytes bounds an ID image or a selfie.
const MaxImageBytes = 5 << 20

// Content types evidence is recorded with.
const (
	TypeJPEG  = "image/jpeg"
	TypePNG   = "image/png"
	TypeOther = "application/octet-stream" // an image of no known format, kept as given
	TypeText  = "text/plain; charset=utf-8"
)

const (
	evidenceTable  = "ekyc_evidence"
	evidenceColumn = "data"
	evidencePrefix = "evd_"
	idxRRN         = "ekyc.rrn"
	idxAccount     = "ekyc.account"
	actEvidence    = "ekyc.evidence.read"
	actEvidenceLs  = "ekyc.evidence.list"
)

var (
	magicJPEG = []byte{0xFF, 0xD8, 0xFF}
	magicPNG  = []byte("\x89PNG\r\n\x1a\n")
)

// ImageType names an image's format by its magic bytes. Any non-empty
// image up to MaxImageBytes is accepted: the face engine judges what it can
// read, and the simulators' fixtures are plain bytes. What was detected is
// recorded with the evidence.
func ImageType(img []byte) (string, error) {
	switch {
	case len(img) == 0:
		return "", ErrInvalidImage
	case len(img) > MaxImageBytes:
		return "", ErrImageTooLarge
	case bytes.HasPrefix(img, magicJPEG):
		return TypeJPEG, nil
	case bytes.HasPrefix(img, magicPNG):
		return TypePNG, nil
	}
	return TypeOther, nil
}

// newEvidence seals data for a session. The AAD binds it to its row and
// its session, so an item moved to another row or session does not open.
func (s *Service) newEvidence(r *Record, m Method, kind EvidenceKind, contentType string, data, index []byte, now time.Time) (EvidenceRecord, error) {
	id := crypto.NewID(evidencePrefix)
	sealed, err := s.Ring.Seal(data, evidenceAAD(r.ID, id))
	if err != nil {
		return EvidenceRecord{}, fmt.Errorf("seal evidence of %s: %w", r.ID, err)
	}
	return EvidenceRecord{Evidence: Evidence{ID: id, SessionID: r.ID, Method: m, Kind: kind, ContentType: contentType,
		Size: len(data), CreatedAt: now}, InstitutionID: r.InstitutionID, Sealed: sealed, Index: index}, nil
}

func evidenceAAD(sessionID, id string) crypto.AAD {
	return crypto.AAD{Table: evidenceTable, Column: evidenceColumn, RowID: sessionID + "/" + id}
}

// RRNIndex is the blind index evidence is found by RRN with (13 digits).
func (s *Service) RRNIndex(digits string) []byte { return s.Ring.BlindIndex(idxRRN, []byte(digits)) }

// AccountIndex is the blind index evidence is found by account with
// ("<bank>-<number>", digits only).
func (s *Service) AccountIndex(bank, number string) []byte {
	return s.Ring.BlindIndex(idxAccount, []byte(bank+"-"+number))
}

// ListEvidence describes a session's evidence without its contents; the
// listing is audited.
func (s *Service) ListEvidence(ctx context.Context, actor, institutionID, sessionID string) ([]Evidence, error) {
	if actor == "" || institutionID == "" {
		return nil, ErrInvalidActor
	}
	recs, err := s.Store.EKYCEvidence(ctx, institutionID, sessionID)
	if err != nil {
		return nil, err
	}
	out := make([]Evidence, len(recs))
	for i, r := range recs {
		out[i] = r.Evidence
	}
	e := audit.Entry{Time: s.now(), Actor: actor, Action: actEvidenceLs, Target: sessionID, Result: audit.ResultSuccess,
		Details: map[string]string{"institution": institutionID, "items": fmt.Sprint(len(out))}}
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadEvidence returns one evidence item of a session of institutionID and
// its plain contents. The read is audited before the contents leave.
func (s *Service) ReadEvidence(ctx context.Context, actor, institutionID, sessionID, evidenceID string) (*Evidence, []byte, error) {
	if actor == "" || institutionID == "" {
		return nil, nil, ErrInvalidActor
	}
	rec, err := s.Store.EKYCEvidenceItem(ctx, institutionID, sessionID, evidenceID)
	if err != nil {
		return nil, nil, err
	}
	return s.readItem(ctx, actor, "", rec)
}

// readItem audits the read, then opens the item.
func (s *Service) readItem(ctx context.Context, actor, purpose string, rec *EvidenceRecord) (*Evidence, []byte, error) {
	d := map[string]string{"institution": rec.InstitutionID, "evidence": rec.ID, "kind": string(rec.Kind)}
	if purpose != "" {
		d["purpose"] = purpose
	}
	e := audit.Entry{Time: s.now(), Actor: actor, Action: actEvidence, Target: rec.SessionID, Result: audit.ResultSuccess, Details: d}
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		return nil, nil, err
	}
	plain, err := s.Ring.Open(rec.Sealed, evidenceAAD(rec.SessionID, rec.ID))
	if err != nil {
		return nil, nil, fmt.Errorf("open evidence %s: %w", rec.ID, err)
	}
	ev := rec.Evidence
	return &ev, plain, nil
}

// InstitutionOf names the institution a session belongs to, for the
// platform's operators, who serve every institution and then read its
// evidence through ListEvidence and ReadEvidence, audited as themselves.
func (s *Service) InstitutionOf(ctx context.Context, sessionID string) (string, error) {
	r, err := s.Store.EKYCSessionByID(ctx, sessionID)
	if err != nil {
		return "", err
	}
	return r.InstitutionID, nil
}
