package api

import (
	"net/http"
	"strconv"

	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
)

// errNotViewable: only images are shown. The RRN and account number items
// are PII in the clear once opened; they serve lookups by blind index and
// stay sealed.
var errNotViewable = errs.New(errs.Conflict, "evidence_not_viewable",
	"Only images can be viewed; this evidence stays sealed.", "이미지만 볼 수 있습니다. 이 증빙은 암호화된 채로 보관됩니다.")

type evidenceList struct {
	Evidence []ekyc.Evidence `json:"evidence"`
}

// listEvidence describes a session's evidence (no contents); audited.
func (s *Server) listEvidence(w http.ResponseWriter, r *http.Request) error {
	v, actor, inst, id, err := s.evidenceScope(r)
	if err != nil {
		return err
	}
	items, err := v.ListEvidence(r.Context(), actor, inst, id)
	if err != nil {
		return err
	}
	if items == nil {
		items = []ekyc.Evidence{}
	}
	respond(w, http.StatusOK, evidenceList{Evidence: items})
	return nil
}

// viewEvidence shows an ID image, as an agent on a video call or an
// auditor needs it. The read is audited before the bytes leave.
func (s *Server) viewEvidence(w http.ResponseWriter, r *http.Request) error {
	v, actor, inst, id, err := s.evidenceScope(r)
	if err != nil {
		return err
	}
	eid := r.PathValue("evidence_id")
	if !pathIDPattern.MatchString(eid) {
		return errs.ErrNotFound
	}
	ev, data, err := v.ReadEvidence(r.Context(), actor, inst, id, eid)
	if err != nil {
		return err
	}
	if ev.Kind != ekyc.EvidenceIDImage {
		clear(data)
		return errNotViewable
	}
	w.Header().Set("Content-Type", ev.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Disposition", "inline")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

// evidenceScope is the service, the operator as actor, and the session's
// institution and id.
func (s *Server) evidenceScope(r *http.Request) (*ekyc.Service, string, string, string, error) {
	v, err := s.verifications()
	if err != nil {
		return nil, "", "", "", err
	}
	a, ok := operatorFrom(r.Context())
	if !ok {
		return nil, "", "", "", operator.ErrNoSession
	}
	id, err := pathID(r)
	if err != nil {
		return nil, "", "", "", err
	}
	inst, err := v.InstitutionOf(r.Context(), id)
	if err != nil {
		return nil, "", "", "", err
	}
	return v, actorOf(a), inst, id, nil
}
