package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// Audit paging bounds.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 500
)

var errUnknownParam = errs.New(errs.Invalid, "unknown_parameter", "The query has a parameter this request does not take.", "쿼리에 이 요청이 받지 않는 매개변수가 있습니다.")

type verifyResponse struct {
	Intact         bool   `json:"intact"`
	Checked        int64  `json:"checked"`
	FirstBrokenSeq *int64 `json:"first_broken_seq,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	checked, brk, err := audit.Verify(r.Context(), s.Audit, s.AuditKey)
	if err != nil {
		return err
	}
	resp := verifyResponse{Intact: brk == nil, Checked: checked}
	if brk != nil {
		resp.FirstBrokenSeq, resp.Reason = &brk.Seq, brk.Reason
	}
	respond(w, http.StatusOK, resp)
	return nil
}

func (s *Server) auditEvents(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	events, err := s.Audit.AuditEvents(r.Context(), after, limit)
	if err != nil {
		return err
	}
	if events == nil {
		events = []audit.Event{}
	}
	next := after
	if len(events) > 0 {
		next = events[len(events)-1].Seq
	}
	respond(w, http.StatusOK, map[string]any{"events": events, "next_after": next})
	return nil
}

// parsePage reads ?after=N&limit=M strictly: each at most once, decimal,
// in range, and nothing else.
func parsePage(q url.Values) (after int64, limit int, err error) {
	for k, v := range q {
		if (k != "after" && k != "limit") || len(v) != 1 {
			return 0, 0, errUnknownParam.WithField(safeField(k))
		}
	}
	after, limit = 0, defaultAuditLimit
	if v, ok := q["after"]; ok {
		if after, err = strconv.ParseInt(v[0], 10, 64); err != nil || after < 0 {
			return 0, 0, errs.ErrInvalid.WithField("after")
		}
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxAuditLimit {
			return 0, 0, errs.ErrInvalid.WithField("limit")
		}
		limit = n
	}
	return after, limit, nil
}
