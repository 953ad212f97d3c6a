package api

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/haechi/haechi/internal/device"
)

// FuzzSignedHeaders feeds arbitrary header values to the device-signed
// request parser: it must refuse with device_signature_invalid or return
// values within their bounds, never panic.
func FuzzSignedHeaders(f *testing.F) {
	f.Add("dev_abc", "nonce-1", "1772355600", "MEUCIQ")
	f.Add("", "", "", "")
	f.Add("dev_abc", "n", "-1", "AA")
	f.Add("dev_abc", "n", "+1772355600", "AA==")
	f.Add("dev_abc", "n", "99999999999999999999", "!!")
	f.Fuzz(func(t *testing.T, id, nonce, ts, sig string) {
		r := httptest.NewRequest("GET", "/v1/devices/current", nil)
		r.Header.Set(headerDeviceID, id)
		r.Header.Set(headerNonce, nonce)
		r.Header.Set(headerTimestamp, ts)
		r.Header.Set(headerSignature, sig)
		sr, err := signedHeaders(r)
		if err != nil {
			if !errors.Is(err, device.ErrSignatureInvalid) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if sr.Unix < 0 || len(sr.Nonce) > maxNonceHeader || sr.DeviceID != id || strconv.FormatInt(sr.Unix, 10) != trimZeros(ts) {
			t.Fatalf("accepted %q %q %q → %+v", id, nonce, ts, sr)
		}
	})
}

// trimZeros is ts without leading zeros (which parseUnix allows).
func trimZeros(ts string) string {
	for len(ts) > 1 && ts[0] == '0' {
		ts = ts[1:]
	}
	return ts
}
