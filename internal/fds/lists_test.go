package fds

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

func errAsField(err error) string {
	if e := errs.As(err); e != nil {
		return e.Field
	}
	return ""
}

func TestAddListEntry(t *testing.T) {
	tests := []struct {
		name   string
		list   ListKind
		value  string
		reason string
		want   string // canonical value; "" refused
		field  string
	}{
		{"device fingerprint", ListDevice, "A1B2C3D4E5F60718", "stolen", "a1b2c3d4e5f60718", ""},
		{"device not hex", ListDevice, "phone-1", "stolen", "", "value"},
		{"device too short", ListDevice, "abcd", "stolen", "", "value"},
		{"ip address", ListIP, " 203.0.113.7 ", "abuse", "203.0.113.7", ""},
		{"mapped ip address", ListIP, "::ffff:203.0.113.7", "abuse", "203.0.113.7", ""},
		{"cidr masked", ListIP, "10.1.2.3/8", "abuse", "10.0.0.0/8", ""},
		{"ipv6 prefix", ListIP, "2001:db8::1/32", "abuse", "2001:db8::/32", ""},
		{"too wide a prefix", ListIP, "0.0.0.0/0", "abuse", "", "value"},
		{"too wide ipv6", ListIP, "2000::/3", "abuse", "", "value"},
		{"not an ip", ListIP, "example.com", "abuse", "", "value"},
		{"customer", ListCustomer, "cus_1", "mule", "cus_1", ""},
		{"customer with markup", ListCustomer, "<b>", "mule", "", "value"},
		{"bin", ListBIN, "123456", "breach", "123456", ""},
		{"bin too long", ListBIN, "1234567", "breach", "", "value"},
		{"bin letters", ListBIN, "12345a", "breach", "", "value"},
		{"unknown list", "email", "a@b", "x", "", "list"},
		{"no reason", ListCustomer, "cus_1", "  ", "", "reason"},
		{"reason too long", ListCustomer, "cus_1", strings.Repeat("r", MaxListReason+1), "", "reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s, _ := newTestEngine(t)
			le, err := e.AddListEntry(context.Background(), "op_1", ListEntry{List: tc.list, Value: tc.value, Block: true, Reason: tc.reason})
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidListEntry) || len(s.lists) != 0 {
					t.Fatalf("accepted: %+v %v", le, err)
				}
				if f := errAsField(err); f != tc.field {
					t.Fatalf("field %q, want %q", f, tc.field)
				}
				return
			}
			if err != nil || le.Value != tc.want || !strings.HasPrefix(le.ID, "lst_") || le.CreatedBy != "op_1" || len(s.lists) != 1 {
				t.Fatalf("%+v %v", le, err)
			}
			if a := s.audits[0]; a.Action != ActionListAdd || a.Target != le.ID || strings.Contains(a.Details["list"]+a.Details["mode"], tc.want) {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

func TestListsDecideAndRemove(t *testing.T) {
	ctx := context.Background()
	e, s, c := newTestEngine(t)
	le, err := e.AddListEntry(ctx, "op_1", ListEntry{List: ListIP, Value: "203.0.113.0/24", Block: true, Reason: "botnet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddListEntry(ctx, "op_1", ListEntry{List: ListBIN, Value: "123456", Reason: "partner test cards"}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ListEntries(ctx, ListIP); err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := e.ListEntries(ctx, ""); err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	d, err := e.Decide(ctx, login(c.Now()))
	if err != nil || d.Outcome != Deny || d.Features["block_ip"] != true {
		t.Fatalf("%s %v", d.Outcome, err)
	}
	if err := e.RemoveListEntry(ctx, "op_1", le.ID); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	if d, err = e.Decide(ctx, login(c.Now())); err != nil || d.Outcome == Deny {
		t.Fatalf("still %s after removal: %v", d.Outcome, err)
	}
	if a := s.auditActions(); a[len(a)-1] != ActionListRemove {
		t.Fatalf("audit %v", a)
	}
	if _, err := e.ListEntries(ctx, "email"); !errors.Is(err, ErrInvalidListEntry) {
		t.Fatalf("unknown list: %v", err)
	}
}

// FuzzListValue: checking a value never panics, and a canonical value is
// its own canonical form, so stored entries compare equal to re-entered
// ones.
func FuzzListValue(f *testing.F) {
	for _, s := range []string{"10.1.2.3/8", "::ffff:1.2.3.4/120", "fe80::1%eth0", "A1B2C3D4E5F60718", "123456", "cus_1", "", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, l := range []ListKind{ListDevice, ListIP, ListCustomer, ListBIN} {
			c, ok := canonicalListValue(l, v)
			if !ok {
				continue
			}
			if again, ok2 := canonicalListValue(l, c); !ok2 || again != c {
				t.Fatalf("%s %q → %q → %q (%v)", l, v, c, again, ok2)
			}
		}
	})
}
