package face

import (
	"errors"
	"testing"

	"github.com/haechi/haechi/internal/errs"
)

func TestParseCompareAnswer(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   float64
		noFace string // the field of an expected ErrNoFace, "-" for none
		ok     bool
	}{
		{"ok", `{"result":"ok","similarity":0.93}`, 0.93, "-", true},
		{"ok/zero", `{"result":"ok","similarity":0}`, 0, "-", true},
		{"ok/one", `{"result":"ok","similarity":1}`, 1, "-", true},
		{"no face/unnamed", `{"result":"no_face"}`, 0, "", false},
		{"no face/ID photo", `{"result":"no_face","image":"id_photo"}`, 0, "id_photo", false},
		{"error/no face naming another image", `{"result":"no_face","image":"passport"}`, 0, "-", false},
		{"error/no face with similarity", `{"result":"no_face","similarity":0.5}`, 0, "-", false},
		{"error/ok with image", `{"result":"ok","similarity":0.5,"image":"selfie"}`, 0, "-", false},
		{"error/above one", `{"result":"ok","similarity":1.0000001}`, 0, "-", false},
		{"error/negative", `{"result":"ok","similarity":-0.0001}`, 0, "-", false},
		{"error/overflow", `{"result":"ok","similarity":1e400}`, 0, "-", false},
		{"error/null similarity", `{"result":"ok","similarity":null}`, 0, "-", false},
		{"error/trailing data", `{"result":"ok","similarity":0.5}{}`, 0, "-", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCompareAnswer([]byte(tc.body))
			if got != tc.want || (err == nil) != tc.ok {
				t.Fatalf("parseCompareAnswer = %v, %v", got, err)
			}
			isNoFace := errors.Is(err, ErrNoFace)
			if isNoFace != (tc.noFace != "-") || (isNoFace && asField(err) != tc.noFace) {
				t.Fatalf("error = %v, want no face on %q", err, tc.noFace)
			}
		})
	}
}

func TestParseLivenessAnswer(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   Liveness
		noFace bool
		ok     bool
	}{
		{"ok/live", `{"result":"ok","live":true,"nonce":"abc","score":0.99}`, Liveness{Live: true, Nonce: "abc", Score: 0.99}, false, true},
		{"ok/no nonce read", `{"result":"ok","live":false,"nonce":"","score":0.1}`, Liveness{Score: 0.1}, false, true},
		{"no face", `{"result":"no_face"}`, Liveness{}, true, false},
		{"error/no face with verdict", `{"result":"no_face","live":true}`, Liveness{}, false, false},
		{"error/nonce missing", `{"result":"ok","live":true,"score":0.99}`, Liveness{}, false, false},
		{"error/live missing", `{"result":"ok","nonce":"abc","score":0.99}`, Liveness{}, false, false},
		{"error/score missing", `{"result":"ok","live":true,"nonce":"abc"}`, Liveness{}, false, false},
		{"error/score above one", `{"result":"ok","live":true,"nonce":"abc","score":2}`, Liveness{}, false, false},
		{"error/malformed nonce", `{"result":"ok","live":true,"nonce":"a\nb","score":0.9}`, Liveness{}, false, false},
		{"error/image field", `{"result":"ok","live":true,"nonce":"abc","score":0.9,"image":"selfie"}`, Liveness{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLivenessAnswer([]byte(tc.body))
			if got != tc.want || errors.Is(err, ErrNoFace) != tc.noFace || (err == nil) != tc.ok {
				t.Fatalf("parseLivenessAnswer = %+v, %v", got, err)
			}
		})
	}
}

func asField(err error) string { return errs.As(err).Field }

func FuzzParseCompareAnswer(f *testing.F) {
	f.Add([]byte(`{"result":"ok","similarity":0.93}`))
	f.Add([]byte(`{"result":"no_face","image":"selfie"}`))
	f.Add([]byte(`{"result":"ok","similarity":-0}`))
	f.Add([]byte(`{"result":"ok","similarity":1e-400}`))
	f.Add([]byte(`{"result":"ok","similarity":1,"x":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseCompareAnswer(data)
		if err == nil && !(s >= 0 && s <= 1) {
			t.Fatalf("accepted similarity %v", s)
		}
		if err != nil && s != 0 {
			t.Fatalf("a similarity with an error: %v, %v", s, err)
		}
	})
}

func FuzzParseLivenessAnswer(f *testing.F) {
	f.Add([]byte(`{"result":"ok","live":true,"nonce":"abc","score":0.99}`))
	f.Add([]byte(`{"result":"ok","live":false,"nonce":"","score":0}`))
	f.Add([]byte(`{"result":"no_face"}`))
	f.Add([]byte(`{"result":"ok","live":true,"nonce":"\u0000","score":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLivenessAnswer(data)
		if err != nil {
			if l != (Liveness{}) {
				t.Fatalf("a verdict with an error: %+v, %v", l, err)
			}
			return
		}
		if !(l.Score >= 0 && l.Score <= 1) || (l.Nonce != "" && !validNonce(l.Nonce)) {
			t.Fatalf("accepted %+v", l)
		}
	})
}

func FuzzParseFixture(f *testing.F) {
	f.Add([]byte("face:kim:selfie:nonce=abc"))
	f.Add([]byte("face:kim:id"))
	f.Add([]byte("face:kim:photo-of-photo:nonce="))
	f.Add([]byte("face::selfie"))
	f.Add([]byte("noface"))
	f.Add([]byte("face:kim:selfie:nonce=a:b"))
	f.Fuzz(func(t *testing.T, img []byte) {
		fx, ok := parseFixture(img)
		if !ok {
			return
		}
		if !validPerson(fx.person) || !validVariant(fx.variant) || (fx.nonce != "" && !validNonce(fx.nonce)) {
			t.Fatalf("parsed %q to %+v", img, fx)
		}
		// A fixture reads back to the bytes that build it: one image, one meaning.
		if string(build(fx.person, fx.variant, fx.nonce)) != string(img) {
			t.Fatalf("%q parsed to %+v, which builds %q", img, fx, build(fx.person, fx.variant, fx.nonce))
		}
	})
}
