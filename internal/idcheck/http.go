package idcheck

import (
	"context"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// HTTP is the Checker backed by the real authenticity service (for
// instance a gateway to the 행정안전부 and 경찰청 services), spoken to
// over this JSON API with "Authorization: Bearer <token>":
//
//	POST {base}/v1/id-check {"kind", "name", "rrn" (13 digits), "issue_date",
//	     "licence_number" (12 digits, licences only), "serial" (licences only)}
//	  → 200 {"result": "valid" | "lost" | "mismatch" | "unknown"}
//
// The card is checked for form before it is sent. Any other status or
// result, a malformed answer or a timeout is an error wrapping
// errs.ErrUnavailable; errors never show the card unmasked.
type HTTP struct {
	c *jsonapi.Client
}

var _ Checker = (*HTTP)(nil)

// NewHTTP returns an adapter for the service at cfg.BaseURL.
func NewHTTP(cfg jsonapi.Config) (*HTTP, error) {
	c, err := jsonapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("idcheck: %w", err)
	}
	return &HTTP{c: c}, nil
}

type checkRequest struct {
	Kind          CardKind `json:"kind"`
	Name          string   `json:"name"`
	RRN           string   `json:"rrn"`
	IssueDate     string   `json:"issue_date"`
	LicenceNumber string   `json:"licence_number,omitempty"`
	Serial        string   `json:"serial,omitempty"`
}

type checkAnswer struct {
	Result Result `json:"result"`
}

// Check asks the authority about c.
func (h *HTTP) Check(ctx context.Context, c Card) (Result, error) {
	c, err := c.Normalize()
	if err != nil {
		return "", err
	}
	req := checkRequest(c)
	var a checkAnswer
	if err := h.c.Post(ctx, "v1/id-check", req, &a); err != nil {
		return "", fmt.Errorf("idcheck: check %s: %w", c, err)
	}
	if !a.Result.Valid() {
		return "", errs.ErrUnavailable.WithCause(fmt.Errorf("idcheck: check %s: unrecognised result", c))
	}
	return a.Result, nil
}
