package device

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/operator"
)

// States of a release.
const (
	ReleaseRequested = "requested"
	ReleaseApproved  = "approved"
)

// ReleaseTTL is how long a request waits for a supervisor.
const ReleaseTTL = 24 * time.Hour

// Audit actions of the operator recoveries.
const (
	ActionReleaseRequest = "device.release.request"
	ActionReleaseApprove = "device.release.approve"
	ActionBranchReset    = "device.branch_reset"
)

// ChecklistItems are the identity checks a call-center agent records before
// asking for a release; each must be present and true.
var ChecklistItems = []string{"name", "birth_date", "phone", "security_questions"}

// IDDocuments are the documents a teller may check in person.
var IDDocuments = []string{"resident_card", "driver_licence", "passport"}

// Release is a call-center release of a customer's restriction or block:
// requested by an agent, approved by a different supervisor. The reason is
// the agent's free text, which may name people, so it is sealed at rest.
type Release struct {
	ID           string
	CustomerID   string
	ReasonSealed []byte
	Checklist    map[string]bool
	RequestedBy  string
	RequestedAt  time.Time
	ExpiresAt    time.Time
	State        string
	ApprovedBy   string
	ApprovedAt   *time.Time
}

// RequestRelease records an agent's request to release a restricted or
// blocked customer. Refusals write nothing.
func (s *Service) RequestRelease(ctx context.Context, agent *operator.Operator, customerID, reason string, checklist map[string]bool) (*Release, error) {
	if !holds(agent, operator.RoleAgent) {
		return nil, operator.ErrRole
	}
	reason = strings.TrimSpace(reason)
	if !validReason(reason) || !completeChecklist(checklist) {
		return nil, ErrReleaseInvalid
	}
	if err := s.needsRelease(ctx, customerID); err != nil {
		return nil, err
	}
	r, err := s.newRelease(agent, customerID, reason, checklist)
	if err != nil {
		return nil, err
	}
	e := operatorEntry(agent, ActionReleaseRequest, customerID, r.RequestedAt, map[string]string{"release": r.ID})
	if err := s.Store.CreateRelease(ctx, r, e); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Service) newRelease(agent *operator.Operator, customerID, reason string, checklist map[string]bool) (*Release, error) {
	now := s.Now().UTC()
	r := &Release{ID: crypto.NewID("rel_"), CustomerID: customerID, Checklist: checklist, RequestedBy: agent.ID,
		RequestedAt: now, ExpiresAt: now.Add(ReleaseTTL), State: ReleaseRequested}
	sealed, err := s.Ring.Seal([]byte(reason), reasonAAD(r.ID))
	if err != nil {
		return nil, err
	}
	r.ReasonSealed = sealed
	return r, nil
}

// needsRelease refuses a request for a customer with nothing to release.
func (s *Service) needsRelease(ctx context.Context, customerID string) error {
	if customerID == "" || len(customerID) > 64 {
		return ErrNothingToRelease
	}
	cs, err := s.Store.Counters(ctx, Subject{SubjectCustomer, customerID})
	if err != nil {
		return err
	}
	if !cs[0].Blocked() && !cs[0].Restricted(s.Now()) {
		return ErrNothingToRelease
	}
	return nil
}

// ApproveRelease approves a pending release and lifts the customer's
// restriction and hard block. The approver must hold the supervisor role and
// differ from the requester; refusals write nothing.
func (s *Service) ApproveRelease(ctx context.Context, supervisor *operator.Operator, releaseID string) (*Release, error) {
	if !holds(supervisor, operator.RoleSupervisor) {
		return nil, operator.ErrRole
	}
	r, err := s.Store.Release(ctx, releaseID)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrReleaseNotFound
	} else if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	if err := approvable(r, supervisor.ID, now); err != nil {
		return nil, err
	}
	e := operatorEntry(supervisor, ActionReleaseApprove, r.CustomerID, now, map[string]string{"release": r.ID, "requested_by": r.RequestedBy})
	note := notify.New(r.CustomerID, notify.KindRegistrationReleased, map[string]string{"by": "call_center"}, now)
	return s.Store.ApproveRelease(ctx, r.ID, supervisor.ID, s.lift(now, true), e, []notify.Notification{note})
}

// approvable applies the rules the store enforces again in its guarded
// update, so that the usual refusals get a precise error.
func approvable(r *Release, supervisorID string, now time.Time) error {
	switch {
	case r.RequestedBy == supervisorID:
		return ErrSelfApproval
	case r.State != ReleaseRequested:
		return ErrReleaseNotPending
	case !now.Before(r.ExpiresAt):
		return ErrReleaseExpired
	}
	return nil
}

// ReleaseReason opens a release's sealed reason for the console.
func (s *Service) ReleaseReason(r *Release) (string, error) {
	b, err := s.Ring.Open(r.ReasonSealed, reasonAAD(r.ID))
	return string(b), err
}

// BranchReset is the in-person recovery: a teller who checked the
// customer's ID document revokes every device of the customer and lifts
// every restriction and block. It returns the revoked device ids.
func (s *Service) BranchReset(ctx context.Context, teller *operator.Operator, customerID, idCheck string) ([]string, error) {
	if !holds(teller, operator.RoleTeller) {
		return nil, operator.ErrRole
	}
	if !slices.Contains(IDDocuments, idCheck) {
		return nil, ErrIDCheckInvalid
	}
	if customerID == "" || len(customerID) > 64 {
		return nil, errs.ErrNotFound
	}
	now := s.Now().UTC()
	e := operatorEntry(teller, ActionBranchReset, customerID, now, map[string]string{"id_check": idCheck})
	note := notify.New(customerID, notify.KindRegistrationReleased, map[string]string{"by": "branch"}, now)
	return s.Store.ResetCustomer(ctx, customerID, s.lift(now, true), e, []notify.Notification{note})
}

func holds(op *operator.Operator, role operator.Role) bool {
	return op != nil && !op.Disabled && op.Has(role)
}

func validReason(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= 500 && utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n'
	}) < 0
}

// completeChecklist requires exactly ChecklistItems, every one true.
func completeChecklist(c map[string]bool) bool {
	if len(c) != len(ChecklistItems) {
		return false
	}
	for _, item := range ChecklistItems {
		if !c[item] {
			return false
		}
	}
	return true
}

func operatorEntry(op *operator.Operator, action, customerID string, now time.Time, details map[string]string) audit.Entry {
	return audit.Entry{Time: now, Actor: op.ID, Action: action, Target: customerID, Result: audit.ResultSuccess, Details: details}
}

func reasonAAD(id string) crypto.AAD {
	return crypto.AAD{Table: "device_releases", Column: "reason", RowID: id}
}
