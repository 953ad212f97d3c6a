package device_test

import (
	"context"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/notify"
)

// kimCard is kim's genuine resident card in the idcheck simulator.
var kimCard = idcheck.Card{Kind: idcheck.KindResident, Name: "김민수", RRN: "900101-1234567", IssueDate: "2015-03-02"}

// restrictKim drives kim into restriction mode from device-1.
func (f *fixture) restrictKim() {
	f.t.Helper()
	for range 3 {
		_ = f.badCode(kim, "device-1")
	}
	if _, err := f.start(kim, "device-1"); err == nil {
		f.t.Fatal("kim is not restricted")
	}
}

// blockKim drives kim into a hard block (a rooted emulator is high risk).
func (f *fixture) blockKim() {
	f.t.Helper()
	in := f.input(kim, "device-1")
	in.Report.Rooted, in.Report.Emulator = true, true
	in.IntegrityToken = f.token(in.Report)
	_, err := f.svc.Start(context.Background(), inst, in)
	wantCode(f.t, err, "registration_blocked")
}

func TestLiftRestriction(t *testing.T) {
	lostCard := idcheck.Card{Kind: idcheck.KindResident, Name: "박철수", RRN: "800315-1456789", IssueDate: "2010-01-15"}
	tests := []struct {
		name    string
		who     carrier.Identity
		ev      device.Evidence
		passed  []string
		code    string
		lifted  bool
		blocked bool
	}{
		{"ok/carrier and ID card", kim, device.Evidence{Carrier: &kim, IDCard: &kimCard}, []string{"carrier", "id_card"}, "", true, false},
		{"error/one method only", kim, device.Evidence{Carrier: &kim}, []string{"carrier"}, "stepup_insufficient", false, false},
		{"error/someone else's card", kim, device.Evidence{Carrier: &kim, IDCard: &lostCard}, []string{"carrier"}, "stepup_insufficient", false, false},
		{"error/someone else's identity", kim, device.Evidence{Carrier: &lee, IDCard: &kimCard}, []string{"id_card"}, "stepup_insufficient", false, false},
		{"error/a hard block needs an operator", kim, device.Evidence{Carrier: &kim, IDCard: &kimCard}, nil, "registration_blocked", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.blocked {
				f.blockKim()
			} else {
				f.restrictKim()
			}
			passed, err := f.svc.LiftRestriction(context.Background(), inst, f.customerID(tt.who), tt.ev)
			if tt.code == "" {
				must(t, err)
			} else {
				wantCode(t, err, tt.code)
			}
			if len(passed) != len(tt.passed) || (len(passed) > 0 && passed[0] != tt.passed[0]) {
				t.Fatalf("passed %v, want %v", passed, tt.passed)
			}
			_, err = f.start(kim, "device-1")
			if tt.lifted != (err == nil) {
				t.Fatalf("after lift, start from the customer's own phone: %v (want lifted=%v)", err, tt.lifted)
			}
		})
	}
	t.Run("error/lost card does not pass", func(t *testing.T) {
		f := newFixture(t)
		f.restrictKim()
		passed, err := f.svc.LiftRestriction(context.Background(), inst, f.customerID(park), device.Evidence{Carrier: &park, IDCard: &lostCard})
		wantCode(t, err, "stepup_insufficient")
		if len(passed) != 1 || passed[0] != device.MethodCarrier {
			t.Fatalf("passed %v", passed)
		}
	})
}

var checklist = map[string]bool{"name": true, "birth_date": true, "phone": true, "security_questions": true}

