package device_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/storetest"
)

// badCode submits a wrong code on a fresh registration of id from deviceID.
func (f *fixture) badCode(id carrier.Identity, deviceID string) error {
	f.t.Helper()
	st, err := f.start(id, deviceID)
	if err != nil {
		return err
	}
	return f.svc.VerifyCode(context.Background(), inst, st.RegistrationID, f.wrongCode(id))
}

func TestThreeBadCodesRestrict(t *testing.T) {
	f := newFixture(t)
	wantCode(t, f.badCode(kim, "device-1"), "code_wrong")
	wantCode(t, f.badCode(kim, "device-1"), "code_wrong")
	e := wantCode(t, f.badCode(kim, "device-1"), "registration_restricted")
	if e.Kind != errs.Locked || e.RetryAfter != 24*time.Hour {
		t.Fatalf("restriction %+v, want Locked for 24 h", e)
	}
	wantNotes(t, f, kim, notify.KindRegistrationRestricted)

	refusals := []struct {
		name string
		id   carrier.Identity
		dev  string
	}{
		{"error/same phone refused", kim, "device-1"},
		{"error/a new phone (new fingerprint) does not reset the customer", kim, "device-new"},
		{"error/another customer on the restricted phone", lee, "device-1"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			seq := f.auditSeq()
			_, err := f.start(r.id, r.dev)
			wantCode(t, err, "registration_restricted")
			evs := f.events(seq)
			if len(evs) != 1 || evs[0].Result != audit.ResultDenied {
				t.Fatalf("audit %+v, want one denied entry", evs)
			}
		})
	}
	t.Run("ok/the count did not move while restricted", func(t *testing.T) {
		if f.customerFailures(kim) != 3 || f.fingerprintFailures("device-1") != 3 {
			t.Fatal("refused attempts were counted")
		}
	})
	t.Run("ok/another customer on another phone is unaffected", func(t *testing.T) {
		_, _, err := f.register(lee, "device-lee")
		must(t, err)
	})
	t.Run("error/still restricted a second before 24 h", func(t *testing.T) {
		f.clk.Add(24*time.Hour - time.Second)
		_, err := f.start(kim, "device-1")
		e := wantCode(t, err, "registration_restricted")
		if e.RetryAfter != time.Second {
			t.Fatalf("retry after %v, want 1s", e.RetryAfter)
		}
	})
	t.Run("ok/lifts after 24 h", func(t *testing.T) {
		f.clk.Add(time.Second)
		_, _, err := f.register(kim, "device-1")
		must(t, err)
	})
}

func TestRestartKeepsCount(t *testing.T) {
	w, path := newWorld(), tempPath(t)
	first := seed(fileFixture(t, w, path))
	wantCode(t, first.badCode(kim, "device-1"), "code_wrong")
	wantCode(t, first.badCode(kim, "device-1"), "code_wrong")
	must(t, first.db.Close())

	restarted := fileFixture(t, w, path) // a new process: new handle, new service
	wantCode(t, restarted.badCode(kim, "device-1"), "registration_restricted")
	_, err := restarted.start(kim, "device-2")
	wantCode(t, err, "registration_restricted")
}

func TestSecondProcessSharesCount(t *testing.T) {
	w, path := newWorld(), tempPath(t)
	a := seed(fileFixture(t, w, path))
	b := fileFixture(t, w, path)
	wantCode(t, a.badCode(kim, "device-1"), "code_wrong")
	wantCode(t, b.badCode(kim, "device-2"), "code_wrong")
	wantCode(t, a.badCode(kim, "device-3"), "registration_restricted")
	_, err := b.start(kim, "device-4")
	wantCode(t, err, "registration_restricted")
}

// TestParallelBadAttempts: 50 bad attempts at once, spread over two
// database handles (two server processes), count exactly three; every
// other is refused as restricted, and a right code on an open registration
// is refused after.
func TestParallelBadAttempts(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		w, path := newWorld(), tempPath(t)
		a := seed(fileFixture(t, w, path))
		parallelBadAttempts(t, a, fileFixture(t, w, path))
	})
	t.Run("postgres", func(t *testing.T) {
		w, url := newWorld(), storetest.PostgresSchemaURL(t)
		a := seed(pgFixture(t, w, url))
		parallelBadAttempts(t, a, pgFixture(t, w, url))
	})
}

func parallelBadAttempts(t *testing.T, a, b *fixture) {
	const n = 50
	open := a.mustStart(kim, "device-open")
	inputs := make([]device.StartInput, n)
	for i := range inputs {
		inputs[i] = a.input(kim, "device-bad")
		inputs[i].Report.Rooted = true
		inputs[i].IntegrityToken = a.token(inputs[i].Report)
	}
	seq := a.auditSeq()
	codes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, in := range inputs {
		node := []*fixture{a, b}[i%2]
		wg.Go(func() {
			_, err := node.svc.Start(context.Background(), inst, in)
			mu.Lock()
			defer mu.Unlock()
			if e := errs.As(err); e != nil {
				codes[e.Code]++
			} else {
				t.Errorf("attempt: %v", err)
			}
		})
	}
	wg.Wait()
	counted := codes["device_rooted"] + countOutcome(a.events(seq), "restricted")
	if counted != 3 || codes["device_rooted"]+codes["registration_restricted"] != n {
		t.Fatalf("codes %v: want exactly 3 counted, the rest restricted", codes)
	}
	if got := a.customerFailures(kim); got != 3 {
		t.Fatalf("customer failures %d, want 3", got)
	}
	err := b.svc.VerifyCode(context.Background(), inst, open.RegistrationID, a.smsCode(kim))
	wantCode(t, err, "registration_restricted")
}

