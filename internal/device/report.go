package device

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Report is what the app says about itself and its phone at registration.
// The flags are the app's own checks: a tampered app can lie, which is why
// the integrity token (the platform's statement) is checked beside them.
type Report struct {
	DeviceID      string `json:"device_id"`
	Model         string `json:"model"`
	OS            string `json:"os"`
	OSVersion     string `json:"os_version"`
	SecurityPatch string `json:"security_patch"` // YYYY-MM-DD
	Rooted        bool   `json:"rooted"`
	Emulator      bool   `json:"emulator"`
	Debugger      bool   `json:"debugger"`
	AppVersion    string `json:"app_version"`
	AppDigest     string `json:"app_digest"` // SHA-256 of the signing certificate, hex
	NetworkType   string `json:"network_type"`
}

// MaxReportSize bounds DecodeReport's input.
const MaxReportSize = 4 << 10

var (
	operatingSystems = []string{"android", "ios"}
	networkTypes     = []string{"wifi", "cellular", "ethernet", "vpn", "none", "other"}
)

// DecodeReport reads one strict JSON report (no unknown fields, no trailing
// data, at most MaxReportSize bytes) and validates it.
func DecodeReport(b []byte) (Report, error) {
	var r Report
	if len(b) > MaxReportSize {
		return r, ErrReportInvalid
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, ErrReportInvalid.WithCause(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Report{}, ErrReportInvalid.WithCause(fmt.Errorf("trailing data after the report"))
	}
	return r, r.Validate()
}

// Validate checks every field's length and form. It returns ErrReportInvalid
// naming the first bad field.
func (r Report) Validate() error {
	checks := []struct {
		field string
		ok    bool
	}{
		{"device_id", between(r.DeviceID, 1, 128) && allOf(r.DeviceID, isIDChar)},
		{"model", between(r.Model, 1, 64) && allOf(r.Model, isPrintable)},
		{"os", slices.Contains(operatingSystems, r.OS)},
		{"os_version", between(r.OSVersion, 1, 32) && allOf(r.OSVersion, isIDChar)},
		{"security_patch", isDate(r.SecurityPatch)},
		{"app_version", validVersion(r.AppVersion)},
		{"app_digest", isHexDigest(r.AppDigest)},
		{"network_type", slices.Contains(networkTypes, r.NetworkType)},
	}
	for _, c := range checks {
		if !c.ok {
			return ErrReportInvalid.WithField("report." + c.field)
		}
	}
	return nil
}

// IntegrityNonce is the nonce the app must have its integrity token bound
// to: a hash of the report, so that a token obtained for one report (or one
// device) cannot vouch for another. Fields are length-prefixed so that no
// two reports share an encoding.
func IntegrityNonce(r Report) string {
	h := sha256.New()
	h.Write([]byte("haechi-device-report-v1"))
	for _, s := range []string{r.DeviceID, r.Model, r.OS, r.OSVersion, r.SecurityPatch,
		flag(r.Rooted), flag(r.Emulator), flag(r.Debugger), r.AppVersion, r.AppDigest, r.NetworkType} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func between(s string, lo, hi int) bool { return len(s) >= lo && len(s) <= hi }

func allOf(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// isIDChar allows letters, digits and . _ : - (identifiers and versions).
func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '-'
}

func isPrintable(c byte) bool { return c >= 0x20 && c < 0x7f }

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isHexDigest(s string) bool { return len(s) == 2*sha256.Size && allOf(s, isHex) }

// isDate accepts a real calendar date written YYYY-MM-DD.
func isDate(s string) bool {
	if len(s) != len(time.DateOnly) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}
