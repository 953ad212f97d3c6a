package idcheck

import (
	"context"
	"fmt"
)

// Record is a card as the simulated authority holds it.
type Record struct {
	Card
	Lost bool // reported lost or stolen
}

// Simulator is a Checker for the demo and tests. It is a SIMULATOR, not the
// issuing authority: it answers from a fixed in-memory registry. The real
// path is HTTP. Safe for concurrent use (it never changes after
// NewSimulator).
type Simulator struct {
	byKey map[string]Record
}

var _ Checker = (*Simulator)(nil)

// NewSimulator returns a simulator holding records. Records must be well
// formed; a malformed one is an error, since a fixture nobody can match is
// a mistake.
func NewSimulator(records ...Record) (*Simulator, error) {
	s := &Simulator{byKey: make(map[string]Record, len(records))}
	for _, r := range records {
		c, err := r.Card.Normalize()
		if err != nil {
			return nil, fmt.Errorf("idcheck: simulator record %s: %w", r.Card, err)
		}
		r.Card = c
		s.byKey[key(c)] = r
	}
	return s, nil
}

// DefaultRecords are the demo's cards. They are fictitious; the same
// people are the carrier simulator's subscribers.
func DefaultRecords() []Record {
	return []Record{
		{Card: Card{Kind: KindResident, Name: "김민수", RRN: "900101-1234567", IssueDate: "2015-03-02"}},
		{Card: Card{Kind: KindResident, Name: "이영희", RRN: "850505-2345678", IssueDate: "2012-07-01"}},
		{Card: Card{Kind: KindResident, Name: "박철수", RRN: "800315-1456789", IssueDate: "2010-01-15"}, Lost: true},
		{Card: Card{Kind: KindDriver, Name: "김민수", RRN: "900101-1234567", IssueDate: "2019-06-10",
			LicenceNumber: "11-15-123456-01", Serial: "A1B2C3"}},
		{Card: Card{Kind: KindDriver, Name: "최지은", RRN: "920720-2567890", IssueDate: "2017-08-21",
			LicenceNumber: "12-17-234567-02", Serial: "Z9Y8X7"}, Lost: true},
	}
}

// key is how the authority finds a card: a resident card by its RRN, a
// licence by its number.
func key(c Card) string {
	if c.Kind == KindDriver {
		return "driver:" + c.LicenceNumber
	}
	return "resident:" + c.RRN
}

// Check compares the card with the record of the same number. The lost
// register is consulted only when every field matches, so that it tells
// nothing about a card one cannot fully describe.
func (s *Simulator) Check(ctx context.Context, c Card) (Result, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c, err := c.Normalize()
	if err != nil {
		return "", err
	}
	r, ok := s.byKey[key(c)]
	switch {
	case !ok:
		return ResultUnknown, nil
	case r.Card != c:
		return ResultMismatch, nil
	case r.Lost:
		return ResultLost, nil
	}
	return ResultValid, nil
}
