package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/operator"
)

// Directory finds a customer's institution from the customer's id alone,
// for the operator routes: operators serve every institution.
type Directory interface {
	CustomerInstitution(ctx context.Context, customerID string) (string, error)
}

// customerDevices lists a customer's devices, newest first. The view
// (device.Device's JSON) holds no key, fingerprint or institution.
func (s *Server) customerDevices(w http.ResponseWriter, r *http.Request) error {
	instID, id, err := s.institutionCustomer(r)
	if err != nil {
		return err
	}
	devs, err := s.Devices.Devices(r.Context(), instID, id)
	if err != nil {
		return err
	}
	if devs == nil {
		devs = []*device.Device{}
	}
	respond(w, http.StatusOK, map[string]any{"devices": devs})
	return nil
}

// institutionCustomer returns the calling institution and the {id}
// customer, refusing another institution's customer as not found.
func (s *Server) institutionCustomer(r *http.Request) (string, string, error) {
	p, ok := principalFrom(r.Context())
	if !ok {
		return "", "", errs.ErrUnauth
	}
	id, err := pathID(r)
	if err != nil {
		return "", "", err
	}
	if _, err := s.Customers.Get(r.Context(), p.ClientID, id); err != nil {
		return "", "", err
	}
	return p.ClientID, id, nil
}

func (s *Server) registrationStatus(w http.ResponseWriter, r *http.Request) error {
	instID, id, err := s.institutionCustomer(r)
	if err != nil {
		return err
	}
	st, err := s.Devices.Status(r.Context(), instID, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, st)
	return nil
}

// idCardJSON is an ID card as the institution's app read it.
type idCardJSON struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	RRN           string `json:"rrn"`
	IssueDate     string `json:"issue_date"`
	LicenceNumber string `json:"licence_number"`
	Serial        string `json:"serial"`
}

func (c *idCardJSON) card() *idcheck.Card {
	if c == nil {
		return nil
	}
	return &idcheck.Card{Kind: idcheck.CardKind(c.Kind), Name: c.Name, RRN: c.RRN, IssueDate: c.IssueDate,
		LicenceNumber: c.LicenceNumber, Serial: c.Serial}
}

type stepUpRequest struct {
	Carrier     *identityJSON `json:"carrier"`
	IDCard      *idCardJSON   `json:"id_card"`
	EKYCSession string        `json:"ekyc_session"`
}

func (q *stepUpRequest) Validate() error {
	if q.Carrier == nil && q.IDCard == nil && q.EKYCSession == "" {
		return errs.ErrInvalid.WithField("carrier")
	}
	if q.EKYCSession != "" && !validSessionID(q.EKYCSession) {
		return errs.ErrInvalid.WithField("ekyc_session")
	}
	return nil
}

func (q *stepUpRequest) evidence() device.Evidence {
	ev := device.Evidence{IDCard: q.IDCard.card(), EKYCSession: q.EKYCSession}
	if q.Carrier != nil {
		id := q.Carrier.identity()
		ev.Carrier = &id
	}
	return ev
}

// stepUp lifts a restriction at once when two methods of stronger
// verification pass; fewer is 403 stepup_insufficient.
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request) error {
	instID, id, err := s.institutionCustomer(r)
	if err != nil {
		return err
	}
	var req stepUpRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	passed, err := s.Devices.LiftRestriction(r.Context(), instID, id, req.evidence())
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, map[string]any{"passed": passed, "lifted": true})
	return nil
}

// operatorCustomer returns the {id} customer and the institution its
// record names.
func (s *Server) operatorCustomer(ctx context.Context, id string) (string, error) {
	if !pathIDPattern.MatchString(id) {
		return "", errs.ErrNotFound
	}
	inst, err := s.Directory.CustomerInstitution(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return "", errs.ErrNotFound
	}
	return inst, err
}

func (s *Server) operatorRegistrationStatus(w http.ResponseWriter, r *http.Request) error {
	inst, err := s.operatorCustomer(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	st, err := s.Devices.Status(r.Context(), inst, r.PathValue("id"))
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, st)
	return nil
}

// releaseRequest is an agent's request for a call-center release.
type releaseRequest struct {
	CustomerID string          `json:"customer_id"`
	Reason     string          `json:"reason"`
	Checklist  map[string]bool `json:"checklist"`
}

// releaseView shows a release; the reason stays sealed.
type releaseView struct {
	ReleaseID   string     `json:"release_id"`
	CustomerID  string     `json:"customer_id"`
	State       string     `json:"state"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	ApprovedBy  string     `json:"approved_by,omitempty"`
	ApprovedAt  *time.Time `json:"approved_at,omitempty"`
}

func viewRelease(r *device.Release) releaseView {
	return releaseView{ReleaseID: r.ID, CustomerID: r.CustomerID, State: r.State, RequestedBy: r.RequestedBy,
		RequestedAt: r.RequestedAt, ExpiresAt: r.ExpiresAt, ApprovedBy: r.ApprovedBy, ApprovedAt: r.ApprovedAt}
}

func (s *Server) requestRelease(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	var req releaseRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	if _, err := s.operatorCustomer(r.Context(), req.CustomerID); errors.Is(err, errs.ErrNotFound) {
		return errs.ErrNotFound.WithField("customer_id")
	} else if err != nil {
		return err
	}
	rel, err := s.Devices.RequestRelease(r.Context(), a.op, req.CustomerID, req.Reason, req.Checklist)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, viewRelease(rel))
	return nil
}

func (s *Server) approveRelease(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	id, err := pathID(r)
	if err != nil {
		return device.ErrReleaseNotFound
	}
	rel, err := s.Devices.ApproveRelease(r.Context(), a.op, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, viewRelease(rel))
	return nil
}

type branchResetRequest struct {
	IDCheck string `json:"id_check"`
}

func (s *Server) branchReset(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	var req branchResetRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.operatorCustomer(r.Context(), id); err != nil {
		return err
	}
	revoked, err := s.Devices.BranchReset(r.Context(), a.op, id, req.IDCheck)
	if err != nil {
		return err
	}
	if revoked == nil {
		revoked = []string{}
	}
	respond(w, http.StatusOK, map[string]any{"customer_id": id, "revoked_device_ids": revoked})
	return nil
}

// validSessionID is the shape of an eKYC session id, checked before any
// lookup: "vs_" and lower-case base32.
func validSessionID(id string) bool {
	if len(id) < 4 || len(id) > 67 || id[:3] != "vs_" {
		return false
	}
	for _, c := range id[3:] {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