func TestReleaseRefusalsWriteNothing(t *testing.T) {
	f := newFixture(t)
	f.blockKim()
	kimID := f.customerID(kim)
	rel, err := f.svc.RequestRelease(context.Background(), f.operator("op_both"), kimID, "고객 본인 통화 확인", checklist)
	must(t, err)
	incomplete := map[string]bool{"name": true, "birth_date": true, "phone": true}
	tests := []struct {
		name string
		act  func() error
		code string
	}{
		{"error/request by a teller", func() error {
			_, err := f.svc.RequestRelease(context.Background(), f.operator("op_teller"), kimID, "reason", checklist)
			return err
		}, "role_required"},
		{"error/request without reason", func() error {
			_, err := f.svc.RequestRelease(context.Background(), f.operator("op_agent"), kimID, "  ", checklist)
			return err
		}, "release_invalid"},
		{"error/request with incomplete checklist", func() error {
			_, err := f.svc.RequestRelease(context.Background(), f.operator("op_agent"), kimID, "reason", incomplete)
			return err
		}, "release_invalid"},
		{"error/request for a customer with nothing to release", func() error {
			_, err := f.svc.RequestRelease(context.Background(), f.operator("op_agent"), f.customerID(lee), "reason", checklist)
			return err
		}, "nothing_to_release"},
		{"error/approval by an agent", func() error {
			_, err := f.svc.ApproveRelease(context.Background(), f.operator("op_agent"), rel.ID)
			return err
		}, "role_required"},
		{"error/self-approval", func() error {
			_, err := f.svc.ApproveRelease(context.Background(), f.operator("op_both"), rel.ID)
			return err
		}, "release_self_approval"},
		{"error/unknown release", func() error {
			_, err := f.svc.ApproveRelease(context.Background(), f.operator("op_super"), "rel_nope")
			return err
		}, "release_not_found"},
		{"error/disabled supervisor", func() error {
			op := f.operator("op_super")
			op.Disabled = true
			_, err := f.svc.ApproveRelease(context.Background(), op, rel.ID)
			return err
		}, "role_required"},
		{"error/branch reset by an agent", func() error {
			_, err := f.svc.BranchReset(context.Background(), f.operator("op_agent"), kimID, "resident_card")
			return err
		}, "role_required"},
		{"error/branch reset without a known ID document", func() error {
			_, err := f.svc.BranchReset(context.Background(), f.operator("op_teller"), kimID, "library_card")
			return err
		}, "id_check_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := f.auditSeq()
			wantCode(t, tt.act(), tt.code)
			if f.auditSeq() != seq {
				t.Fatal("a refused operator action wrote an audit event")
			}
			if !f.counter(device.SubjectCustomer, kimID).Blocked() {
				t.Fatal("a refused operator action lifted the block")
			}
			got, err := f.db.Release(context.Background(), rel.ID)
			must(t, err)
			if got.State != device.ReleaseRequested || got.ApprovedBy != "" {
				t.Fatalf("release %+v changed", got)
			}
		})
	}
}

func TestReleaseByTwoOperators(t *testing.T) {
	f := newFixture(t)
	f.blockKim()
	f.clk.Add(time.Minute)
	kimID := f.customerID(kim)
	rel, err := f.svc.RequestRelease(context.Background(), f.operator("op_agent"), kimID, "본인 확인 완료, 분실 신고 아님", checklist)
	must(t, err)
	t.Run("ok/the reason is sealed and opens", func(t *testing.T) {
		stored, err := f.db.Release(context.Background(), rel.ID)
		must(t, err)
		if string(stored.ReasonSealed) == "본인 확인 완료, 분실 신고 아님" {
			t.Fatal("reason stored in the clear")
		}
		reason, err := f.svc.ReleaseReason(stored)
		must(t, err)
		if reason != "본인 확인 완료, 분실 신고 아님" {
			t.Fatalf("reason %q", reason)
		}
	})
	got, err := f.svc.ApproveRelease(context.Background(), f.operator("op_super"), rel.ID)
	must(t, err)
	f.clk.Add(time.Minute)
	if got.State != device.ReleaseApproved || got.ApprovedBy != "op_super" {
		t.Fatalf("release %+v", got)
	}
	t.Run("ok/the customer registers from their own phone again", func(t *testing.T) {
		_, _, err := f.register(kim, "device-2")
		must(t, err)
		wantNotes(t, f, kim, notify.KindRegistrationBlocked, notify.KindRegistrationReleased, notify.KindDeviceRegistered)
	})
	t.Run("error/approving twice", func(t *testing.T) {
		_, err := f.svc.ApproveRelease(context.Background(), f.operator("op_both"), rel.ID)
		wantCode(t, err, "release_not_pending")
	})
}

func TestBranchReset(t *testing.T) {
	f := newFixture(t)
	f.svc.Policy.KeepPreviousDevices = true
	d1, _, err := f.register(kim, "device-1")
	must(t, err)
	d2, _, err := f.register(kim, "device-2")
	must(t, err)
	open := f.mustStart(kim, "device-3")
	f.blockKim()
	revoked, err := f.svc.BranchReset(context.Background(), f.operator("op_teller"), f.customerID(kim), "resident_card")
	must(t, err)
	t.Run("ok/every device revoked", func(t *testing.T) {
		if len(revoked) != 2 {
			t.Fatalf("revoked %v, want %s and %s", revoked, d1.ID, d2.ID)
		}
		for _, id := range []string{d1.ID, d2.ID} {
			d, err := f.svc.Device(context.Background(), inst, id)
			must(t, err)
			if d.State != device.DeviceRevoked || d.RevokeReason != "branch_reset" {
				t.Fatalf("device %+v", d)
			}
		}
	})
	t.Run("error/an open registration cannot complete", func(t *testing.T) {
		err := f.svc.VerifyCode(context.Background(), inst, open.RegistrationID, f.smsCode(kim))
		wantCode(t, err, "registration_state")
	})
	t.Run("ok/the block is lifted", func(t *testing.T) {
		st, err := f.svc.Status(context.Background(), inst, f.customerID(kim))
		must(t, err)
		if st.Blocked || st.Restricted || st.Remaining != 3 {
			t.Fatalf("status %+v", st)
		}
		_, _, err = f.register(kim, "device-4")
		must(t, err)
	})
}
