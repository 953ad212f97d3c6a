package face_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/jsonapi"
)

// engine answers from a simulator, so the adapter and the simulator must
// agree, and remembers the last request body as sent.
type engine struct {
	sim  *face.Simulator
	mu   sync.Mutex
	seen map[string]string
}

func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Selfie  []byte `json:"selfie"`
		IDPhoto []byte `json:"id_photo"`
		Nonce   string `json:"nonce"`
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" || json.Unmarshal(body, &in) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	json.Unmarshal(body, &e.seen)
	e.mu.Unlock()
	var out map[string]any
	var err error
	switch r.URL.Path {
	case "/v1/compare":
		var s float64
		s, err = e.sim.Compare(r.Context(), in.Selfie, in.IDPhoto)
		out = map[string]any{"result": "ok", "similarity": s}
	case "/v1/liveness":
		var l face.Liveness
		l, err = e.sim.Liveness(r.Context(), in.Selfie, in.Nonce)
		out = map[string]any{"result": "ok", "live": l.Live, "nonce": l.Nonce, "score": l.Score}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	switch {
	case errors.Is(err, face.ErrNoFace) && r.URL.Path == "/v1/compare":
		out = map[string]any{"result": "no_face", "image": errs.As(err).Field}
	case errors.Is(err, face.ErrNoFace):
		out = map[string]any{"result": "no_face"}
	case err != nil:
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	json.NewEncoder(w).Encode(out)
}

func newHTTP(t *testing.T, h http.Handler) *face.HTTP {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// Generous: a 5 MiB image is about 7 MiB of JSON, slow under the race
	// detector on a loaded machine; no test here waits for a timeout.
	e, err := face.NewHTTP(jsonapi.Config{BaseURL: srv.URL, Token: "tok", Timeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestHTTPCompare(t *testing.T) {
	eng := &engine{sim: face.NewSimulator()}
	e := newHTTP(t, eng)
	tests := []struct {
		name            string
		selfie, idPhoto []byte
		want            float64
		err             error
		field           string
	}{
		{"same person", face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim"), 0.97, nil, ""},
		{"different people", face.SelfieFixture("lee", nonce), face.IDPhotoFixture("kim"), 0.12, nil, ""},
		{"error/no face in ID photo", face.SelfieFixture("kim", nonce), face.NoFaceFixture(), 0, face.ErrNoFace, "id_photo"},
		{"error/no face in selfie", []byte("not a face"), face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Compare(t.Context(), tc.selfie, tc.idPhoto)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Compare = %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
			if e := errs.As(err); e != nil && e.Field != tc.field {
				t.Fatalf("field %q, want %q", e.Field, tc.field)
			}
		})
	}
	t.Run("images sent as standard base64", func(t *testing.T) {
		if _, err := e.Compare(t.Context(), []byte("face:kim:selfie\xff\xfe"), face.IDPhotoFixture("kim")); !errors.Is(err, face.ErrNoFace) {
			t.Fatalf("error = %v", err)
		}
		eng.mu.Lock()
		defer eng.mu.Unlock()
		if eng.seen["selfie"] != base64.StdEncoding.EncodeToString([]byte("face:kim:selfie\xff\xfe")) {
			t.Fatalf("sent %q", eng.seen["selfie"])
		}
	})
}

func TestHTTPLiveness(t *testing.T) {
	eng := &engine{sim: face.NewSimulator()}
	e := newHTTP(t, eng)
	tests := []struct {
		name   string
		selfie []byte
		want   face.Liveness
		err    error
	}{
		{"live", face.SelfieFixture("kim", nonce), face.Liveness{Live: true, Nonce: nonce, Score: 0.98}, nil},
		{"live/old nonce read back", face.SelfieFixture("kim", "old"), face.Liveness{Live: true, Nonce: "old", Score: 0.98}, nil},
		{"not live", face.PhotoOfPhotoFixture("kim", nonce), face.Liveness{Nonce: nonce, Score: 0.05}, nil},
		{"error/no face", face.NoFaceFixture(), face.Liveness{}, face.ErrNoFace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Liveness(t.Context(), tc.selfie, nonce)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Liveness = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.seen["nonce"] != nonce {
		t.Fatalf("sent nonce %q", eng.seen["nonce"])
	}
}

func TestHTTPRefusesBeforeSending(t *testing.T) {
	e := newHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the engine was called") }))
	big := bytes.Repeat([]byte("x"), face.MaxImageBytes+1)
	tests := []struct {
		name  string
		call  func() error
		err   *errs.Error
		field string
	}{
		{"error/selfie too large", func() error { _, err := e.Compare(t.Context(), big, face.IDPhotoFixture("kim")); return err }, face.ErrImageTooLarge, "selfie"},
		{"error/ID photo too large", func() error { _, err := e.Compare(t.Context(), face.SelfieFixture("kim", ""), big); return err }, face.ErrImageTooLarge, "id_photo"},
		{"error/empty ID photo", func() error { _, err := e.Compare(t.Context(), face.SelfieFixture("kim", ""), nil); return err }, face.ErrNoFace, "id_photo"},
		{"error/liveness selfie too large", func() error { _, err := e.Liveness(t.Context(), big, nonce); return err }, face.ErrImageTooLarge, "selfie"},
		{"error/malformed nonce", func() error { _, err := e.Liveness(t.Context(), face.SelfieFixture("kim", ""), "a\nb"); return err }, errs.ErrInvalid, "nonce"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if e := errs.As(err); !errors.Is(err, tc.err) || e.Field != tc.field {
				t.Fatalf("error = %v, want %s on %q", err, tc.err.Code, tc.field)
			}
		})
	}
	t.Run("ok/an image of exactly the limit is sent", func(t *testing.T) {
		var called bool
		e := newHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			io.WriteString(w, `{"result":"no_face"}`)
		}))
		if _, err := e.Liveness(t.Context(), big[:face.MaxImageBytes], nonce); !errors.Is(err, face.ErrNoFace) || !called {
			t.Fatalf("error = %v, called %v", err, called)
		}
	})
}

func TestHTTPErrors(t *testing.T) {
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
			case <-time.After(3 * time.Second):
			}
		}},
		{"error/malformed JSON", write(`{"result":"ok",`)},
		{"error/unknown result", write(`{"result":"maybe"}`)},
		{"error/unknown field", write(`{"result":"ok","similarity":0.9,"live":true,"nonce":"n","score":0.9,"faces":2}`)},
		{"error/ok without values", write(`{"result":"ok"}`)},
		{"error/values out of range", write(`{"result":"ok","similarity":1.5,"live":true,"nonce":"n","score":-0.1}`)},
		{"error/wrong types", write(`{"result":"ok","similarity":"0.9","live":"yes","nonce":1,"score":"1"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newHTTP(t, tc.h)
			s, err := e.Compare(t.Context(), face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim"))
			if s != 0 || !errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("Compare = %v, %v; want unavailable", s, err)
			}
			l, err := e.Liveness(t.Context(), face.SelfieFixture("kim", nonce), nonce)
			if l != (face.Liveness{}) || !errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("Liveness = %+v, %v; want unavailable", l, err)
			}
			if strings.Contains(err.Error(), "face:kim") {
				t.Fatalf("error %q carries the image", err)
			}
		})
	}
}

func TestNewHTTPRefusesBadConfig(t *testing.T) {
	if _, err := face.NewHTTP(jsonapi.Config{BaseURL: "https://engine.example", Token: ""}); err == nil {
		t.Fatal("missing token accepted")
	}
}
