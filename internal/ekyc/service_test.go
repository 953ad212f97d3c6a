package ekyc_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idcheck"
)

var both = ekyc.Policy{Required: []ekyc.Method{ekyc.IDCard, ekyc.ExistingAccount}}

func TestHappyPathPassesAndAnnouncesOnce(t *testing.T) {
	f := newFixture(t)
	o := f.open(kim, both)
	id := o.Session.ID
	if !strings.HasPrefix(id, "vs_") || o.ApplicantToken == "" {
		t.Fatalf("opened %q with token %q", id, o.ApplicantToken)
	}
	v := f.idCard(id, kimCard)
	if method(v, ekyc.IDCard).Status != ekyc.MethodPassed || v.Status != ekyc.StatusPending {
		t.Fatalf("after id_card: %+v", v)
	}
	if len(f.events()) != 0 {
		t.Fatal("an event before the session was decided")
	}
	v = f.account(id, kimAccount)
	if v.Status != ekyc.StatusPassed || !slices.Equal(v.Passed, []ekyc.Method{ekyc.IDCard, ekyc.ExistingAccount}) || v.DecidedAt == nil {
		t.Fatalf("after existing_account: %+v", v)
	}
	if st := f.bank.Statement(kimAccount); len(st) != 1 || st[0].AmountKRW != 1 {
		t.Fatalf("deposits = %v, want one of 1 KRW", st)
	}
	evs := f.events()
	if len(evs) != 1 || evs[0].Owner != inst || evs[0].Type != "verification.passed" {
		t.Fatalf("events = %+v, want one verification.passed to %s", evs, inst)
	}
	var body struct {
		ID, Type string
		Data     ekyc.View
	}
	must(t, json.Unmarshal([]byte(evs[0].Payload), &body))
	if !strings.HasPrefix(body.ID, "evt_") || body.Type != "verification.passed" || body.Data.ID != id ||
		body.Data.Status != ekyc.StatusPassed || body.Data.Applicant.Name != "김*수" || body.Data.Applicant.Phone != "010-****-5678" {
		t.Fatalf("payload = %s", evs[0].Payload)
	}
	for _, pii := range kimIDPattern {
		if strings.Contains(evs[0].Payload, pii) {
			t.Fatalf("payload holds %q in the clear: %s", pii, evs[0].Payload)
		}
	}
	got, err := f.svc.Get(context.Background(), inst, id)
	must(t, err)
	if got.Status != ekyc.StatusPassed || got.Applicant.BirthDate != "1990-**-**" {
		t.Fatalf("get = %+v", got)
	}
	f.verifyChain()
}

func TestIDCardVerdicts(t *testing.T) {
	tests := []struct {
		name     string
		who      ekyc.Applicant
		card     idcheck.Card
		status   ekyc.MethodStatus
		reason   string
		attempts int
	}{
		{"ok/valid card", kim, kimCard, ekyc.MethodPassed, "", 0},
		{"fail/reported lost fails at once", park, parkCard, ekyc.MethodFailed, ekyc.ReasonIDLost, 1},
		{"wrong/another person's name", kim, leeCard, ekyc.MethodStarted, ekyc.ReasonNameMismatch, 1},
		{"wrong/birth date of another person", kim, with(leeCard, func(c *idcheck.Card) { c.Name = kim.Name }), ekyc.MethodStarted, ekyc.ReasonBirthMismatch, 1},
		{"wrong/card the authority does not know", kim, with(kimCard, func(c *idcheck.Card) { c.RRN = "900101-1999999" }), ekyc.MethodStarted, ekyc.ReasonIDUnknown, 1},
		{"wrong/field differs from the record", kim, with(kimCard, func(c *idcheck.Card) { c.IssueDate = "2016-01-01" }), ekyc.MethodStarted, ekyc.ReasonIDMismatch, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.open(tc.who, ekyc.Policy{}).Session.ID
			head := f.head()
			v := f.idCard(id, tc.card)
			st := method(v, ekyc.IDCard)
			if st.Status != tc.status || st.Reason != tc.reason || st.Attempts != tc.attempts {
				t.Fatalf("id_card = %+v, want %s/%q/%d", st, tc.status, tc.reason, tc.attempts)
			}
			evs := f.auditSince(head)
			if len(evs) != 1 || evs[0].Action != "ekyc.id_card" || evs[0].Target != id {
				t.Fatalf("audit = %+v, want one ekyc.id_card entry", evs)
			}
			if d := evs[0].Details; d["rrn"] != tc.card.RRN[:8]+"******" || strings.Contains(d["name"], tc.card.Name) {
				t.Fatalf("audit details not masked: %v", d)
			}
		})
	}
}

