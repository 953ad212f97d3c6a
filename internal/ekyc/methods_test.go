package ekyc_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/face"
)

func TestBiometric(t *testing.T) {
	tests := []struct {
		name   string
		selfie func(nonce string) []byte
		status ekyc.MethodStatus
		reason string
	}{
		{"ok/live selfie of the card's holder", func(n string) []byte { return face.SelfieFixture("kim", n) }, ekyc.MethodPassed, ""},
		{"wrong/another person", func(n string) []byte { return face.SelfieFixture("lee", n) }, ekyc.MethodStarted, ekyc.ReasonFaceMismatch},
		{"wrong/photo held up to the camera", func(n string) []byte { return face.PhotoOfPhotoFixture("kim", n) }, ekyc.MethodStarted, ekyc.ReasonNotLive},
		{"wrong/capture made for another nonce", func(string) []byte { return face.SelfieFixture("kim", "old-nonce") }, ekyc.MethodStarted, ekyc.ReasonNotLive},
		{"wrong/capture bound to no nonce", func(string) []byte { return face.SelfieFixture("kim", "") }, ekyc.MethodStarted, ekyc.ReasonNotLive},
		{"wrong/no face", func(string) []byte { return face.NoFaceFixture() }, ekyc.MethodStarted, ekyc.ReasonNoFace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.open(kim, ekyc.Policy{Min: 3}).Session.ID
			f.idCard(id, kimCard)
			n, err := f.svc.BiometricNonce(f.ctx(), id)
			must(t, err)
			head := f.head()
			v, err := f.svc.SubmitBiometric(f.ctx(), id, tc.selfie(n.Value), n.Value)
			must(t, err)
			st := method(v, ekyc.Biometric)
			if st.Status != tc.status || st.Reason != tc.reason {
				t.Fatalf("biometric = %+v, want %s/%q", st, tc.status, tc.reason)
			}
			evs := f.auditSince(head)
			if len(evs) != 2 || evs[0].Action != "ekyc.evidence.read" || evs[0].Details["purpose"] != "biometric_reference" ||
				evs[1].Action != "ekyc.biometric" {
				t.Fatalf("audit = %+v, want the photo read, then the attempt", evs)
			}
		})
	}
}

func TestBiometricNonces(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{Min: 3}).Session.ID
	_, err := f.svc.BiometricNonce(f.ctx(), id)
	wantErr(t, err, ekyc.ErrIDCardRequired)
	f.idCard(id, kimCard)
	n, err := f.svc.BiometricNonce(f.ctx(), id)
	must(t, err)
	v, err := f.svc.SubmitBiometric(f.ctx(), id, face.SelfieFixture("lee", n.Value), n.Value)
	must(t, err)
	if method(v, ekyc.Biometric).Attempts != 1 {
		t.Fatalf("biometric = %+v", method(v, ekyc.Biometric))
	}
	steps := []struct {
		name  string
		nonce func() string
	}{
		{"error/spent nonce counts", func() string { return n.Value }},
		{"error/expired nonce counts", func() string {
			m, err := f.svc.BiometricNonce(f.ctx(), id)
			must(t, err)
			f.clk.Add(ekyc.NonceTTL)
			return m.Value
		}},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			nonce := s.nonce()
			_, err := f.svc.SubmitBiometric(f.ctx(), id, face.SelfieFixture("kim", nonce), nonce)
			wantErr(t, err, ekyc.ErrNonce)
			if got := method(view(t, f, id), ekyc.Biometric); got.Attempts != i+2 {
				t.Fatalf("attempts = %d, want %d", got.Attempts, i+2)
			}
		})
	}
	st := method(view(t, f, id), ekyc.Biometric)
	if st.Status != ekyc.MethodFailed || st.Reason != ekyc.ReasonNonce {
		t.Fatalf("after three failures: %+v", st)
	}
}

func TestBiometricNonceLimit(t *testing.T) {
	f := newFixture(t)
	id := f.open(kim, ekyc.Policy{}).Session.ID
	f.idCard(id, kimCard)
	for range 3 {
		_, err := f.svc.BiometricNonce(f.ctx(), id)
		must(t, err)
	}
	_, err := f.svc.BiometricNonce(f.ctx(), id)
	wantErr(t, err, ekyc.ErrNonceLimit)
	f.clk.Add(ekyc.NonceTTL)
	_, err = f.svc.BiometricNonce(f.ctx(), id)
	must(t, err)
}

