package secmedia_test

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/secmedia"
)

func TestRegisterValidates(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*secmedia.Registration)
		code, field string
	}{
		{"error/serial too short", func(r *secmedia.Registration) { r.Serial = "OTP-123" }, "invalid_serial", "serial"},
		{"error/serial too long", func(r *secmedia.Registration) { r.Serial = strings.Repeat("A", 21) }, "invalid_serial", "serial"},
		{"error/serial with an underscore", func(r *secmedia.Registration) { r.Serial = "OTP_12345" }, "invalid_serial", "serial"},
		{"error/serial with a non-ASCII letter", func(r *secmedia.Registration) { r.Serial = "OTP-1234-가" }, "invalid_serial", "serial"},
		{"error/unknown kind", func(r *secmedia.Registration) { r.Kind = "sms" }, "invalid_media_kind", "kind"},
		{"error/upper-case kind", func(r *secmedia.Registration) { r.Kind = "TOTP" }, "invalid_media_kind", "kind"},
		{"error/seed of 15 bytes", func(r *secmedia.Registration) { r.SeedBase32 = b32(rfcSeed[:15]) }, "invalid_seed", "seed"},
		{"error/seed of 65 bytes", func(r *secmedia.Registration) { r.SeedBase32 = b32(strings.Repeat("x", 65)) }, "invalid_seed", "seed"},
		{"error/seed not base32", func(r *secmedia.Registration) { r.SeedBase32 = "GEZDGNBVGY3TQOJQ0EZDGNBVGY3TQOJQ" }, "invalid_seed", "seed"},
		{"error/seed of an impossible length", func(r *secmedia.Registration) { r.SeedBase32 += "A" }, "invalid_seed", "seed"},
		{"error/seed with non-zero trailing bits", func(r *secmedia.Registration) { r.SeedBase32 = "GEZDGNBVGY3TQOJQGEZDGNBVGZ" }, "invalid_seed", "seed"},
		{"error/empty seed", func(r *secmedia.Registration) { r.SeedBase32 = "" }, "invalid_seed", "seed"},
		{"error/7 digits", func(r *secmedia.Registration) { r.Digits = 7 }, "invalid_digits", "digits"},
		{"error/period 45", func(r *secmedia.Registration) { r.Period = 45 }, "invalid_period", "period"},
		{"error/period on hotp", func(r *secmedia.Registration) { r.Kind, r.Period = secmedia.HOTP, 30 }, "invalid_period", "period"},
		{"error/MD5", func(r *secmedia.Registration) { r.Algorithm = "MD5" }, "invalid_algorithm", "algorithm"},
		{"error/holder without name", func(r *secmedia.Registration) { r.Holder.Name = " " }, "invalid_name", "holder.name"},
		{"error/holder birth date not a day", func(r *secmedia.Registration) { r.Holder.BirthDate = "1990-02-30" }, "invalid_birth_date", "holder.birth_date"},
		{"error/holder phone not mobile", func(r *secmedia.Registration) { r.Holder.Phone = "0212345678" }, "invalid_phone", "holder.phone"},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := totpReg("OTP-VALID-01")
			tc.edit(&r)
			_, err := f.svc.Register(t.Context(), "op_1", "cl_a", r)
			wantCode(t, err, tc.code, tc.field)
			if _, err := f.db.Medium(t.Context(), "cl_a", "OTP-VALID-01"); !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("a refused registration was stored: %v", err)
			}
		})
	}
	t.Run("error/no institution", func(t *testing.T) {
		_, err := f.svc.Register(t.Context(), "op_1", "", totpReg("OTP-VALID-01"))
		if errs.KindOf(err) != errs.Invalid {
			t.Fatalf("error = %v, want invalid", err)
		}
	})
}

