package device_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/notify"
)

func TestRegistrationHappyPath(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st := f.mustStart(kim, "device-1")
	if len(st.Challenge) != device.ChallengeSize || !st.ExpiresAt.Equal(f.clk.Now().Add(device.RegistrationTTL)) {
		t.Fatalf("started %+v", st)
	}
	must(t, f.svc.VerifyCode(ctx, inst, st.RegistrationID, f.smsCode(kim)))
	k := newKey(t)
	d, err := f.svc.BindKey(ctx, inst, st.RegistrationID, st.Challenge, proof(t, k, st.RegistrationID, st.Challenge))
	must(t, err)

	t.Run("ok/device bound to the customer and the key", func(t *testing.T) {
		got, err := f.svc.Device(ctx, inst, d.ID)
		must(t, err)
		if got.CustomerID != f.customerID(kim) || got.State != device.DeviceActive || got.KeyKind != device.KeyKindAppKey {
			t.Fatalf("device %+v", got)
		}
		pub, err := device.ParsePublicKey(got.PublicKey)
		must(t, err)
		if !pub.Equal(&k.PublicKey) {
			t.Fatal("stored key is not the bound key")
		}
	})
	t.Run("ok/registration completed, counts at zero", func(t *testing.T) {
		reg, err := f.db.Registration(ctx, inst, st.RegistrationID)
		must(t, err)
		if reg.State != device.StateCompleted {
			t.Fatalf("state %q", reg.State)
		}
		if sum := sha256.Sum256(st.Challenge); string(reg.ChallengeHash) != string(sum[:]) {
			t.Fatal("the stored challenge hash is not SHA-256 of the challenge")
		}
		if f.customerFailures(kim) != 0 || f.fingerprintFailures("device-1") != 0 {
			t.Fatal("counts not at zero")
		}
	})
	t.Run("ok/a new device revokes the old one and tells the customer", func(t *testing.T) {
		f.clk.Add(time.Minute)
		d2, _, err := f.register(kim, "device-2")
		must(t, err)
		old, err := f.svc.Device(ctx, inst, d.ID)
		must(t, err)
		if old.State != device.DeviceRevoked || old.RevokeReason != "replaced" {
			t.Fatalf("old device %+v", old)
		}
		all, err := f.svc.Devices(ctx, inst, f.customerID(kim))
		must(t, err)
		if len(all) != 2 || all[0].ID != d2.ID || all[0].State != device.DeviceActive {
			t.Fatalf("devices %+v", all)
		}
		wantNotes(t, f, kim, notify.KindDeviceRegistered, notify.KindDeviceRegistered, notify.KindDeviceRevoked)
	})
	t.Run("ok/the device signs requests with its key", func(t *testing.T) {
		pub, err := device.ParsePublicKey(d.PublicKey)
		must(t, err)
		body := sha256.Sum256([]byte(`{"amount":6900}`))
		ts := f.clk.Now().Unix()
		sig := sign(t, k, device.RequestMessage("POST", "/v1/payments", body[:], "n-1", ts))
		must(t, device.VerifyRequest(pub, "POST", "/v1/payments", body[:], "n-1", ts, sig))
		wantIs(t, device.VerifyRequest(pub, "POST", "/v1/payments", body[:], "n-2", ts, sig), device.ErrSignatureInvalid)
	})
}

// wantNotes checks the kinds of the notifications queued for a customer,
// oldest first.
func wantNotes(t *testing.T, f *fixture, id carrier.Identity, kinds ...string) {
	t.Helper()
	rows, err := f.db.SQL().QueryContext(context.Background(),
		f.db.Rebind(`SELECT kind FROM notifications WHERE customer_id = ? ORDER BY created_at, kind`), f.customerID(id))
	must(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var k string
		must(t, rows.Scan(&k))
		got = append(got, k)
	}
	must(t, rows.Err())
	if !slices.Equal(got, kinds) {
		t.Fatalf("notifications %v, want %v", got, kinds)
	}
}

