package ekyc

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/webhook"
)

// Store keeps sessions, their evidence and codes' subjects. Its methods are
// designed with the implementation (internal/sqlstore/ekyc.go); every query
// is scoped by session and institution.
//
// A session changes only by SaveEKYCSession, a compare-and-set on the
// version the caller read: of two writers that read the same version one
// wins and the other gets errs.ErrConflict with nothing written, reads the
// session again and decides anew. Evidence, webhook events and audit
// entries of a change are written in the same transaction as the session.
type Store interface {
	CreateEKYCSession(ctx context.Context, r *Record, e audit.Entry) error
	// EKYCSession returns a session of institutionID; another
	// institution's session is errs.ErrNotFound like an unknown one.
	EKYCSession(ctx context.Context, institutionID, id string) (*Record, error)
	// EKYCSessionByID returns a session of any institution, for callers
	// authorised by the session itself (the applicant's token) or serving
	// every institution (operators).
	EKYCSessionByID(ctx context.Context, id string) (*Record, error)
	SaveEKYCSession(ctx context.Context, c Change) error
	// DueEKYCSessions returns up to limit pending sessions whose expiry is
	// at or before now, soonest first.
	DueEKYCSessions(ctx context.Context, now time.Time, limit int) ([]*Record, error)
	// ConsumeEKYCSession sets consumed_at on a passed, unconsumed session
	// of the institution and customer decided after decidedAfter, and
	// appends e, in one transaction; of racing callers one gets the
	// session, the others (and every other case) errs.ErrNotFound.
	ConsumeEKYCSession(ctx context.Context, institutionID, customerID, id string, decidedAfter, now time.Time, e audit.Entry) (*Record, error)

	// IssueEKYCNonce stores a nonce of a pending session (errs.ErrNotFound
	// otherwise) unless the session already holds maxLive unexpired ones
	// (errs.ErrConflict). ConsumeEKYCNonce deletes an unexpired nonce of
	// the session in one statement: of racing callers exactly one
	// succeeds; unknown, spent and expired nonces are errs.ErrNotFound.
	IssueEKYCNonce(ctx context.Context, n NonceRecord, maxLive int) error
	ConsumeEKYCNonce(ctx context.Context, sessionID string, hash []byte, now time.Time) error

	// EKYCEvidence lists a session's evidence without the sealed bytes;
	// EKYCEvidenceItem returns one item with them. Both are scoped by the
	// institution.
	EKYCEvidence(ctx context.Context, institutionID, sessionID string) ([]EvidenceRecord, error)
	EKYCEvidenceItem(ctx context.Context, institutionID, sessionID, id string) (*EvidenceRecord, error)

	// PurgeEKYC deletes the evidence and nonces of decided sessions created
	// before before and scrubs their applicant PII, then appends the entry
	// built from the counts, in one transaction.
	PurgeEKYC(ctx context.Context, before, now time.Time, entry func(PurgeResult) audit.Entry) (PurgeResult, error)

	AppendAudit(ctx context.Context, e audit.Entry) error
}

// Record is a session as stored. Applicant stays empty in the store: the
// name, birth date and phone are sealed (AAD ekyc_sessions/<column>/<id>)
// and the phone is found by blind index; all four are nil once purged.
// Only the MAC of the applicant token is kept.
type Record struct {
	Session
	TokenHash   []byte
	NameSealed  []byte
	BirthSealed []byte
	PhoneSealed []byte
	PhoneIndex  []byte
}

// Change is one atomic step of a session: Session as it becomes, written
// only while the stored version is still Session.Version-1.
type Change struct {
	Session  *Record
	Evidence []EvidenceRecord
	Events   []webhook.Event
	Audit    []audit.Entry
}

// EvidenceKind says what an evidence item holds.
type EvidenceKind string

// Kinds of evidence.
const (
	EvidenceIDImage   EvidenceKind = "id_image"        // the ID card's image
	EvidenceRRN       EvidenceKind = "rrn"             // the RRN read from the card, 13 digits
	EvidenceAccount   EvidenceKind = "account"         // "<bank>-<number>" of the 1-won deposit
	EvidenceRecording EvidenceKind = "video_recording" // where the video call's recording is kept
)

// Evidence describes one stored item; the item itself is sealed.
type Evidence struct {
	ID          string       `json:"id"`
	SessionID   string       `json:"session_id"`
	Method      Method       `json:"method"`
	Kind        EvidenceKind `json:"kind"`
	ContentType string       `json:"content_type"`
	Size        int          `json:"size"`
	CreatedAt   time.Time    `json:"created_at"`
}

// EvidenceRecord is an evidence item as stored: Sealed under AAD
// ekyc_evidence/data/<id>, Index the blind index of an RRN or account
// (nil for other kinds).
type EvidenceRecord struct {
	Evidence
	InstitutionID string
	Sealed        []byte
	Index         []byte
}

// NonceRecord is a biometric nonce as stored: only its MAC.
type NonceRecord struct {
	Hash      []byte
	SessionID string
	ExpiresAt time.Time
	CreatedAt time.Time
}