func TestRegister(t *testing.T) {
	f := newFixture(t)
	seed := "gezd gnbv gy3t qojq gezd gnbv gy3t qojq====" // rfcSeed, grouped, lower case, padded
	v := register(t, f, "cl_a", secmedia.Registration{Serial: " otp-0001-abcd ", Kind: secmedia.TOTP, SeedBase32: seed,
		Holder: ekyc.Applicant{Name: "김민수", BirthDate: "1990-01-01", Phone: "010-1234-5678"}})
	t.Run("ok/defaults applied and holder masked", func(t *testing.T) {
		want := secmedia.View{ID: v.ID, Serial: "OTP-0001-ABCD", Kind: secmedia.TOTP, Digits: 6, Period: 30,
			Algorithm: secmedia.SHA1, Holder: ekyc.ApplicantView{Name: "김*수", BirthDate: "1990-**-**", Phone: "010-****-5678"},
			RegisteredAt: start}
		if !strings.HasPrefix(v.ID, "sm_") || fmt.Sprint(*v) != fmt.Sprint(want) {
			t.Fatalf("view\n got  %+v\n want %+v", *v, want)
		}
	})
	t.Run("ok/seed sealed, holder indexed", func(t *testing.T) {
		r := stored(t, f, "cl_a", "OTP-0001-ABCD")
		for _, b := range [][]byte{r.SeedSealed, r.NameSealed, r.BirthSealed, r.PhoneSealed} {
			if bytes.Contains(b, []byte(rfcSeed)) || bytes.Contains(b, []byte("01012345678")) || len(b) < 28 {
				t.Fatalf("a sealed column holds its plain value: %x", b)
			}
		}
		if len(r.HolderIndex) != 32 || r.Counter != 0 || r.LastStep != 0 || r.Failures != 0 {
			t.Fatalf("record %+v", r)
		}
	})
	t.Run("ok/the same person typed another way is the holder", func(t *testing.T) {
		f.clk.Set(time.Unix(1111111111, 0))
		other := ekyc.Applicant{Name: " 김민수 ", BirthDate: "1990-01-01", Phone: "+82 10-1234-5678"}
		code, _ := totp.GenerateCode(b32(rfcSeed), f.clk.Now())
		if !verify(t, f, "cl_a", other, "otp-0001-abcd", code) {
			t.Fatal("holder in another spelling refused")
		}
	})
	t.Run("error/serial taken at the institution", func(t *testing.T) {
		_, err := f.svc.Register(t.Context(), "op_1", "cl_a", totpReg("OTP-0001-ABCD"))
		wantCode(t, err, "security_medium_exists", "serial")
	})
	t.Run("ok/same serial at another institution", func(t *testing.T) {
		register(t, f, "cl_b", totpReg("OTP-0001-ABCD"))
	})
	t.Run("ok/get masks", func(t *testing.T) {
		got, err := f.svc.Get(t.Context(), "cl_a", "otp-0001-abcd")
		if err != nil || got.ID != v.ID || got.Holder != v.Holder || got.Locked {
			t.Fatalf("get = %+v, %v", got, err)
		}
		if _, err := f.svc.Get(t.Context(), "cl_b", "OTP-NOPE-0000"); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("unknown serial: %v", err)
		}
	})
}