func with(c idcheck.Card, fn func(*idcheck.Card)) idcheck.Card { fn(&c); return c }

func TestIDCardFailsAfterThreeAttempts(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	unknown := with(kimCard, func(c *idcheck.Card) { c.RRN = "900101-1999999" })
	for i := 1; i <= ekyc.MaxIDCardAttempts; i++ {
		st := method(f.idCard(id, unknown), ekyc.IDCard)
		if st.Attempts != i || (i < 3) != (st.Status == ekyc.MethodStarted) {
			t.Fatalf("attempt %d: %+v", i, st)
		}
	}
	r, head := f.record(id), f.head()
	_, err := f.svc.SubmitIDCard(f.ctx(), id, kimCard, kimIDImage)
	wantErr(t, err, ekyc.ErrMethodClosed)
	f.unchanged(id, r.Version, head)
}

func TestIDCardFormatIsRefusedUncounted(t *testing.T) {
	tests := []struct {
		name  string
		card  idcheck.Card
		image []byte
		kind  errs.Kind
	}{
		{"error/RRN date 30 February", with(kimCard, func(c *idcheck.Card) { c.RRN = "900230-1234567" }), kimIDImage, errs.Invalid},
		{"error/seventh digit puts 29 February in 1900", with(kimCard, func(c *idcheck.Card) { c.RRN = "000229-1234567" }), kimIDImage, errs.Invalid},
		{"error/seventh digit not a digit", with(kimCard, func(c *idcheck.Card) { c.RRN = "900101-A234567" }), kimIDImage, errs.Invalid},
		{"error/RRN too short", with(kimCard, func(c *idcheck.Card) { c.RRN = "900101-123456" }), kimIDImage, errs.Invalid},
		{"error/unknown kind", with(kimCard, func(c *idcheck.Card) { c.Kind = "passport" }), kimIDImage, errs.Invalid},
		{"error/no image", kimCard, nil, errs.Invalid},
		{"error/image over 5 MiB", kimCard, make([]byte, ekyc.MaxImageBytes+1), errs.TooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.open(kim, ekyc.Policy{}).Session.ID
			head := f.head()
			_, err := f.svc.SubmitIDCard(f.ctx(), id, tc.card, tc.image)
			if err == nil || errs.KindOf(err) != tc.kind {
				t.Fatalf("error = %v, want kind %d", err, tc.kind)
			}
			f.unchanged(id, 1, head)
		})
	}
}