func TestOTP(t *testing.T) {
	t.Run("ok/code from the medium", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		v, err := f.svc.VerifyOTP(f.ctx(), id, "OTP-0001", "123456")
		must(t, err)
		if st := method(v, ekyc.OTP); st.Status != ekyc.MethodPassed {
			t.Fatalf("otp = %+v", st)
		}
	})
	t.Run("fail/five wrong codes", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		var v *ekyc.View
		for range ekyc.MaxOTPAttempts {
			var err error
			v, err = f.svc.VerifyOTP(f.ctx(), id, "OTP-0001", "000000")
			must(t, err)
		}
		if st := method(v, ekyc.OTP); st.Status != ekyc.MethodFailed || st.Reason != ekyc.ReasonOTPExhausted || st.Attempts != 5 {
			t.Fatalf("otp = %+v", st)
		}
		_, err := f.svc.VerifyOTP(f.ctx(), id, "OTP-0001", "123456")
		wantErr(t, err, ekyc.ErrMethodClosed)
	})
	t.Run("fail/parallel wrong codes ask the medium five times", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		parallel(10, func() error { _, err := f.svc.VerifyOTP(f.ctx(), id, "OTP-0001", "000000"); return err })
		if st := method(view(t, f, id), ekyc.OTP); st.Attempts > 5 || st.Pending != 0 {
			t.Fatalf("otp = %+v", st)
		}
	})
	t.Run("error/malformed serial", func(t *testing.T) {
		f := newFixture(t)
		id := f.open(kim, ekyc.Policy{}).Session.ID
		_, err := f.svc.VerifyOTP(f.ctx(), id, "OTP 0001", "123456")
		wantErr(t, err, ekyc.ErrInvalidSerial)
	})
}

func TestVideoCall(t *testing.T) {
	tests := []struct {
		name   string
		d      ekyc.VideoDecision
		status ekyc.MethodStatus
		reason string
		err    error
	}{
		{"ok/approved", ekyc.VideoDecision{Approve: true, RecordingRef: "rec/2026/11/23/0001"}, ekyc.MethodPassed, "", nil},
		{"fail/rejected with a reason", ekyc.VideoDecision{Reason: "face_differs", RecordingRef: "rec-2"}, ekyc.MethodFailed, ekyc.ReasonVideoRejected, nil},
		{"error/reject without a reason", ekyc.VideoDecision{RecordingRef: "rec-3"}, "", "", ekyc.ErrInvalidDecision},
		{"error/no recording", ekyc.VideoDecision{Approve: true}, "", "", ekyc.ErrInvalidDecision},
		{"error/reason not a code", ekyc.VideoDecision{Reason: "Face differs!", RecordingRef: "rec-4"}, "", "", ekyc.ErrInvalidDecision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.open(kim, ekyc.Policy{}).Session.ID
			head := f.head()
			v, err := f.svc.RecordVideoCall(context.Background(), "op_agent", id, tc.d)
			if tc.err != nil {
				wantErr(t, err, tc.err)
				f.unchanged(id, 1, head)
				return
			}
			must(t, err)
			if st := method(v, ekyc.VideoCall); st.Status != tc.status || st.Reason != tc.reason {
				t.Fatalf("video_call = %+v", st)
			}
			evs := f.auditSince(head)
			if len(evs) != 1 || evs[0].Actor != "op_agent" || evs[0].Details["decision_reason"] != tc.d.Reason {
				t.Fatalf("audit = %+v", evs)
			}
		})
	}
}

func TestStepUpWithNext(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.customers.Create(ctx, "test", inst, customerNew(kim))
	must(t, err)
	o, err := f.svc.Open(ctx, inst, ekyc.Open{CustomerID: c.ID})
	must(t, err)
	id := o.Session.ID
	f.idCard(id, kimCard)
	f.account(id, kimAccount)
	up := ekyc.StepUp{Sessions: f.svc, Next: device.SimulatorStepUp{Carrier: f.carrier, IDCheck: f.svc.IDCheck}}
	ev := evidence(id)
	ev.Carrier = &carrier.Identity{Name: kim.Name, BirthDate: kim.BirthDate, Phone: kim.Phone}
	got, err := up.Verify(ctx, c, ev)
	must(t, err)
	if !slices.Equal(got, []string{device.MethodCarrier, device.MethodExistingAccount, device.MethodIDCard}) {
		t.Fatalf("methods = %v", got)
	}
	got, err = up.Verify(ctx, c, ev)
	must(t, err)
	if !slices.Equal(got, []string{device.MethodCarrier}) {
		t.Fatalf("second use gave %v, want the carrier only", got)
	}
	r := f.record(id)
	if r.ConsumedAt == nil {
		t.Fatal("consumed_at not set")
	}
}

func TestStepUpRefusesStaleSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.customers.Create(ctx, "test", inst, customerNew(kim))
	must(t, err)
	o, err := f.svc.Open(ctx, inst, ekyc.Open{CustomerID: c.ID})
	must(t, err)
	f.idCard(o.Session.ID, kimCard)
	f.carrierCheck(o.Session.ID, kim.Phone)
	f.clk.Add(ekyc.DefaultTTL + time.Second)
	got, err := ekyc.StepUp{Sessions: f.svc}.Verify(ctx, c, evidence(o.Session.ID))
	must(t, err)
	if len(got) != 0 || f.record(o.Session.ID).ConsumedAt != nil {
		t.Fatalf("a session decided long ago gave %v", got)
	}
}

func customerNew(a ekyc.Applicant) customer.New {
	return customer.New{Name: a.Name, BirthDate: a.BirthDate, Phone: a.Phone}
}

func evidence(sessionID string) device.Evidence { return device.Evidence{EKYCSession: sessionID} }

// parallel runs fn n times at once and returns the errors.
func parallel(n int, fn func() error) []error {
	out := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return out
}

func countNil(es []error) int {
	n := 0
	for _, e := range es {
		if e == nil {
			n++
		} else if errs.KindOf(e) == errs.Internal {
			return -1
		}
	}
	return n
}
