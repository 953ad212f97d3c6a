package fds

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// Case work limits and resolutions.
const (
	MaxCommentLen   = 2000 // characters
	DefaultCasePage = 50
	MaxCasePage     = 500

	ResolutionFraud        = "fraud"
	ResolutionLegitimate   = "legitimate"
	ResolutionInconclusive = "inconclusive"
)

// Audit actions of case work.
const (
	ActionCaseAssign  = "fds.case.assign"
	ActionCaseComment = "fds.case.comment"
	ActionCaseClose   = "fds.case.close"
)

// caseRetries bounds optimistic retries when another analyst changed the
// case in between; past that the conflict is reported.
const caseRetries = 3

var (
	ErrCaseClosed = errs.New(errs.Conflict, "case_closed",
		"The case is closed.", "사건이 이미 종결되었습니다.")
	ErrInvalidComment = errs.New(errs.Invalid, "invalid_comment",
		"A comment must have 1 to 2000 characters.", "의견은 1자 이상 2000자 이하여야 합니다.")
	ErrInvalidResolution = errs.New(errs.Invalid, "invalid_resolution",
		"The resolution must be fraud, legitimate or inconclusive.", "처리 결과는 fraud, legitimate, inconclusive 중 하나여야 합니다.")
	ErrInvalidAssignee = errs.New(errs.Invalid, "invalid_assignee",
		"The assignee is not a valid operator id.", "담당자가 올바른 운영자 ID가 아닙니다.")
	ErrInvalidCaseFilter = errs.New(errs.Invalid, "invalid_case_filter",
		"The case filter is not valid.", "사건 조건이 올바르지 않습니다.")
)

// Cases lists cases, DefaultCasePage at a time unless the filter says
// otherwise (at most MaxCasePage).
func (e *Engine) Cases(ctx context.Context, f CaseFilter) ([]Case, error) {
	switch {
	case f.Status != "" && f.Status != CaseOpen && f.Status != CaseClosed:
		return nil, ErrInvalidCaseFilter.WithField("status")
	case f.Assignee != "" && !saneID(f.Assignee):
		return nil, ErrInvalidCaseFilter.WithField("assignee")
	case f.Limit < 0:
		return nil, ErrInvalidCaseFilter.WithField("limit")
	case f.Limit == 0:
		f.Limit = DefaultCasePage
	}
	f.Limit = min(f.Limit, MaxCasePage)
	return e.Store.Cases(ctx, f)
}

// Case returns one case.
func (e *Engine) Case(ctx context.Context, id string) (*Case, error) {
	if !saneID(id) {
		return nil, errs.ErrNotFound
	}
	return e.Store.Case(ctx, id)
}

// AssignCase, CommentCase and CloseCase are an analyst's work on a case;
// each is audited with the analyst as actor. A closed case takes comments
// but no new assignee and cannot close again.
func (e *Engine) AssignCase(ctx context.Context, actor, id, assignee string) (*Case, error) {
	if !saneID(assignee) {
		return nil, ErrInvalidAssignee.WithField("assignee")
	}
	return e.updateCase(ctx, actor, id, ActionCaseAssign, map[string]string{"assignee": assignee},
		func(c *Case) error {
			if c.Status == CaseClosed {
				return ErrCaseClosed
			}
			c.Assignee = assignee
			return nil
		})
}

func (e *Engine) CommentCase(ctx context.Context, actor, id, text string) (*Case, error) {
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxCommentLen || hasControl(text) {
		return nil, ErrInvalidComment.WithField("text")
	}
	// The audit entry records that a comment was made, not its words,
	// which may quote personal details.
	details := map[string]string{"chars": strconv.Itoa(utf8.RuneCountInString(text))}
	return e.updateCase(ctx, actor, id, ActionCaseComment, details, func(c *Case) error {
		c.Comments = append(c.Comments, Comment{Author: actor, Text: text, At: e.Now().UTC()})
		return nil
	})
}

func (e *Engine) CloseCase(ctx context.Context, actor, id, resolution string) (*Case, error) {
	switch resolution {
	case ResolutionFraud, ResolutionLegitimate, ResolutionInconclusive:
	default:
		return nil, ErrInvalidResolution.WithField("resolution")
	}
	return e.updateCase(ctx, actor, id, ActionCaseClose, map[string]string{"resolution": resolution},
		func(c *Case) error {
			if c.Status == CaseClosed {
				return ErrCaseClosed
			}
			c.Status, c.Resolution = CaseClosed, resolution
			return nil
		})
}

// updateCase reads the case, applies change and writes it back only if
// nobody wrote in between, re-reading and re-applying on a conflict.
func (e *Engine) updateCase(ctx context.Context, actor, id, action string, details map[string]string, change func(*Case) error) (*Case, error) {
	if err := checkActor(actor); err != nil {
		return nil, err
	}
	if !saneID(id) {
		return nil, errs.ErrNotFound
	}
	var err error
	for range caseRetries {
		var c *Case
		if c, err = e.Store.Case(ctx, id); err != nil {
			return nil, err
		}
		if err = change(c); err != nil {
			return nil, err
		}
		now := e.Now().UTC()
		c.UpdatedAt = now
		entry := audit.Fill(ctx, audit.Entry{Time: now, Actor: actor, Action: action, Target: id,
			Result: audit.ResultSuccess, Details: details})
		if err = e.Store.UpdateCase(ctx, c, entry); err == nil {
			return c, nil
		}
		if !errors.Is(err, errs.ErrConflict) {
			return nil, err
		}
	}
	return nil, err
}

// hasControl reports a control character other than newline and tab: a
// comment is shown in consoles and exports, where escape sequences or
// carriage returns could disguise what an analyst wrote.
func hasControl(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return true
		}
	}
	return false
}
