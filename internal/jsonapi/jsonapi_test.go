package jsonapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

type answer struct {
	OK *bool `json:"ok"`
}

func newClient(t *testing.T, h http.HandlerFunc) *jsonapi.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := jsonapi.New(jsonapi.Config{BaseURL: srv.URL + "/api", Token: "s3cret", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPostOK(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/ping" ||
			r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Content-Type") != "application/json" ||
			string(body) != `{"q":"x"}` {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"ok":true,"extra":1}`)
	})
	var out answer
	if err := c.Post(t.Context(), "v1/ping", map[string]string{"q": "x"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.OK == nil || !*out.OK {
		t.Fatalf("answer %+v", out)
	}
}

func TestPostErrors(t *testing.T) {
	const secret = "01012345678"
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"error/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, secret, http.StatusInternalServerError) }},
		{"error/401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }},
		{"error/redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}},
		{"error/timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) // the server notices the client leave only once the body is read
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
		{"error/malformed JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":`) }},
		{"error/wrong type", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":"`+secret+`"}`) }},
		{"error/trailing data", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true} {}`) }},
		{"error/oversized", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"ok":true,"pad":"`+strings.Repeat("a", 70<<10)+`"}`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.h)
			var out answer
			start := time.Now()
			err := c.Post(t.Context(), "v1/ping", map[string]string{"phone": secret}, &out)
			if took := time.Since(start); took > time.Second {
				t.Fatalf("took %v despite the 200 ms timeout", took)
			}
			if !errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("error = %v, want unavailable", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q leaks the body", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct{ name, url, token string }{
		{"error/relative", "/v1", "t"},
		{"error/ftp", "ftp://x.example", "t"},
		{"error/query", "https://x.example/?a=1", "t"},
		{"error/user info", "https://u:p@x.example", "t"},
		{"error/no token", "https://x.example", ""},
		{"error/token with newline", "https://x.example", "a\nb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := jsonapi.New(jsonapi.Config{BaseURL: tc.url, Token: tc.token}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestPostUnencodable(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) { t.Error("called") })
	err := c.Post(t.Context(), "v1/ping", map[string]any{"f": func() {}}, &answer{})
	var ue *json.UnsupportedTypeError
	if !errors.As(err, &ue) {
		t.Fatalf("error = %v", err)
	}
}