func countOutcome(evs []audit.Event, outcome string) int {
	n := 0
	for _, e := range evs {
		if e.Details["outcome"] == outcome {
			n++
		}
	}
	return n
}

func TestUnknownPhoneLooksLikeACustomer(t *testing.T) {
	f := newFixture(t)
	known, err := f.start(kim, "device-1")
	must(t, err)
	unknown, err := f.start(jung, "device-2")
	must(t, err)
	t.Run("ok/same answer shape", func(t *testing.T) {
		if len(unknown.RegistrationID) != len(known.RegistrationID) || len(unknown.Challenge) != len(known.Challenge) ||
			unknown.ExpiresAt.Sub(known.ExpiresAt) != 0 {
			t.Fatalf("unknown %+v vs known %+v", unknown, known)
		}
	})
	t.Run("error/fails at the code, counted", func(t *testing.T) {
		err := f.svc.VerifyCode(context.Background(), inst, unknown.RegistrationID, f.smsCode(jung))
		wantCode(t, err, "customer_unknown")
		if f.fingerprintFailures("device-2") != 1 {
			t.Fatal("not counted against the fingerprint")
		}
	})
	t.Run("error/an unknown phone is restricted like a customer", func(t *testing.T) {
		wantCode(t, f.badCode(jung, "device-3"), "code_wrong")
		wantCode(t, f.badCode(jung, "device-4"), "registration_restricted")
		_, err := f.start(jung, "device-5")
		wantCode(t, err, "registration_restricted")
	})
}

func TestHardBlockAfterThreeRestrictions(t *testing.T) {
	f := newFixture(t)
	restrict := func() error {
		var err error
		for range 3 {
			err = f.badCode(kim, "device-1")
		}
		return err
	}
	for range 2 {
		wantCode(t, restrict(), "registration_restricted")
		f.clk.Add(24*time.Hour + time.Minute)
	}
	wantCode(t, restrict(), "registration_blocked")
	t.Run("error/a block does not lapse", func(t *testing.T) {
		f.clk.Add(60 * 24 * time.Hour)
		_, err := f.start(kim, "device-new")
		wantCode(t, err, "registration_blocked")
	})
	wantNotes(t, f, kim, notify.KindRegistrationRestricted, notify.KindRegistrationRestricted, notify.KindRegistrationBlocked)
}

func TestHardBlockOneDeviceManyCustomers(t *testing.T) {
	f := newFixture(t)
	f.mustStart(kim, "device-1")
	f.mustStart(lee, "device-1")
	_, err := f.start(park, "device-1")
	wantCode(t, err, "registration_blocked")
	t.Run("error/the device stays blocked for its first customer too", func(t *testing.T) {
		_, err := f.start(kim, "device-1")
		wantCode(t, err, "registration_blocked")
	})
	t.Run("ok/the customers are not blocked on their own phones", func(t *testing.T) {
		_, _, err := f.register(park, "device-park")
		must(t, err)
	})
}

func TestRiskHook(t *testing.T) {
	t.Run("error/rooted emulator is high risk: hard block", func(t *testing.T) {
		f := newFixture(t)
		in := f.input(kim, "device-1")
		in.Report.Rooted, in.Report.Emulator = true, true
		in.IntegrityToken = f.token(in.Report)
		_, err := f.svc.Start(context.Background(), inst, in)
		wantCode(t, err, "registration_blocked")
		if c := f.counter(device.SubjectCustomer, f.customerID(kim)); c.BlockReason != device.BlockHighRisk {
			t.Fatalf("counter %+v", c)
		}
	})
	t.Run("error/one device failing for three customers in 10 min is high risk", func(t *testing.T) {
		f := newFixture(t)
		f.svc.Limits.FingerprintCustomers = 10 // leave the 24 h rule out of it
		wantCode(t, f.badCode(kim, "device-1"), "code_wrong")
		wantCode(t, f.badCode(lee, "device-1"), "code_wrong")
		wantCode(t, f.badCode(park, "device-1"), "registration_blocked")
	})
	t.Run("ok/a failing hook does not stop the count", func(t *testing.T) {
		f := newFixture(t)
		f.svc.Risk = failingHook{}
		seq := f.auditSeq()
		wantCode(t, f.badCode(kim, "device-1"), "code_wrong")
		evs := f.events(seq)
		if last := evs[len(evs)-1]; last.Details["risk"] != "error" || f.customerFailures(kim) != 1 {
			t.Fatalf("audit %+v", last)
		}
	})
}

type failingHook struct{}

func (failingHook) Assess(context.Context, device.Event) (device.Risk, error) {
	return "", errors.New("fds down")
}