func TestStartRefusalsAreCounted(t *testing.T) {
	otherPlatform := attest.NewSimulator()
	tests := []struct {
		name string
		edit func(f *fixture, in *device.StartInput)
		code string
	}{
		{"error/rooted", func(f *fixture, in *device.StartInput) { in.Report.Rooted = true }, "device_rooted"},
		{"error/emulator", func(f *fixture, in *device.StartInput) { in.Report.Emulator = true }, "device_emulator"},
		{"error/debugger", func(f *fixture, in *device.StartInput) { in.Report.Debugger = true }, "debugger_attached"},
		{"error/security patch 13 months old", func(f *fixture, in *device.StartInput) {
			in.Report.SecurityPatch = f.clk.Now().AddDate(0, -13, 0).Format(time.DateOnly)
		}, "security_patch_too_old"},
		{"error/app below minimum", func(f *fixture, in *device.StartInput) { in.Report.AppVersion = "1.9.9" }, "app_version_too_old"},
		{"error/unknown signing digest", func(f *fixture, in *device.StartInput) { in.Report.AppDigest = sha(t, "repackaged") }, "app_signature_unknown"},
		{"error/no integrity token", func(f *fixture, in *device.StartInput) { in.IntegrityToken = "" }, "integrity_token_invalid"},
		{"error/token forged with another key", func(f *fixture, in *device.StartInput) {
			in.IntegrityToken = mint(t, otherPlatform, in.Report, true)
		}, "integrity_token_invalid"},
		{"error/token not a token", func(f *fixture, in *device.StartInput) { in.IntegrityToken = "eyJhbGciOiJub25lIn0.e30." }, "integrity_token_invalid"},
		{"error/token bound to another report", func(f *fixture, in *device.StartInput) {
			other := in.Report
			other.DeviceID = "someone-else"
			in.IntegrityToken = f.token(other)
		}, "integrity_token_invalid"},
		{"error/platform does not vouch for the device", func(f *fixture, in *device.StartInput) {
			in.IntegrityToken = mint(t, f.attest, in.Report, false)
		}, "device_integrity_failed"},
		{"error/expired token", func(f *fixture, in *device.StartInput) { f.clk.Add(attest.TokenLifetime) }, "integrity_token_invalid"},
		{"error/name does not match the carrier", func(f *fixture, in *device.StartInput) { in.Identity.Name = "김민준" }, "identity_mismatch"},
		{"error/birth date does not match", func(f *fixture, in *device.StartInput) { in.Identity.BirthDate = "1990-01-02" }, "identity_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			in := f.input(kim, "device-1")
			tt.edit(f, &in)
			seq := f.auditSeq()
			_, err := f.svc.Start(context.Background(), inst, in)
			wantCode(t, err, tt.code)
			if n, ok := device.Remaining(err); !ok || n != 2 {
				t.Fatalf("remaining = %d, %v; want 2", n, ok)
			}
			if f.customerFailures(kim) != 1 || f.counter(device.SubjectFingerprint, f.svc.Fingerprint(in.Report)).Failures != 1 {
				t.Fatal("the failure was not counted against both the customer and the fingerprint")
			}
			evs := f.events(seq)
			if len(evs) != 1 || evs[0].Action != device.ActionStart || evs[0].Result != audit.ResultFailure || evs[0].Details["reason"] != tt.code {
				t.Fatalf("audit %+v", evs)
			}
		})
	}
}

func TestTokenReuseIsCounted(t *testing.T) {
	f := newFixture(t)
	in := f.input(kim, "device-1")
	_, err := f.svc.Start(context.Background(), inst, in)
	must(t, err)
	_, err = f.svc.Start(context.Background(), inst, in)
	wantCode(t, err, "integrity_token_reused")
	if f.customerFailures(kim) != 1 {
		t.Fatal("token reuse not counted")
	}
}

func TestInvalidInputIsNotAnAttempt(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(in *device.StartInput)
		code  string
		field string
	}{
		{"error/empty device id", func(in *device.StartInput) { in.Report.DeviceID = "" }, "report_invalid", "report.device_id"},
		{"error/unknown os", func(in *device.StartInput) { in.Report.OS = "symbian" }, "report_invalid", "report.os"},
		{"error/patch not a date", func(in *device.StartInput) { in.Report.SecurityPatch = "2026-02-30" }, "report_invalid", "report.security_patch"},
		{"error/phone", func(in *device.StartInput) { in.Identity.Phone = "02-123-4567" }, "identity_invalid", "phone"},
		{"error/name with control character", func(in *device.StartInput) { in.Identity.Name = "김\u0000민수" }, "identity_invalid", "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			in := f.input(kim, "device-1")
			tt.edit(&in)
			seq := f.auditSeq()
			_, err := f.svc.Start(context.Background(), inst, in)
			if e := wantCode(t, err, tt.code); e.Field != tt.field {
				t.Fatalf("field %q, want %q", e.Field, tt.field)
			}
			if f.auditSeq() != seq || f.customerFailures(kim) != 0 {
				t.Fatal("invalid input was recorded as an attempt")
			}
		})
	}
}

func sha(t *testing.T, s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mint(t *testing.T, sim *attest.Simulator, r device.Report, integrity bool) string {
	t.Helper()
	tok, err := sim.Mint(attest.Claims{Nonce: device.IntegrityNonce(r), AppDigest: r.AppDigest, AppVersion: r.AppVersion, DeviceIntegrity: integrity})
	must(t, err)
	return tok
}

func TestStartNormalizesIdentity(t *testing.T) {
	f := newFixture(t)
	in := f.input(kim, "device-1")
	in.Identity.Name = " " + norm.NFD.String(kim.Name) + " "
	in.Identity.Phone = "+82 10-1234-5678"
	_, err := f.svc.Start(context.Background(), inst, in)
	must(t, err)
	if f.customerFailures(kim) != 0 {
		t.Fatal("a decomposed name or a formatted phone counted as a mismatch")
	}
}

func TestServiceValidate(t *testing.T) {
	f := newFixture(t)
	must(t, f.svc.Validate())
	noCarrier := *f.svc
	noCarrier.Carrier = nil
	if noCarrier.Validate() == nil {
		t.Fatal("a service without a carrier validated")
	}
	noDigest := *f.svc
	noDigest.Policy.AllowedDigests = nil
	if noDigest.Validate() == nil {
		t.Fatal("a policy without app digests validated")
	}
}