func TestIDCardEvidenceIsSealedAndReadAudited(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	_, err := f.svc.SubmitIDCard(f.ctx(), id, kimCard, jpegIDImage)
	must(t, err)
	var raw []byte
	must(t, f.db.SQL().QueryRowContext(t.Context(), `SELECT sealed FROM ekyc_evidence WHERE kind = 'rrn'`).Scan(&raw))
	if strings.Contains(string(raw), "9001011234567") {
		t.Fatal("the RRN is stored in the clear")
	}
	items, err := f.svc.ListEvidence(t.Context(), "op_auditor", inst, id)
	must(t, err)
	slices.SortFunc(items, func(a, b ekyc.Evidence) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
	if len(items) != 2 || items[0].Kind != ekyc.EvidenceIDImage || items[0].ContentType != ekyc.TypeJPEG ||
		items[0].Size != len(jpegIDImage) || items[1].Kind != ekyc.EvidenceRRN || items[1].Size != 13 {
		t.Fatalf("evidence = %+v", items)
	}
	head := f.head()
	for _, it := range items {
		_, plain, err := f.svc.ReadEvidence(t.Context(), "op_auditor", inst, id, it.ID)
		must(t, err)
		want := map[ekyc.EvidenceKind]string{ekyc.EvidenceIDImage: string(jpegIDImage), ekyc.EvidenceRRN: "9001011234567"}[it.Kind]
		if string(plain) != want {
			t.Fatalf("%s reads %q", it.Kind, plain)
		}
	}
	evs := f.auditSince(head)
	if len(evs) != 2 || evs[0].Action != "ekyc.evidence.read" || evs[0].Actor != "op_auditor" || evs[0].Details["evidence"] != items[0].ID {
		t.Fatalf("reads audited as %+v", evs)
	}
}

func TestExistingAccount(t *testing.T) {
	t.Run("fail/holder is another person", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		v, err := f.svc.StartAccount(f.ctx(), id, minjunAcct)
		must(t, err)
		if st := method(v, ekyc.ExistingAccount); st.Status != ekyc.MethodFailed || st.Reason != ekyc.ReasonHolderMismatch {
			t.Fatalf("existing_account = %+v", st)
		}
		if len(f.bank.Statement(minjunAcct)) != 0 {
			t.Fatal("a deposit went to another person's account")
		}
	})
	t.Run("error/unknown account writes nothing", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		head := f.head()
		_, err := f.svc.StartAccount(f.ctx(), id, bankxfer.Account{Bank: "004", Number: "99999999999"})
		wantErr(t, err, bankxfer.ErrNoAccount)
		f.unchanged(id, 1, head)
	})
	t.Run("error/accepted code used again", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		f.account(id, kimAccount)
		r, head := f.record(id), f.head()
		_, err := f.svc.ConfirmAccount(f.ctx(), id, f.memo(kimAccount))
		wantErr(t, err, ekyc.ErrMethodClosed)
		f.unchanged(id, r.Version, head)
	})
	t.Run("error/second code while one is valid", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
		must(t, err)
		_, err = f.svc.StartAccount(f.ctx(), id, kimAccount)
		wantErr(t, err, ekyc.ErrCodePending)
		if n := len(f.bank.Statement(kimAccount)); n != 1 {
			t.Fatalf("%d deposits, want 1", n)
		}
	})
}

func TestCodeAfterExpiry(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
	must(t, err)
	first := f.memo(kimAccount)
	f.clk.Add(10 * time.Minute)
	_, err = f.svc.ConfirmAccount(f.ctx(), id, first)
	wantErr(t, err, ekyc.ErrCodeExpired)
	if errs.KindOf(err) != errs.Invalid {
		t.Fatalf("expired code is kind %d, want a 4xx", errs.KindOf(err))
	}
	if st := method(view(t, f, id), ekyc.ExistingAccount); st.Status != ekyc.MethodStarted || st.Attempts != 0 {
		t.Fatalf("after an expired code: %+v", st)
	}
	_, err = f.svc.StartAccount(f.ctx(), id, kimAccount)
	must(t, err)
	if f.memo(kimAccount) == first {
		t.Skip("the two random memos happen to be equal")
	}
	v, err := f.svc.ConfirmAccount(f.ctx(), id, first) // the second deposit replaced it
	must(t, err)
	if st := method(v, ekyc.ExistingAccount); st.Status != ekyc.MethodStarted || st.Attempts != 1 || st.Reason != ekyc.ReasonCodeWrong {
		t.Fatalf("the replaced code: %+v", st)
	}
	v, err = f.svc.ConfirmAccount(f.ctx(), id, f.memo(kimAccount))
	must(t, err)
	if st := method(v, ekyc.ExistingAccount); st.Status != ekyc.MethodPassed || st.Attempts != 1 {
		t.Fatalf("after the second code: %+v", st)
	}
}

