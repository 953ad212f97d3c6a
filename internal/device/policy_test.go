package device

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/errs"
)

var testNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func goodReport() Report {
	return Report{DeviceID: "a1b2c3d4", Model: "SM-S918N", OS: "android", OSVersion: "15", SecurityPatch: "2026-10-01",
		AppVersion: "2.4.0", AppDigest: strings.Repeat("ab", 32), NetworkType: "cellular"}
}

func goodVerdict(r Report) *attest.Verdict {
	return &attest.Verdict{TokenID: "t1", Nonce: IntegrityNonce(r), AppDigest: r.AppDigest, AppVersion: r.AppVersion, DeviceIntegrity: true}
}

func testPolicy() Policy {
	p := DefaultPolicy()
	p.AllowedDigests, p.MinAppVersion = []string{strings.Repeat("AB", 32)}, "2.0"
	return p
}

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name   string
		policy func(*Policy)
		edit   func(*Report, **attest.Verdict)
		want   error
	}{
		{"ok/healthy device", nil, nil, nil},
		{"ok/digest compares without case", nil, func(r *Report, v **attest.Verdict) {
			r.AppDigest = strings.ToUpper(r.AppDigest)
			*v = goodVerdict(*r)
		}, nil},
		{"ok/patch exactly at the limit", nil, func(r *Report, v **attest.Verdict) {
			r.SecurityPatch = testNow.Add(-365 * 24 * time.Hour).Format(time.DateOnly)
			*v = goodVerdict(*r)
		}, nil},
		{"ok/no token when integrity is not required", func(p *Policy) { p.RequireIntegrity = false }, func(r *Report, v **attest.Verdict) { *v = nil }, nil},
		{"error/rooted", nil, func(r *Report, _ **attest.Verdict) { r.Rooted = true }, ErrRooted},
		{"error/emulator", nil, func(r *Report, _ **attest.Verdict) { r.Emulator = true }, ErrEmulator},
		{"error/debugger", nil, func(r *Report, _ **attest.Verdict) { r.Debugger = true }, ErrDebugger},
		{"error/patch a day too old", nil, func(r *Report, _ **attest.Verdict) {
			r.SecurityPatch = testNow.Add(-366 * 24 * time.Hour).Format(time.DateOnly)
		}, ErrPatchTooOld},
		{"error/patch older than a custom limit", func(p *Policy) { p.MaxPatchAge = 30 * 24 * time.Hour }, nil, ErrPatchTooOld},
		{"error/app 1.10 below 2.0", nil, func(r *Report, _ **attest.Verdict) { r.AppVersion = "1.10" }, ErrAppTooOld},
		{"error/unknown digest", nil, func(r *Report, _ **attest.Verdict) { r.AppDigest = strings.Repeat("cd", 32) }, ErrAppSignature},
		{"error/no digests allowed", func(p *Policy) { p.AllowedDigests = nil }, nil, ErrAppSignature},
		{"error/no token", nil, func(_ *Report, v **attest.Verdict) { *v = nil }, ErrIntegrityToken},
		{"error/token for another report", nil, func(_ *Report, v **attest.Verdict) { (*v).Nonce = "other" }, ErrIntegrityToken},
		{"error/report lies about the build", nil, func(_ *Report, v **attest.Verdict) { (*v).AppDigest = strings.Repeat("cd", 32) }, ErrIntegrityToken},
		{"error/report lies about the version", nil, func(_ *Report, v **attest.Verdict) { (*v).AppVersion = "2.5.0" }, ErrIntegrityToken},
		{"error/platform verdict: not genuine", nil, func(_ *Report, v **attest.Verdict) { (*v).DeviceIntegrity = false }, ErrDeviceIntegrity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := testPolicy(), goodReport()
			if tt.policy != nil {
				tt.policy(&p)
			}
			v := goodVerdict(r)
			if tt.edit != nil {
				tt.edit(&r, &v)
			}
			if err := p.Check(r, v, testNow); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Policy)
		ok   bool
	}{
		{"ok", nil, true},
		{"error/no digest", func(p *Policy) { p.AllowedDigests = nil }, false},
		{"error/short digest", func(p *Policy) { p.AllowedDigests = []string{"abcd"} }, false},
		{"error/bad minimum version", func(p *Policy) { p.MinAppVersion = "v2" }, false},
		{"error/negative patch age", func(p *Policy) { p.MaxPatchAge = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy()
			if tt.edit != nil {
				tt.edit(&p)
			}
			if err := p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.10", "1.9", 1}, {"1.2", "1.2.0", 0}, {"2", "10", -1}, {"1.0.0.1", "1", 1}, {"000000001.2", "1.2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := compareVersions(tt.a, tt.b); got != tt.want {
				t.Fatalf("compare = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestReportValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Report)
		field string
	}{
		{"ok", func(*Report) {}, ""},
		{"error/device id too long", func(r *Report) { r.DeviceID = strings.Repeat("a", 129) }, "report.device_id"},
		{"error/device id with a space", func(r *Report) { r.DeviceID = "a b" }, "report.device_id"},
		{"error/model with a newline", func(r *Report) { r.Model = "SM\nS918N" }, "report.model"},
		{"error/os", func(r *Report) { r.OS = "Android" }, "report.os"},
		{"error/os version empty", func(r *Report) { r.OSVersion = "" }, "report.os_version"},
		{"error/patch date 2026-13-01", func(r *Report) { r.SecurityPatch = "2026-13-01" }, "report.security_patch"},
		{"error/patch date with time", func(r *Report) { r.SecurityPatch = "2026-10-01T00:00:00Z" }, "report.security_patch"},
		{"error/app version with letters", func(r *Report) { r.AppVersion = "2.4.0-beta" }, "report.app_version"},
		{"error/app version five parts", func(r *Report) { r.AppVersion = "1.2.3.4.5" }, "report.app_version"},
		{"error/app version empty part", func(r *Report) { r.AppVersion = "1..2" }, "report.app_version"},
		{"error/digest not hex", func(r *Report) { r.AppDigest = strings.Repeat("zz", 32) }, "report.app_digest"},
		{"error/network type", func(r *Report) { r.NetworkType = "5g" }, "report.network_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport()
			tt.edit(&r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := errs.As(err)
			if !errors.Is(err, ErrReportInvalid) || e.Field != tt.field {
				t.Fatalf("Validate = %v (field %q), want report_invalid on %q", err, e.Field, tt.field)
			}
		})
	}
}

func TestDecodeReport(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"ok", `{"device_id":"a1","model":"SM-S918N","os":"ios","os_version":"18.1","security_patch":"2026-10-01",
			"rooted":false,"emulator":false,"debugger":false,"app_version":"2.4.0","app_digest":"` + strings.Repeat("0f", 32) + `","network_type":"wifi"}`, true},
		{"error/unknown field", `{"device_id":"a1","imei":"35"}`, false},
		{"error/trailing data", `{"device_id":"a1"} {}`, false},
		{"error/not an object", `[]`, false},
		{"error/wrong type", `{"rooted":"no"}`, false},
		{"error/too large", `{"model":"` + strings.Repeat("a", MaxReportSize) + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeReport([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("DecodeReport = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrReportInvalid) {
				t.Fatalf("error %v is not report_invalid", err)
			}
		})
	}
}
