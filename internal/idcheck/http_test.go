package idcheck_test

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
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/jsonapi"
)

func newHTTP(t *testing.T, h http.HandlerFunc) *idcheck.HTTP {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := idcheck.NewHTTP(jsonapi.Config{BaseURL: srv.URL, Token: "tok", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// authority answers from the simulator, so the adapter and the simulator
// must agree.
func authority(t *testing.T, seen *map[string]string) http.HandlerFunc {
	sim := newSim(t)
	return func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if r.URL.Path != "/v1/id-check" || r.Header.Get("Authorization") != "Bearer tok" ||
			json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		*seen = in
		res, err := sim.Check(r.Context(), idcheck.Card{Kind: idcheck.CardKind(in["kind"]), Name: in["name"], RRN: in["rrn"],
			IssueDate: in["issue_date"], LicenceNumber: in["licence_number"], Serial: in["serial"]})
		if err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		json.NewEncoder(w).Encode(map[string]idcheck.Result{"result": res})
	}
}

func TestHTTPCheck(t *testing.T) {
	var seen map[string]string
	c := newHTTP(t, authority(t, &seen))
	tests := []struct {
		name string
		card idcheck.Card
		want idcheck.Result
	}{
		{"ok/valid", kimCard, idcheck.ResultValid},
		{"ok/licence", kimLicence, idcheck.ResultValid},
		{"mismatch", change(kimCard, func(c *idcheck.Card) { c.Name = "김민준" }), idcheck.ResultMismatch},
		{"unknown", change(kimCard, func(c *idcheck.Card) { c.RRN = "900101-1234568" }), idcheck.ResultUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Check(t.Context(), tc.card)
			if err != nil || got != tc.want {
				t.Fatalf("Check = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("ok/sent normalized", func(t *testing.T) {
		if _, err := c.Check(t.Context(), kimLicence); err != nil {
			t.Fatal(err)
		}
		if seen["rrn"] != "9001011234567" || seen["licence_number"] != "111512345601" || seen["kind"] != "driver" {
			t.Fatalf("sent %v", seen)
		}
	})
}

func TestHTTPCheckErrors(t *testing.T) {
	write := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"error/500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }},
		{"error/timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
		{"error/malformed JSON", write(`{"result":`)},
		{"error/unrecognised result", write(`{"result":"probably"}`)},
		{"error/missing result", write(`{}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := newHTTP(t, tc.h).Check(t.Context(), kimCard)
			if !errors.Is(err, errs.ErrUnavailable) || res != "" {
				t.Fatalf("Check = %q, %v; want unavailable", res, err)
			}
			if msg := err.Error(); strings.Contains(msg, "1234567") || strings.Contains(msg, "김민수") {
				t.Fatalf("error %q shows the card", msg)
			}
		})
	}
	t.Run("error/malformed card is not sent", func(t *testing.T) {
		c := newHTTP(t, func(w http.ResponseWriter, r *http.Request) { t.Error("the authority was called") })
		_, err := c.Check(t.Context(), change(kimCard, func(c *idcheck.Card) { c.RRN = "901301-1234567" }))
		wantInvalid(t, err, "rrn")
	})
}
