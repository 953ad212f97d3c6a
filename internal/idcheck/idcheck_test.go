package idcheck_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idcheck"
)

var (
	kimCard    = idcheck.Card{Kind: idcheck.KindResident, Name: "김민수", RRN: "900101-1234567", IssueDate: "2015-03-02"}
	kimLicence = idcheck.Card{Kind: idcheck.KindDriver, Name: "김민수", RRN: "900101-1234567", IssueDate: "2019-06-10",
		LicenceNumber: "11-15-123456-01", Serial: "A1B2C3"}
)

func change(c idcheck.Card, f func(*idcheck.Card)) idcheck.Card {
	f(&c)
	return c
}

func newSim(t *testing.T) *idcheck.Simulator {
	t.Helper()
	sim, err := idcheck.NewSimulator(idcheck.DefaultRecords()...)
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

func TestSimulatorCheck(t *testing.T) {
	sim := newSim(t)
	tests := []struct {
		name string
		card idcheck.Card
		want idcheck.Result
	}{
		{"ok/resident card", kimCard, idcheck.ResultValid},
		{"ok/resident card without hyphen, spaced name", change(kimCard, func(c *idcheck.Card) { c.RRN, c.Name = "9001011234567", " 김민수 " }), idcheck.ResultValid},
		{"ok/another resident", idcheck.Card{Kind: idcheck.KindResident, Name: "이영희", RRN: "850505-2345678", IssueDate: "2012-07-01"}, idcheck.ResultValid},
		{"ok/driver's licence", kimLicence, idcheck.ResultValid},
		{"ok/licence number without hyphens", change(kimLicence, func(c *idcheck.Card) { c.LicenceNumber = "111512345601" }), idcheck.ResultValid},
		{"lost/resident card", idcheck.Card{Kind: idcheck.KindResident, Name: "박철수", RRN: "800315-1456789", IssueDate: "2010-01-15"}, idcheck.ResultLost},
		{"lost/licence", idcheck.Card{Kind: idcheck.KindDriver, Name: "최지은", RRN: "920720-2567890", IssueDate: "2017-08-21",
			LicenceNumber: "12-17-234567-02", Serial: "Z9Y8X7"}, idcheck.ResultLost},
		{"mismatch/lost card with another issue date", idcheck.Card{Kind: idcheck.KindResident, Name: "박철수", RRN: "800315-1456789", IssueDate: "2011-01-15"}, idcheck.ResultMismatch},
		{"mismatch/other name", change(kimCard, func(c *idcheck.Card) { c.Name = "김민준" }), idcheck.ResultMismatch},
		{"mismatch/other issue date (a reissued card)", change(kimCard, func(c *idcheck.Card) { c.IssueDate = "2015-03-03" }), idcheck.ResultMismatch},
		{"mismatch/licence serial", change(kimLicence, func(c *idcheck.Card) { c.Serial = "A1B2C4" }), idcheck.ResultMismatch},
		{"mismatch/licence of another RRN", change(kimLicence, func(c *idcheck.Card) { c.RRN = "850505-2345678" }), idcheck.ResultMismatch},
		{"mismatch/licence issue date", change(kimLicence, func(c *idcheck.Card) { c.IssueDate = "2015-03-02" }), idcheck.ResultMismatch},
		{"unknown/RRN", change(kimCard, func(c *idcheck.Card) { c.RRN = "900101-1234568" }), idcheck.ResultUnknown},
		{"unknown/licence number", change(kimLicence, func(c *idcheck.Card) { c.LicenceNumber = "11-15-123456-02" }), idcheck.ResultUnknown},
		{"unknown/post-2020 RRN without check digit", change(kimCard, func(c *idcheck.Card) { c.RRN = "210315-3000000" }), idcheck.ResultUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sim.Check(t.Context(), tc.card)
			if err != nil || got != tc.want {
				t.Fatalf("Check = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("error/cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := sim.Check(ctx, kimCard); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v", err)
		}
	})
}

// invalidCards are malformed cards and the field each must be refused for.
var invalidCards = []struct {
	name  string
	card  idcheck.Card
	field string
}{
	{"error/kind", change(kimCard, func(c *idcheck.Card) { c.Kind = "passport" }), "kind"},
	{"error/empty name", change(kimCard, func(c *idcheck.Card) { c.Name = "  " }), "name"},
	{"error/name with digits", change(kimCard, func(c *idcheck.Card) { c.Name = "김민수1" }), "name"},
	{"error/name too long", change(kimCard, func(c *idcheck.Card) { c.Name = strings.Repeat("김", 41) }), "name"},
	{"error/name with control character", change(kimCard, func(c *idcheck.Card) { c.Name = "김\n민수" }), "name"},
	{"error/RRN short", change(kimCard, func(c *idcheck.Card) { c.RRN = "900101-123456" }), "rrn"},
	{"error/RRN letters", change(kimCard, func(c *idcheck.Card) { c.RRN = "900101-123456a" }), "rrn"},
	{"error/RRN hyphen misplaced", change(kimCard, func(c *idcheck.Card) { c.RRN = "90010-11234567" }), "rrn"},
	{"error/RRN 13th month", change(kimCard, func(c *idcheck.Card) { c.RRN = "901301-1234567" }), "rrn"},
	{"error/RRN 30 February", change(kimCard, func(c *idcheck.Card) { c.RRN = "900230-1234567" }), "rrn"},
	{"error/RRN 29 February 1900 (not a leap year)", change(kimCard, func(c *idcheck.Card) { c.RRN = "000229-1234567" }), "rrn"},
	{"error/issue date format", change(kimCard, func(c *idcheck.Card) { c.IssueDate = "2015.03.02" }), "issue_date"},
	{"error/issue date unreal", change(kimCard, func(c *idcheck.Card) { c.IssueDate = "2015-02-30" }), "issue_date"},
	{"error/resident card with licence number", change(kimCard, func(c *idcheck.Card) { c.LicenceNumber = "111512345601" }), "licence_number"},
	{"error/resident card with serial", change(kimCard, func(c *idcheck.Card) { c.Serial = "A1B2C3" }), "serial"},
	{"error/licence number short", change(kimLicence, func(c *idcheck.Card) { c.LicenceNumber = "11-15-12345-01" }), "licence_number"},
	{"error/licence number missing", change(kimLicence, func(c *idcheck.Card) { c.LicenceNumber = "" }), "licence_number"},
	{"error/serial missing", change(kimLicence, func(c *idcheck.Card) { c.Serial = "" }), "serial"},
	{"error/serial symbols", change(kimLicence, func(c *idcheck.Card) { c.Serial = "A1-B2" }), "serial"},
}

func TestSimulatorRefusesMalformed(t *testing.T) {
	sim := newSim(t)
	for _, tc := range invalidCards {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.Check(t.Context(), tc.card)
			wantInvalid(t, err, tc.field)
		})
	}
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	e := errs.As(err)
	if !errors.Is(err, idcheck.ErrInvalidCard) || e.Field != field || e.Kind != errs.Invalid {
		t.Fatalf("error = %v (field %q), want id_card_invalid on %q", err, e.Field, field)
	}
}

