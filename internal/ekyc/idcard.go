package ekyc

import (
	"context"
	"fmt"

	"golang.org/x/text/unicode/norm"

	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/mask"
)

// MaxIDCardAttempts is how many counted tries the id_card method allows.
const MaxIDCardAttempts = 3

// Reasons of the id_card method.
const (
	ReasonNameMismatch  = "name_mismatch"
	ReasonBirthMismatch = "birth_date_mismatch"
	ReasonIDLost        = "id_reported_lost"
	ReasonIDMismatch    = "id_field_mismatch"
	ReasonIDUnknown     = "id_unknown"
)

func (s *Service) submitIDCard(ctx context.Context, id string, card idcheck.Card, image []byte) (*View, error) {
	if s.IDCheck == nil {
		return nil, ErrMethodUnavailable
	}
	contentType, err := ImageType(image)
	if err != nil {
		return nil, err
	}
	card, birth, err := normalizeCard(card)
	if err != nil {
		return nil, err
	}
	r, err := s.begin(ctx, id, IDCard)
	if err != nil {
		return nil, err
	}
	a, err := s.cardAttempt(ctx, r, card, image, contentType)
	if err != nil {
		return nil, err
	}
	switch {
	case card.Name != r.Applicant.Name:
		return s.run(ctx, a.decide(wrong, ReasonNameMismatch))
	case birth != r.Applicant.BirthDate:
		return s.run(ctx, a.decide(wrong, ReasonBirthMismatch))
	}
	if _, err := s.update(ctx, id, reserve(IDCard, MaxIDCardAttempts)); err != nil {
		return nil, err
	}
	a.reserved = true
	res, err := s.IDCheck.Check(ctx, card)
	if err != nil {
		return nil, s.undecided(ctx, a, err)
	}
	v, reason, err := cardVerdict(res)
	if err != nil {
		return nil, s.undecided(ctx, a, err)
	}
	return s.run(ctx, a.decide(v, reason))
}

// normalizeCard checks the card's form (a real date in the RRN, a valid
// seventh digit; not its check digit) and returns it with its name in NFC
// and the birth date its RRN encodes.
func normalizeCard(card idcheck.Card) (idcheck.Card, string, error) {
	card, err := card.Normalize()
	if err != nil {
		return card, "", err
	}
	_, birth, err := customer.NormalizeRRN(card.RRN)
	if err != nil {
		return card, "", idcheck.ErrInvalidCard.WithField("rrn")
	}
	card.Name = norm.NFC.String(card.Name)
	return card, birth, nil
}

// cardAttempt prepares the attempt with the sealed image and RRN.
func (s *Service) cardAttempt(ctx context.Context, r *Record, card idcheck.Card, image []byte, contentType string) (*attempt, error) {
	now := s.now()
	img, err := s.newEvidence(r, IDCard, EvidenceIDImage, contentType, image, nil, now)
	if err != nil {
		return nil, err
	}
	rrn, err := s.newEvidence(r, IDCard, EvidenceRRN, TypeText, []byte(card.RRN), s.RRNIndex(card.RRN), now)
	if err != nil {
		return nil, err
	}
	a := s.newAttempt(ctx, r, IDCard, MaxIDCardAttempts)
	a.evidence, a.ref = []EvidenceRecord{img, rrn}, img.ID
	a.details = map[string]string{"card": string(card.Kind), "name": mask.Name(card.Name), "rrn": mask.RRN(card.RRN),
		"image_type": contentType, "image_size": fmt.Sprint(len(image))}
	return a, nil
}

// cardVerdict reads the authority's answer. A reported-lost card fails the
// method at once: whoever holds it is not to be verified with it.
func cardVerdict(res idcheck.Result) (verdict, string, error) {
	switch res {
	case idcheck.ResultValid:
		return pass, "", nil
	case idcheck.ResultLost:
		return fail, ReasonIDLost, nil
	case idcheck.ResultMismatch:
		return wrong, ReasonIDMismatch, nil
	case idcheck.ResultUnknown:
		return wrong, ReasonIDUnknown, nil
	}
	return release, "", fmt.Errorf("id check answered %q", res)
}
