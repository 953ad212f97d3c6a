package fds

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/errs"
)

func engineWithCase(t *testing.T) (*Engine, *memStore) {
	t.Helper()
	e, s, c := newTestEngine(t)
	s.cases["case_1"] = &Case{ID: "case_1", DecisionID: "dec_1", Outcome: Review, Status: CaseOpen, CreatedAt: c.Now(), UpdatedAt: c.Now()}
	return e, s
}

func TestCaseWork(t *testing.T) {
	ctx := context.Background()
	e, s := engineWithCase(t)
	c, err := e.AssignCase(ctx, "op_lead", "case_1", "op_ana")
	if err != nil || c.Assignee != "op_ana" {
		t.Fatalf("assign: %+v %v", c, err)
	}
	long := strings.Repeat("가", MaxCommentLen) // characters, not bytes
	if c, err = e.CommentCase(ctx, "op_ana", "case_1", "  "+long+"\n"); err != nil || len(c.Comments) != 1 || c.Comments[0].Text != long || c.Comments[0].Author != "op_ana" {
		t.Fatalf("comment: %v", err)
	}
	if c, err = e.CloseCase(ctx, "op_ana", "case_1", ResolutionFraud); err != nil || c.Status != CaseClosed || c.Resolution != ResolutionFraud {
		t.Fatalf("close: %+v %v", c, err)
	}
	if _, err = e.CloseCase(ctx, "op_ana", "case_1", ResolutionLegitimate); !errors.Is(err, ErrCaseClosed) {
		t.Fatalf("closing twice: %v", err)
	}
	if _, err = e.AssignCase(ctx, "op_lead", "case_1", "op_other"); !errors.Is(err, ErrCaseClosed) {
		t.Fatalf("assigning a closed case: %v", err)
	}
	if c, err = e.CommentCase(ctx, "op_lead", "case_1", "reviewed"); err != nil || len(c.Comments) != 2 {
		t.Fatalf("a closed case takes comments: %v", err)
	}
	stored, _ := s.Case(ctx, "case_1")
	if stored.Status != CaseClosed || stored.Assignee != "op_ana" || len(stored.Comments) != 2 {
		t.Fatalf("stored %+v", stored)
	}
	want := []string{ActionCaseAssign, ActionCaseComment, ActionCaseClose, ActionCaseComment}
	if got := s.auditActions(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("audit %v, want %v", got, want)
	}
	for _, a := range s.audits {
		if strings.Contains(strings.Join(mapValues(a.Details), " "), "가") {
			t.Fatal("comment text leaked into the audit log")
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestCaseWorkRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(e *Engine) error
		want error
	}{
		{"empty comment", func(e *Engine) error { _, err := e.CommentCase(ctx, "op_1", "case_1", " \n "); return err }, ErrInvalidComment},
		{"comment too long", func(e *Engine) error {
			_, err := e.CommentCase(ctx, "op_1", "case_1", strings.Repeat("a", MaxCommentLen+1))
			return err
		}, ErrInvalidComment},
		{"comment with an escape sequence", func(e *Engine) error {
			_, err := e.CommentCase(ctx, "op_1", "case_1", "fine\x1b[2Kcleared")
			return err
		}, ErrInvalidComment},
		{"comment with a carriage return", func(e *Engine) error { _, err := e.CommentCase(ctx, "op_1", "case_1", "a\rb"); return err }, ErrInvalidComment},
		{"unknown resolution", func(e *Engine) error { _, err := e.CloseCase(ctx, "op_1", "case_1", "meh"); return err }, ErrInvalidResolution},
		{"bad assignee", func(e *Engine) error { _, err := e.AssignCase(ctx, "op_1", "case_1", "op 2"); return err }, ErrInvalidAssignee},
		{"no actor", func(e *Engine) error { _, err := e.AssignCase(ctx, "", "case_1", "op_2"); return err }, errs.ErrInvalid},
		{"unknown case", func(e *Engine) error { _, err := e.AssignCase(ctx, "op_1", "case_2", "op_2"); return err }, errs.ErrNotFound},
		{"bad status filter", func(e *Engine) error { _, err := e.Cases(ctx, CaseFilter{Status: "pending"}); return err }, ErrInvalidCaseFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s := engineWithCase(t)
			if err := tc.do(e); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if c := s.cases["case_1"]; c.Version != 0 || len(s.audits) != 0 {
				t.Fatal("a refused change was written")
			}
		})
	}
}

func TestCaseConflictRetry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		conflicts int
		ok        bool
	}{
		{"two conflicts, third try writes", 2, true},
		{"three conflicts give up", 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s := engineWithCase(t)
			s.caseConflicts = tc.conflicts
			c, err := e.CommentCase(ctx, "op_1", "case_1", "looked at it")
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, errs.ErrConflict)) {
				t.Fatalf("err %v", err)
			}
			stored, _ := s.Case(ctx, "case_1")
			want := 0
			if tc.ok {
				want = 1
				if len(c.Comments) != 1 {
					t.Fatalf("returned %d comments", len(c.Comments))
				}
			}
			if len(stored.Comments) != want || len(s.audits) != want {
				t.Fatalf("stored %d comments, %d audit entries; want %d", len(stored.Comments), len(s.audits), want)
			}
		})
	}
}

func TestCasesFromDecisions(t *testing.T) {
	ctx := context.Background()
	e, s, c := newTestEngine(t)
	s.lists = append(s.lists, ListEntry{ID: "lst_1", List: ListCustomer, Value: "cus_1", Block: true, Reason: "mule"})
	d, err := e.Decide(ctx, login(c.Now()))
	if err != nil || d.Outcome != Deny {
		t.Fatalf("%+v %v", d, err)
	}
	open, err := e.Cases(ctx, CaseFilter{Status: CaseOpen})
	if err != nil || len(open) != 1 || open[0].ID != d.CaseID || open[0].CustomerID != "cus_1" {
		t.Fatalf("open cases %+v %v", open, err)
	}
	if got, err := e.Case(ctx, d.CaseID); err != nil || got.DecisionID != d.ID {
		t.Fatalf("%+v %v", got, err)
	}
}