func TestNormalizeCenturies(t *testing.T) {
	for _, rrn := range []string{"000229-3000000", "991231-2000000", "000101-9000000", "800101-5000000", "100101-7000000"} {
		if _, err := change(kimCard, func(c *idcheck.Card) { c.RRN = rrn }).Normalize(); err != nil {
			t.Errorf("%s refused: %v", rrn, err)
		}
	}
}

func TestNewSimulatorRefusesMalformedRecord(t *testing.T) {
	bad := idcheck.Record{Card: change(kimCard, func(c *idcheck.Card) { c.RRN = "x" })}
	if _, err := idcheck.NewSimulator(bad); !errors.Is(err, idcheck.ErrInvalidCard) {
		t.Fatalf("error = %v", err)
	}
}

func TestCardPrintsMasked(t *testing.T) {
	for _, s := range []string{fmt.Sprint(kimLicence), fmt.Sprintf("%v", kimLicence), fmt.Sprintf("%+v", kimLicence),
		fmt.Sprintf("%#v", kimLicence), kimLicence.LogValue().String()} {
		if strings.Contains(s, "1234567") || strings.Contains(s, "123456-01") || strings.Contains(s, "김민수") ||
			strings.Contains(s, "A1B2C3") || !strings.Contains(s, "900101-1******") {
			t.Errorf("printed %q", s)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("resident", "김민수", "900101-1234567", "2015-03-02", "", "")
	f.Add("driver", "김민수", "9001011234567", "2019-06-10", "11-15-123456-01", "A1B2C3")
	f.Add("driver", "x", "000229-3000000", "2020-02-29", "111512345601", "Z")
	f.Add("resident", "", "-", "--", "-", "\x00")
	f.Fuzz(func(t *testing.T, kind, name, rrn, issue, licence, serial string) {
		c := idcheck.Card{Kind: idcheck.CardKind(kind), Name: name, RRN: rrn, IssueDate: issue, LicenceNumber: licence, Serial: serial}
		n, err := c.Normalize()
		if err != nil {
			if !errors.Is(err, idcheck.ErrInvalidCard) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if s := c.String(); strings.Contains(s, n.RRN[7:]) {
			t.Fatalf("String shows the RRN: %q", s)
		}
		if len(n.RRN) != 13 || n.Name == "" || (n.Kind == idcheck.KindDriver && len(n.LicenceNumber) != 12) {
			t.Fatalf("normalized to %#v", n)
		}
		if again, err := n.Normalize(); err != nil || again != n {
			t.Fatalf("normalizing twice changed it: %v", err)
		}
	})
}