func TestWrongCodes(t *testing.T) {
	t.Run("error/the sixth entry is refused and changes nothing", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
		must(t, err)
		wrongCode := f.wrongMemo(kimAccount)
		for i := 1; i <= ekyc.MaxCodeAttempts; i++ {
			v, err := f.svc.ConfirmAccount(f.ctx(), id, wrongCode)
			must(t, err)
			st := method(v, ekyc.ExistingAccount)
			wantReason := map[bool]string{true: ekyc.ReasonCodeExhausted, false: ekyc.ReasonCodeWrong}[i == 5]
			if st.Attempts != i || st.Reason != wantReason || (st.Status == ekyc.MethodFailed) != (i == 5) {
				t.Fatalf("wrong entry %d: %+v", i, st)
			}
		}
		r, head := f.record(id), f.head()
		_, err = f.svc.ConfirmAccount(f.ctx(), id, f.memo(kimAccount))
		wantErr(t, err, ekyc.ErrMethodClosed)
		f.unchanged(id, r.Version, head)
	})
	t.Run("fail/wrong entries add up over codes", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
		must(t, err)
		for range 3 {
			_, err := f.svc.ConfirmAccount(f.ctx(), id, f.wrongMemo(kimAccount))
			must(t, err)
		}
		f.clk.Add(11 * time.Minute)
		_, err = f.svc.StartAccount(f.ctx(), id, kimAccount)
		must(t, err)
		var v *ekyc.View
		for range 2 {
			v, err = f.svc.ConfirmAccount(f.ctx(), id, f.wrongMemo(kimAccount))
			must(t, err)
		}
		if st := method(v, ekyc.ExistingAccount); st.Status != ekyc.MethodFailed || st.Attempts != 5 || st.Reason != ekyc.ReasonCodeExhausted {
			t.Fatalf("after 3 + 2 wrong entries: %+v", st)
		}
	})
	t.Run("error/a fourth deposit", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		for i := range ekyc.MaxCodeSends {
			if i > 0 {
				f.clk.Add(10 * time.Minute)
			}
			_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
			must(t, err)
		}
		_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
		wantErr(t, err, ekyc.ErrSendLimit)
	})
}

func TestCarrier(t *testing.T) {
	t.Run("ok/code by SMS", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		if st := method(f.carrierCheck(id, kim.Phone), ekyc.Carrier); st.Status != ekyc.MethodPassed {
			t.Fatalf("carrier = %+v", st)
		}
	})
	t.Run("fail/subscriber is another person", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(ekyc.Applicant{Name: kim.Name, BirthDate: kim.BirthDate, Phone: lee.Phone}, ekyc.Policy{}).Session.ID
		v, err := f.svc.StartCarrier(f.ctx(), id)
		must(t, err)
		if st := method(v, ekyc.Carrier); st.Status != ekyc.MethodFailed || st.Reason != ekyc.ReasonCarrierMismatch {
			t.Fatalf("carrier = %+v", st)
		}
		if _, sent := f.carrier.LastCode(lee.Phone); sent {
			t.Fatal("a code went to another person's phone")
		}
	})
}

func TestParallelConfirms(t *testing.T) {
	t.Run("ok/the right code twice at once passes once", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
		must(t, err)
		errsOut := parallel(2, func() error { _, err := f.svc.ConfirmAccount(f.ctx(), id, f.memo(kimAccount)); return err })
		if n := countNil(errsOut); n != 1 {
			t.Fatalf("%d confirms succeeded (%v), want 1", n, errsOut)
		}
		if st := method(view(t, f, id), ekyc.ExistingAccount); st.Status != ekyc.MethodPassed {
			t.Fatalf("existing_account = %+v", st)
		}
	})
	t.Run("fail/twelve wrong codes at once count five", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
		must(t, err)
		wrongCode := f.wrongMemo(kimAccount)
		head := f.head()
		parallel(12, func() error { _, err := f.svc.ConfirmAccount(f.ctx(), id, wrongCode); return err })
		st := method(view(t, f, id), ekyc.ExistingAccount)
		if st.Status != ekyc.MethodFailed || st.Attempts != 5 {
			t.Fatalf("existing_account = %+v, want failed after 5", st)
		}
		if n := len(f.auditSince(head)); n > 5 {
			t.Fatalf("%d attempts audited, want at most 5", n)
		}
	})
}

