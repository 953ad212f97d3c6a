package api

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzDecodeImage(f *testing.F) {
	for _, s := range []string{"", "AAAA", "AA==", "AB==", "AA", "A===", "////", "-_-_", "aGVsbG8=", "aGVsbG8", " aGVsbG8=", "aGVs\nbG8=", "aGVs\r\nbG8=", "====", "ZmFjZTpraW06aWQ="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := decodeImage(s, "image")
		wantClientError(t, err, s)
		switch {
		case err != nil || s == "":
			if b != nil {
				t.Fatalf("%q: bytes with a refusal or no input", s)
			}
		case len(b) > maxImageBytes:
			t.Fatalf("%q: %d bytes accepted", s, len(b))
		case base64.StdEncoding.EncodeToString(b) != s:
			t.Fatalf("%q accepted, but it is not the one spelling of its bytes", s)
		}
	})
}

func FuzzApplicantCredential(f *testing.F) {
	f.Add("ver_abc", "Bearer tok_123", "")
	f.Add("ver_abc", "bearer  tok ", "")
	f.Add("VER", "Bearer x", "")
	f.Add("ver_abc", "Bearer x", "hk_key")
	f.Add("ver_abc", "ApiKey x", "")
	f.Add("ver_abc", "Bearer", "")
	f.Add("ver_abc", "Bearer "+strings.Repeat("a", 300), "")
	f.Fuzz(func(t *testing.T, id, authz, apiKey string) {
		r := httptest.NewRequest("POST", "/v1/verifications/x/carrier", nil)
		r.SetPathValue("id", id)
		r.Header["Authorization"] = []string{authz}
		if apiKey != "" {
			r.Header["X-Api-Key"] = []string{apiKey}
		}
		gotID, token, ok := applicantCredential(r)
		if !ok {
			return
		}
		scheme, _, _ := strings.Cut(authz, " ")
		switch {
		case apiKey != "":
			t.Fatalf("accepted with an API key too")
		case gotID != id || !pathIDPattern.MatchString(gotID):
			t.Fatalf("id %q from %q", gotID, id)
		case !strings.EqualFold(scheme, "Bearer"):
			t.Fatalf("scheme %q accepted", scheme)
		case token == "" || len(token) > maxApplicantToken || strings.TrimSpace(token) != token:
			t.Fatalf("token %q from %q", token, authz)
		}
	})
}

// FuzzVerificationBodies feeds the eKYC request bodies to the strict
// decoder: refusals are client errors, and an accepted image is bounded.
func FuzzVerificationBodies(f *testing.F) {
	f.Add(uint8(0), `{"applicant":{"name":"김민수","birth_date":"1990-01-01","phone":"01012345678"},"policy":{"required":["id_card"],"min":2}}`)
	f.Add(uint8(1), `{"kind":"resident","name":"김민수","rrn":"900101-1234567","issue_date":"2015-03-02","image":"ZmFjZTpraW06aWQ="}`)
	f.Add(uint8(1), `{"kind":"driver","image":"***"}`)
	f.Add(uint8(2), `{"selfie":"AA==","nonce":"n"}`)
	f.Add(uint8(3), `{"serial":"OTP-1","kind":"totp","seed":"GEZDGNBV","holder":{"name":"a","birth_date":"b","phone":"c"}}`)
	f.Add(uint8(4), `{"decision":"approve","recording_ref":"r"}`)
	f.Add(uint8(5), `{"bank":"004","account_number":"1"}`)
	f.Add(uint8(5), `{"bank":"004","bank":"088"}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		var dst any
		switch which % 6 {
		case 0:
			dst = &openRequest{}
		case 1:
			dst = &idCardRequest{}
		case 2:
			dst = &biometricRequest{}
		case 3:
			dst = &mediumRequest{}
		case 4:
			dst = &videoCallRequest{}
		case 5:
			dst = &accountRequest{}
		}
		err := decodeJSON([]byte(body), dst)
		if v, ok := dst.(validator); ok && err == nil {
			err = v.Validate()
		}
		wantClientError(t, err, body)
		if q, ok := dst.(*idCardRequest); ok && err == nil && len(q.image) > maxImageBytes {
			t.Fatalf("image of %d bytes accepted", len(q.image))
		}
	})
}