func TestHOTPResync(t *testing.T) {
	seed := b32(rfcSeed)
	code := func(c uint64) string {
		s, err := hotp.GenerateCode(seed, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The look-ahead cases below assume no two counters up to 12 share a code.
	seen := map[string]uint64{}
	for c := range uint64(13) {
		if prev, dup := seen[code(c)]; dup {
			t.Fatalf("counters %d and %d share code %s", prev, c, code(c))
		}
		seen[code(c)] = c
	}
	tests := []struct {
		name        string
		counter     uint64
		accepted    bool
		wantCounter uint64
	}{
		{"ok/expected counter", 0, true, 1},
		{"ok/9 presses ahead (RFC count 9)", 9, true, 10},
		{"ok/at the edge of the window", secmedia.HOTPLookAhead, true, secmedia.HOTPLookAhead + 1},
		{"error/one past the window", secmedia.HOTPLookAhead + 1, false, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			serial := fmt.Sprintf("HOTP-SYNC-%02d", i)
			register(t, f, "cl_a", hotpReg(serial))
			if got := verify(t, f, "cl_a", kim(), serial, code(tc.counter)); got != tc.accepted {
				t.Fatalf("accepted = %v, want %v", got, tc.accepted)
			}
			r := stored(t, f, "cl_a", serial)
			if r.Counter != tc.wantCounter || (r.Failures == 0) != tc.accepted {
				t.Fatalf("counter %d, failures %d", r.Counter, r.Failures)
			}
		})
	}
	t.Run("error/a code behind the counter after a resync", func(t *testing.T) {
		f := newFixture(t)
		register(t, f, "cl_a", hotpReg("HOTP-BEHIND-01"))
		if !verify(t, f, "cl_a", kim(), "HOTP-BEHIND-01", rfc4226[9]) {
			t.Fatal("resync to count 9 refused")
		}
		if verify(t, f, "cl_a", kim(), "HOTP-BEHIND-01", rfc4226[3]) {
			t.Fatal("a code behind the counter was accepted")
		}
		if !verify(t, f, "cl_a", kim(), "HOTP-BEHIND-01", code(10)) {
			t.Fatal("the next code after the resync refused")
		}
	})
}

func TestTOTPSkewAndReplay(t *testing.T) {
	now := time.Unix(1234567890, 0)
	at := func(steps int) string {
		c, err := totp.GenerateCode(b32(rfcSeed), now.Add(time.Duration(steps)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name  string
		steps int
		want  bool
	}{
		{"ok/current step", 0, true},
		{"ok/one step behind", -1, true},
		{"ok/one step ahead", 1, true},
		{"error/two steps behind", -2, false},
		{"error/two steps ahead", 2, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			serial := fmt.Sprintf("TOTP-SKEW-%02d", i)
			register(t, f, "cl_a", totpReg(serial))
			f.clk.Set(now)
			if got := verify(t, f, "cl_a", kim(), serial, at(tc.steps)); got != tc.want {
				t.Fatalf("accepted = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("error/replay and older steps refused, and not counted", func(t *testing.T) {
		f := newFixture(t)
		register(t, f, "cl_a", totpReg("TOTP-REPLAY-1"))
		f.clk.Set(now)
		if !verify(t, f, "cl_a", kim(), "TOTP-REPLAY-1", at(1)) {
			t.Fatal("code of the next step refused")
		}
		for _, steps := range []int{1, 0, -1} {
			if verify(t, f, "cl_a", kim(), "TOTP-REPLAY-1", at(steps)) {
				t.Fatalf("code %+d steps accepted after step +1 was spent", steps)
			}
		}
		if r := stored(t, f, "cl_a", "TOTP-REPLAY-1"); r.Failures != 0 || r.LastStep != now.Unix()/30+1 {
			t.Fatalf("failures %d, last step %d", r.Failures, r.LastStep)
		}
		f.clk.Set(now.Add(60 * time.Second))
		if !verify(t, f, "cl_a", kim(), "TOTP-REPLAY-1", at(2)) {
			t.Fatal("the code of a later step refused")
		}
	})
	t.Run("ok/60-second period", func(t *testing.T) {
		f := newFixture(t)
		r := totpReg("TOTP-PERIOD-60")
		r.Period = 60
		register(t, f, "cl_a", r)
		f.clk.Set(now)
		c, _ := totp.GenerateCodeCustom(b32(rfcSeed), now, totp.ValidateOpts{Period: 60, Digits: otp.DigitsSix})
		c30, _ := totp.GenerateCode(b32(rfcSeed), now.Add(-60*time.Second))
		if verify(t, f, "cl_a", kim(), "TOTP-PERIOD-60", c30) || !verify(t, f, "cl_a", kim(), "TOTP-PERIOD-60", c) {
			t.Fatal("the 60-second medium was checked with the wrong period")
		}
	})
}

func TestVerifyRefusesStrangers(t *testing.T) {
	f := newFixture(t)
	register(t, f, "cl_a", hotpReg("HOTP-OWNER-01"))
	lee := kim()
	lee.Name = "이민수"
	tests := []struct {
		name, institution, serial string
		holder                    ekyc.Applicant
	}{
		{"error/another name", "cl_a", "HOTP-OWNER-01", lee},
		{"error/another birth date", "cl_a", "HOTP-OWNER-01", ekyc.Applicant{Name: "김민수", BirthDate: "1990-01-02", Phone: "01012345678"}},
		{"error/another phone", "cl_a", "HOTP-OWNER-01", ekyc.Applicant{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345679"}},
		{"error/malformed holder", "cl_a", "HOTP-OWNER-01", ekyc.Applicant{}},
		{"error/another institution's serial", "cl_b", "HOTP-OWNER-01", kim()},
		{"error/unknown serial", "cl_a", "HOTP-NOBODY-1", kim()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := f.svc.Verify(t.Context(), tc.institution, tc.holder, tc.serial, rfc4226[0])
			if ok || err != nil {
				t.Fatalf("verify = %v, %v; want false with no error", ok, err)
			}
			if r := stored(t, f, "cl_a", "HOTP-OWNER-01"); r.Counter != 0 || r.Failures != 0 {
				t.Fatalf("a stranger moved the medium: counter %d, failures %d", r.Counter, r.Failures)
			}
		})
	}
	t.Run("ok/the owner still can", func(t *testing.T) {
		if !verify(t, f, "cl_a", kim(), "HOTP-OWNER-01", rfc4226[0]) {
			t.Fatal("owner refused")
		}
	})
}

func TestVerifyCodeFormat(t *testing.T) {
	f := newFixture(t)
	register(t, f, "cl_a", hotpReg("HOTP-FORMAT-1"))
	tests := []struct{ name, code string }{
		{"error/empty", ""},
		{"error/five digits", "12345"},
		{"error/seven digits", "1234567"},
		{"error/a letter", "12a456"},
		{"error/surrounding space", " 755224"},
		{"error/full-width digits", "７５５２２４"},
		{"error/sign", "+75522"},
		{"error/eight digits on a six-digit medium", "75522400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := f.svc.Verify(t.Context(), "cl_a", kim(), "HOTP-FORMAT-1", tc.code)
			wantCode(t, err, "invalid_otp_code", "code")
			if ok || errs.KindOf(err) != errs.Invalid {
				t.Fatalf("verify = %v, kind %v", ok, errs.KindOf(err))
			}
			if r := stored(t, f, "cl_a", "HOTP-FORMAT-1"); r.Failures != 0 {
				t.Fatalf("a malformed code was counted: %d", r.Failures)
			}
		})
	}
	t.Run("error/a stranger's eight digits tell nothing", func(t *testing.T) {
		ok, err := f.svc.Verify(t.Context(), "cl_b", kim(), "HOTP-FORMAT-1", "75522400")
		if ok || err != nil {
			t.Fatalf("verify = %v, %v; want false, nil", ok, err)
		}
	})
	t.Run("error/malformed serial", func(t *testing.T) {
		_, err := f.svc.Verify(t.Context(), "cl_a", kim(), "HOTP FORMAT 1", "755224")
		wantCode(t, err, "invalid_serial", "serial")
	})
}

func TestLockAfterWrongCodes(t *testing.T) {
	f := newFixture(t)
	f.svc.MaxFailures = 3
	register(t, f, "cl_a", hotpReg("HOTP-LOCK-001"))
	for i := range 3 {
		if verify(t, f, "cl_a", kim(), "HOTP-LOCK-001", "000000") {
			t.Fatalf("wrong code %d accepted", i+1)
		}
	}
	t.Run("error/right code refused while locked", func(t *testing.T) {
		ok, err := f.svc.Verify(t.Context(), "cl_a", kim(), "HOTP-LOCK-001", rfc4226[0])
		wantCode(t, err, "security_medium_locked", "")
		if ok || errs.KindOf(err) != errs.Locked {
			t.Fatalf("verify = %v, %v", ok, err)
		}
		if v, _ := f.svc.Get(t.Context(), "cl_a", "HOTP-LOCK-001"); v == nil || !v.Locked {
			t.Fatalf("view %+v not locked", v)
		}
	})
	t.Run("ok/lock audited once", func(t *testing.T) {
		if n := countAudit(t, f, "secmedia.lock"); n != 1 {
			t.Fatalf("%d lock events, want 1", n)
		}
	})
	t.Run("ok/unlock, then the right code passes", func(t *testing.T) {
		if err := f.svc.Unlock(t.Context(), "op_1", "cl_a", "HOTP-LOCK-001"); err != nil {
			t.Fatal(err)
		}
		if !verify(t, f, "cl_a", kim(), "HOTP-LOCK-001", rfc4226[0]) || countAudit(t, f, "secmedia.unlock") != 1 {
			t.Fatal("unlocked medium refused its code, or the unlock was not audited")
		}
	})
	t.Run("error/unlock of another institution's medium", func(t *testing.T) {
		err := f.svc.Unlock(t.Context(), "op_1", "cl_b", "HOTP-LOCK-001")
		if !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("error = %v, want not found", err)
		}
	})
}

func countAudit(t *testing.T, f *fixture, action string) int {
	t.Helper()
	evs, err := f.db.AuditEvents(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestParallelUseOfOneCode(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			f := newFixtureOn(t, eng.open)
			register(t, f, "cl_a", totpReg("TOTP-RACE-001"))
			register(t, f, "cl_a", hotpReg("HOTP-RACE-001"))
			f.clk.Set(time.Unix(1111111111, 0))
			code, _ := totp.GenerateCode(b32(rfcSeed), f.clk.Now())
			t.Run("ok/one of 20 totp uses wins", func(t *testing.T) { wantOneAccepted(t, f, "TOTP-RACE-001", code) })
			t.Run("ok/one of 20 hotp uses wins", func(t *testing.T) { wantOneAccepted(t, f, "HOTP-RACE-001", rfc4226[4]) })
		})
	}
}

func wantOneAccepted(t *testing.T, f *fixture, serial, code string) {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := f.svc.Verify(t.Context(), "cl_a", kim(), serial, code)
			if err != nil {
				t.Errorf("verify: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d uses accepted, want 1", wins.Load())
	}
	if r := stored(t, f, "cl_a", serial); r.Failures != 0 {
		t.Fatalf("the losers of the race were counted as wrong codes: %d", r.Failures)
	}
}

func TestSeedNeverShown(t *testing.T) {
	const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	raw, _ := base32.StdEncoding.DecodeString(seed)
	r := secmedia.Registration{Serial: "OTP-SECRET-01", Kind: secmedia.TOTP, SeedBase32: seed, Holder: kim()}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("registration", "reg", r)
	js, _ := json.Marshal(r)
	f := newFixture(t)
	v := register(t, f, "cl_a", r)
	vjs, _ := json.Marshal(v)
	bad := r
	bad.Digits = 7
	_, errDigits := f.svc.Register(t.Context(), "op_1", "cl_a", bad)
	bad = r
	bad.SeedBase32 = seed + "!"
	_, errSeed := f.svc.Register(t.Context(), "op_1", "cl_a", bad)
	evs, _ := f.db.AuditEvents(t.Context(), 0, 100)
	ajs, _ := json.Marshal(evs)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", r), "%+v": fmt.Sprintf("%+v", r), "%#v": fmt.Sprintf("%#v", r), "String": r.String(),
		"slog": logged.String(), "json": string(js), "view": string(vjs), "audit": string(ajs),
		"digits error": errDigits.Error(), "seed error": errSeed.Error(),
	}
	for name, out := range outputs {
		t.Run("ok/"+name, func(t *testing.T) {
			if strings.Contains(strings.ToUpper(out), seed[:16]) || strings.Contains(out, string(raw)) {
				t.Fatalf("seed shown: %s", out)
			}
		})
	}
	if !strings.Contains(fmt.Sprint(r), "OTP-SECRET-01") || !strings.Contains(logged.String(), "OTP-SECRET-01") {
		t.Fatal("the redacted forms lost the serial")
	}
}

func TestNewSeed(t *testing.T) {
	f := newFixture(t)
	a, b := secmedia.NewSeed(), secmedia.NewSeed()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a)
	if err != nil || len(raw) != 20 || a == b || strings.ToUpper(a) != a {
		t.Fatalf("seeds %q %q: %d bytes, %v", a, b, len(raw), err)
	}
	r := totpReg("OTP-NEWSEED-1")
	r.SeedBase32 = a
	register(t, f, "cl_a", r)
	code, err := totp.GenerateCode(a, f.clk.Now())
	if err != nil || !verify(t, f, "cl_a", kim(), "OTP-NEWSEED-1", code) {
		t.Fatalf("a code from a new seed refused (%v)", err)
	}
}