func TestMethodOnAnotherInstitutionsSession(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	f.idCard(id, kimCard)
	_, err := f.svc.StartAccount(f.ctx(), id, kimAccount)
	must(t, err)
	ctx := ekyc.WithInstitution(context.Background(), other)
	calls := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := f.svc.Get(context.Background(), other, id); return err }},
		{"id card", func() error { _, err := f.svc.SubmitIDCard(ctx, id, kimCard, kimIDImage); return err }},
		{"start account", func() error { _, err := f.svc.StartAccount(ctx, id, kimAccount); return err }},
		{"confirm account", func() error { _, err := f.svc.ConfirmAccount(ctx, id, f.memo(kimAccount)); return err }},
		{"start carrier", func() error { _, err := f.svc.StartCarrier(ctx, id); return err }},
		{"confirm carrier", func() error { _, err := f.svc.ConfirmCarrier(ctx, id, "123456"); return err }},
		{"otp", func() error { _, err := f.svc.VerifyOTP(ctx, id, "OTP-0001", "123456"); return err }},
		{"biometric nonce", func() error { _, err := f.svc.BiometricNonce(ctx, id); return err }},
		{"biometric", func() error { _, err := f.svc.SubmitBiometric(ctx, id, kimIDImage, "abc"); return err }},
		{"video call", func() error {
			_, err := f.svc.RecordVideoCall(ctx, "op_1", id, ekyc.VideoDecision{Approve: true, RecordingRef: "rec-1"})
			return err
		}},
		{"list evidence", func() error { _, err := f.svc.ListEvidence(context.Background(), "op_1", other, id); return err }},
		{"read evidence", func() error {
			items, err := f.db.EKYCEvidence(context.Background(), inst, id)
			must(t, err)
			_, _, err = f.svc.ReadEvidence(context.Background(), "op_1", other, id, items[0].ID)
			return err
		}},
	}
	for _, c := range calls {
		t.Run("error/"+c.name, func(t *testing.T) {
			r, head, deposits := f.record(id), f.head(), len(f.bank.Statement(kimAccount))
			wantErr(t, c.call(), errs.ErrNotFound)
			f.unchanged(id, r.Version, head)
			if len(f.bank.Statement(kimAccount)) != deposits || len(f.events()) != 0 {
				t.Fatal("a refused call deposited or announced")
			}
		})
	}
	if st := method(view(t, f, id), ekyc.ExistingAccount); st.Status != ekyc.MethodStarted || st.Attempts != 0 {
		t.Fatalf("existing_account after refused calls: %+v", st)
	}
}

func TestSessionFails(t *testing.T) {
	t.Run("fail/a required method failed", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(park, both).Session.ID
		v := f.idCard(id, parkCard)
		if v.Status != ekyc.StatusFailed || v.Reason != ekyc.ReasonRequiredFailed || !slices.Equal(v.Failed, []ekyc.Method{ekyc.IDCard}) {
			t.Fatalf("session = %+v", v)
		}
		evs := f.events()
		if len(evs) != 1 || evs[0].Type != "verification.failed" {
			t.Fatalf("events = %+v", evs)
		}
		r, head := f.record(id), f.head()
		_, err := f.svc.StartCarrier(f.ctx(), id)
		wantErr(t, err, ekyc.ErrSessionClosed)
		f.unchanged(id, r.Version, head)
	})
	t.Run("fail/too few methods can still pass", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(park, ekyc.Policy{Min: 6}).Session.ID
		if v := f.idCard(id, parkCard); v.Status != ekyc.StatusFailed || v.Reason != ekyc.ReasonUnreachable {
			t.Fatalf("session = %+v", v)
		}
	})
	t.Run("ok/a failed method that is not required leaves it pending", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(park, ekyc.Policy{}).Session.ID
		if v := f.idCard(id, parkCard); v.Status != ekyc.StatusPending {
			t.Fatalf("session = %+v", v)
		}
	})
}

