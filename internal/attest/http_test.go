package attest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

func newHTTP(t *testing.T, h http.HandlerFunc) *attest.HTTP {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	v, err := attest.NewHTTP(jsonapi.Config{BaseURL: srv.URL, Token: "tok", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return base }
	return v
}

// answer writes a verdict issued at iat.
func answer(valid bool, iat time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Token string }
		if r.URL.Path != "/v1/verify" || r.Header.Get("Authorization") != "Bearer tok" ||
			json.NewDecoder(r.Body).Decode(&in) != nil || in.Token != "the-token" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"valid":`+strconv.FormatBool(valid)+`,"token_id":"j1","nonce":"n0nce","app_digest":"ab",`+
			`"app_version":"3.2.1","device_integrity":true,"issued_at":`+strconv.FormatInt(iat.Unix(), 10)+`}`)
	}
}

func TestHTTPVerify(t *testing.T) {
	v, err := newHTTP(t, answer(true, base.Add(-time.Minute))).Verify(t.Context(), "the-token")
	if err != nil {
		t.Fatal(err)
	}
	want := attest.Verdict{TokenID: "j1", Nonce: "n0nce", AppDigest: "ab", AppVersion: "3.2.1", DeviceIntegrity: true,
		IssuedAt: base.Add(-time.Minute)}
	if *v != want {
		t.Fatalf("verdict %+v, want %+v", v, want)
	}
}

func TestHTTPVerifyRefuses(t *testing.T) {
	write := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
	}
	tests := []struct {
		name  string
		h     http.HandlerFunc
		token string
		want  error
	}{
		{"error/provider says invalid", answer(false, base), "the-token", attest.ErrInvalidToken},
		{"error/issued too long ago", answer(true, base.Add(-attest.DefaultMaxAge-time.Second)), "the-token", attest.ErrInvalidToken},
		{"error/issued in the future", answer(true, base.Add(time.Hour)), "the-token", attest.ErrInvalidToken},
		{"error/empty token", answer(true, base), "", attest.ErrInvalidToken},
		{"error/500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, "the-token", errs.ErrUnavailable},
		{"error/timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, "the-token", errs.ErrUnavailable},
		{"error/malformed JSON", write(`{"valid":true,`), "the-token", errs.ErrUnavailable},
		{"error/valid missing", write(`{"token_id":"j1"}`), "the-token", errs.ErrUnavailable},
		{"error/valid without token id", write(`{"valid":true,"nonce":"n","issued_at":1740821400}`), "the-token", errs.ErrUnavailable},
		{"error/valid without issue time", write(`{"valid":true,"token_id":"j1","nonce":"n"}`), "the-token", errs.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := newHTTP(t, tc.h).Verify(t.Context(), tc.token)
			if !errors.Is(err, tc.want) || v != nil {
				t.Fatalf("Verify = %+v, %v; want %v", v, err, tc.want)
			}
			if strings.Contains(err.Error(), "the-token") {
				t.Fatalf("error %q shows the token", err)
			}
		})
	}
}
