package device

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/attest"
)

// Policy is the integrity policy a device must meet to be registered.
type Policy struct {
	// MaxPatchAge is how old the OS security patch may be; 0 means 365 days.
	MaxPatchAge time.Duration
	// MinAppVersion is the lowest accepted app version ("" accepts any);
	// versions compare as dotted numbers, so 1.10 is above 1.9.
	MinAppVersion string
	// AllowedDigests are the SHA-256 digests (hex) of the app's genuine
	// signing certificates. Empty refuses every app: a build must be named.
	AllowedDigests []string
	// RequireIntegrity refuses registrations without a verified integrity
	// token. DefaultPolicy sets it; turn it off only for development.
	RequireIntegrity bool
	// KeepPreviousDevices keeps a customer's earlier devices active when a
	// new one registers. The default (false) revokes them: one active device
	// per customer.
	KeepPreviousDevices bool
}

// DefaultPolicy is the bank default: a patch at most 365 days old and a
// verified integrity token. The caller adds its app's digests and minimum.
func DefaultPolicy() Policy {
	return Policy{MaxPatchAge: 365 * 24 * time.Hour, RequireIntegrity: true}
}

// Validate checks the policy's settings.
func (p Policy) Validate() error {
	if p.MaxPatchAge < 0 {
		return errors.New("device policy: MaxPatchAge must not be negative")
	}
	if p.MinAppVersion != "" && !validVersion(p.MinAppVersion) {
		return fmt.Errorf("device policy: MinAppVersion %q is not a dotted version", p.MinAppVersion)
	}
	if len(p.AllowedDigests) == 0 {
		return errors.New("device policy: AllowedDigests must name at least one app signing digest")
	}
	for _, d := range p.AllowedDigests {
		if !isHexDigest(d) {
			return fmt.Errorf("device policy: allowed digest %q is not 64 hex characters", d)
		}
	}
	return nil
}

// Check applies the policy to a valid report and the verdict of its
// integrity token (nil when none was given). It returns the first refusal,
// self-reported flags first, then the platform's verdict.
func (p Policy) Check(r Report, v *attest.Verdict, now time.Time) error {
	for _, check := range []func(Report, time.Time) error{checkFlags, p.checkPatch, p.checkApp} {
		if err := check(r, now); err != nil {
			return err
		}
	}
	return p.checkVerdict(r, v)
}

func checkFlags(r Report, _ time.Time) error {
	switch {
	case r.Rooted:
		return ErrRooted
	case r.Emulator:
		return ErrEmulator
	case r.Debugger:
		return ErrDebugger
	}
	return nil
}

func (p Policy) checkPatch(r Report, now time.Time) error {
	patch, err := time.Parse(time.DateOnly, r.SecurityPatch)
	if err != nil {
		return ErrReportInvalid.WithField("report.security_patch")
	}
	// Patch levels are whole days: compare with the day of the cutoff, so a
	// patch exactly MaxPatchAge old passes whatever the hour.
	c := now.Add(-p.maxPatchAge()).UTC()
	if patch.Before(time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, time.UTC)) {
		return ErrPatchTooOld
	}
	return nil
}

func (p Policy) checkApp(r Report, _ time.Time) error {
	if p.MinAppVersion != "" && compareVersions(r.AppVersion, p.MinAppVersion) < 0 {
		return ErrAppTooOld
	}
	for _, d := range p.AllowedDigests {
		if strings.EqualFold(d, r.AppDigest) {
			return nil
		}
	}
	return ErrAppSignature
}

// checkVerdict requires the token to be bound to this very report (nonce)
// and to agree with what the app says about itself: a report that lies
// about its build is refused like a forged token.
func (p Policy) checkVerdict(r Report, v *attest.Verdict) error {
	if v == nil {
		if p.RequireIntegrity {
			return ErrIntegrityToken
		}
		return nil
	}
	if v.Nonce != IntegrityNonce(r) || !strings.EqualFold(v.AppDigest, r.AppDigest) || v.AppVersion != r.AppVersion {
		return ErrIntegrityToken
	}
	if !v.DeviceIntegrity {
		return ErrDeviceIntegrity
	}
	return nil
}

func (p Policy) maxPatchAge() time.Duration {
	if p.MaxPatchAge == 0 {
		return 365 * 24 * time.Hour
	}
	return p.MaxPatchAge
}

// validVersion accepts 1 to 4 dot-separated numbers of 1 to 9 digits.
func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if !between(p, 1, 9) || !allOf(p, isDigit) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareVersions compares two valid versions part by part; a missing part
// counts as 0, so 1.2 equals 1.2.0.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		if x, y := part(pa, i), part(pb, i); x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func part(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	n, _ := strconv.Atoi(parts[i]) // at most 9 digits, validated
	return n
}