func TestExpiry(t *testing.T) {
	t.Run("ok/read after the deadline expires it once", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		f.clk.Add(ekyc.DefaultTTL)
		for range 2 {
			v, err := f.svc.Get(context.Background(), inst, id)
			must(t, err)
			if v.Status != ekyc.StatusExpired || v.Reason != ekyc.ReasonExpired {
				t.Fatalf("session = %+v", v)
			}
		}
		if evs := f.events(); len(evs) != 1 || evs[0].Type != "verification.expired" {
			t.Fatalf("events = %+v", evs)
		}
	})
	t.Run("error/method after the deadline writes only the expiry", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		f.clk.Add(ekyc.DefaultTTL + time.Second)
		head := f.head()
		_, err := f.svc.SubmitIDCard(f.ctx(), id, kimCard, kimIDImage)
		wantErr(t, err, ekyc.ErrSessionClosed)
		if evs := f.auditSince(head); len(evs) != 1 || evs[0].Action != "ekyc.session.expired" {
			t.Fatalf("audit = %+v", evs)
		}
		items, err := f.db.EKYCEvidence(context.Background(), inst, id)
		must(t, err)
		if len(items) != 0 || f.record(id).Status != ekyc.StatusExpired {
			t.Fatalf("evidence %v, status %s", items, f.record(id).Status)
		}
	})
	t.Run("ok/sweep expires untouched sessions", func(t *testing.T) {
		f := newFixture(t)
		done := f.open(kim, ekyc.Policy{}).Session.ID
		f.idCard(done, kimCard)
		f.carrierCheck(done, kim.Phone)
		ids := []string{f.open(kim, ekyc.Policy{}).Session.ID, f.open(lee, ekyc.Policy{}).Session.ID}
		n, err := f.svc.ExpireDue(context.Background())
		must(t, err)
		if n != 0 {
			t.Fatalf("expired %d before the deadline", n)
		}
		f.clk.Add(ekyc.DefaultTTL)
		n, err = f.svc.ExpireDue(context.Background())
		must(t, err)
		if n != 2 {
			t.Fatalf("expired %d, want 2", n)
		}
		for _, id := range ids {
			if f.record(id).Status != ekyc.StatusExpired {
				t.Fatalf("%s not expired", id)
			}
		}
		if n, _ := f.svc.ExpireDue(context.Background()); n != 0 || len(f.events()) != 3 {
			t.Fatalf("second sweep expired %d; %d events, want 3", n, len(f.events()))
		}
	})
}

func TestPurge(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, both).Session.ID
	f.idCard(id, kimCard)
	f.account(id, kimAccount)
	open := f.open(lee, ekyc.Policy{}).Session.ID
	f.idCard(open, leeCard)
	f.clk.Add(time.Hour)
	head := f.head()
	got, err := f.svc.Purge(context.Background(), "op_admin", f.clk.Now())
	must(t, err)
	if got != (ekyc.PurgeResult{Sessions: 1, Evidence: 3}) {
		t.Fatalf("purge = %+v, want 1 session and 3 items (image, RRN, account)", got)
	}
	r := f.record(id)
	if r.PurgedAt == nil || r.NameSealed != nil || r.BirthSealed != nil || r.PhoneSealed != nil || r.PhoneIndex != nil {
		t.Fatalf("purged record still holds PII: %+v", r)
	}
	items, err := f.svc.ListEvidence(context.Background(), "op_admin", inst, id)
	must(t, err)
	if len(items) != 0 {
		t.Fatalf("evidence left: %+v", items)
	}
	v, err := f.svc.Get(context.Background(), inst, id)
	must(t, err)
	if v.Status != ekyc.StatusPassed || v.PurgedAt == nil || v.Applicant != (ekyc.ApplicantView{}) {
		t.Fatalf("purged view = %+v", v)
	}
	if f.record(open).PurgedAt != nil {
		t.Fatal("a pending session was purged")
	}
	evs := f.auditSince(head)
	if evs[0].Action != "ekyc.purge" || evs[0].Details["sessions"] != "1" || evs[0].Details["evidence"] != "3" {
		t.Fatalf("purge audited as %+v", evs[0])
	}
	f.verifyChain()
	earlier := 0
	for _, e := range f.auditSince(0) {
		if e.Target == id && strings.HasPrefix(e.Action, "ekyc.") {
			earlier++
		}
	}
	if earlier < 4 { // open, id_card, code sent, existing_account, passed
		t.Fatalf("%d audit entries still name the session, want its history", earlier)
	}
}

func TestStepUpConsumesOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.customers.Create(ctx, "test", inst, customerNew(kim))
	must(t, err)
	_, err = f.svc.Open(ctx, other, ekyc.Open{CustomerID: c.ID})
	wantErr(t, err, errs.ErrNotFound)
	o, err := f.svc.Open(ctx, inst, ekyc.Open{CustomerID: c.ID})
	must(t, err)
	id := o.Session.ID
	if o.Session.Applicant.Name != "김*수" || o.Session.CustomerID != c.ID {
		t.Fatalf("step-up session = %+v", o.Session)
	}
	up := ekyc.StepUp{Sessions: f.svc}
	got, err := up.Verify(ctx, c, evidence(id))
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("a pending session gave %v", got)
	}
	f.idCard(id, kimCard)
	f.carrierCheck(id, kim.Phone)
	lee, err := f.customers.Create(ctx, "test", inst, customerNew(lee))
	must(t, err)
	if got, _ := up.Verify(ctx, lee, evidence(id)); len(got) != 0 {
		t.Fatalf("another customer spent the session: %v", got)
	}
	results := make(chan []string, 4)
	parallel(4, func() error {
		got, err := up.Verify(ctx, c, evidence(id))
		results <- got
		return err
	})
	close(results)
	spent := 0
	for got := range results {
		if len(got) > 0 {
			spent++
			if !slices.Equal(got, []string{"carrier", "id_card"}) {
				t.Fatalf("methods = %v", got)
			}
		}
	}
	if spent != 1 {
		t.Fatalf("the session served %d step-ups, want 1", spent)
	}
}

func TestOpenRefusals(t *testing.T) {
	tests := []struct {
		name string
		in   ekyc.Open
		want error
	}{
		{"error/reference with a space", ekyc.Open{Applicant: kim, Reference: "a b"}, ekyc.ErrInvalidReference},
		{"error/reference of 65 characters", ekyc.Open{Applicant: kim, Reference: strings.Repeat("r", 65)}, ekyc.ErrInvalidReference},
		{"error/unknown method", ekyc.Open{Applicant: kim, Policy: ekyc.Policy{Required: []ekyc.Method{"fax"}}}, ekyc.ErrInvalidPolicy},
		{"error/method twice", ekyc.Open{Applicant: kim, Policy: ekyc.Policy{Required: []ekyc.Method{ekyc.OTP, ekyc.OTP}}}, ekyc.ErrInvalidPolicy},
		{"error/one method is not enough", ekyc.Open{Applicant: kim, Policy: ekyc.Policy{Min: 1}}, ekyc.ErrInvalidPolicy},
		{"error/both applicant and customer", ekyc.Open{Applicant: kim, CustomerID: "cus_1"}, ekyc.ErrInvalidOpen},
		{"error/neither applicant nor customer", ekyc.Open{}, ekyc.ErrInvalidOpen},
		{"error/landline", ekyc.Open{Applicant: ekyc.Applicant{Name: kim.Name, BirthDate: kim.BirthDate, Phone: "0212345678"}}, errs.ErrInvalid},
		{"error/born tomorrow", ekyc.Open{Applicant: ekyc.Applicant{Name: kim.Name, BirthDate: "2026-11-24", Phone: kim.Phone}}, errs.ErrInvalid},
		{"error/unknown customer", ekyc.Open{CustomerID: "cus_nope"}, errs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			head := f.head()
			_, err := f.svc.Open(context.Background(), inst, tc.in)
			if tc.want == errs.ErrInvalid {
				if errs.KindOf(err) != errs.Invalid {
					t.Fatalf("error = %v, want an invalid input", err)
				}
			} else {
				wantErr(t, err, tc.want)
			}
			if f.head() != head {
				t.Fatal("a refused open was audited as written")
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	o := f.open(kim, ekyc.Policy{})
	other := f.open(lee, ekyc.Policy{})
	tests := []struct {
		name, id, token string
		ok              bool
	}{
		{"ok/own token", o.Session.ID, o.ApplicantToken, true},
		{"error/another session's token", o.Session.ID, other.ApplicantToken, false},
		{"error/empty token", o.Session.ID, "", false},
		{"error/unknown session", "vs_nope", o.ApplicantToken, false},
		{"error/oversized token", o.Session.ID, strings.Repeat("a", 4096), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.svc.Authenticate(context.Background(), tc.id, tc.token)
			if tc.ok {
				must(t, err)
				if got != inst {
					t.Fatalf("institution = %q", got)
				}
				return
			}
			wantErr(t, err, ekyc.ErrApplicantToken)
			if errs.KindOf(err) != errs.Unauthenticated {
				t.Fatalf("kind = %d", errs.KindOf(err))
			}
		})
	}
}

func TestUnavailableMethodsWriteNothing(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	f.svc.IDCheck, f.svc.Accounts, f.svc.Carrier, f.svc.Media, f.svc.Face = nil, nil, nil, nil, nil
	calls := map[string]func() error{
		"id card":         func() error { _, err := f.svc.SubmitIDCard(f.ctx(), id, kimCard, kimIDImage); return err },
		"account":         func() error { _, err := f.svc.StartAccount(f.ctx(), id, kimAccount); return err },
		"carrier":         func() error { _, err := f.svc.StartCarrier(f.ctx(), id); return err },
		"otp":             func() error { _, err := f.svc.VerifyOTP(f.ctx(), id, "OTP-0001", "123456"); return err },
		"biometric nonce": func() error { _, err := f.svc.BiometricNonce(f.ctx(), id); return err },
		"biometric":       func() error { _, err := f.svc.SubmitBiometric(f.ctx(), id, kimIDImage, "abc"); return err },
	}
	head := f.head()
	for name, call := range calls {
		t.Run("error/"+name, func(t *testing.T) {
			err := call()
			wantErr(t, err, ekyc.ErrMethodUnavailable)
			if errs.KindOf(err) != errs.Unavailable {
				t.Fatalf("kind = %d", errs.KindOf(err))
			}
			f.unchanged(id, 1, head)
		})
	}
}

func TestPolicyNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   ekyc.Policy
		want ekyc.Policy
		err  bool
	}{
		{"ok/zero is any two", ekyc.Policy{}, ekyc.Policy{Required: []ekyc.Method{}, Min: 2}, false},
		{"ok/required raises min", ekyc.Policy{Required: []ekyc.Method{ekyc.OTP, ekyc.IDCard, ekyc.Carrier}},
			ekyc.Policy{Required: []ekyc.Method{ekyc.IDCard, ekyc.Carrier, ekyc.OTP}, Min: 3}, false},
		{"ok/min above required", ekyc.Policy{Required: []ekyc.Method{ekyc.VideoCall}, Min: 4},
			ekyc.Policy{Required: []ekyc.Method{ekyc.VideoCall}, Min: 4}, false},
		{"error/min 7", ekyc.Policy{Min: 7}, ekyc.Policy{}, true},
		{"error/min 1", ekyc.Policy{Min: 1}, ekyc.Policy{}, true},
		{"error/access media is not offered", ekyc.Policy{Required: []ekyc.Method{"access_media"}}, ekyc.Policy{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Normalize()
			if tc.err {
				wantErr(t, err, ekyc.ErrInvalidPolicy)
				return
			}
			must(t, err)
			if got.Min != tc.want.Min || !slices.Equal(got.Required, tc.want.Required) {
				t.Fatalf("normalize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func view(t *testing.T, f *fixture, id string) *ekyc.View {
	t.Helper()
	v, err := f.svc.Get(context.Background(), inst, id)
	must(t, err)
	return v
}
