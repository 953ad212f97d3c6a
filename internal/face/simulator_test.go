package face_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/face"
)

const nonce = "n0nce-A1_b2"

var tooLarge = bytes.Repeat([]byte("x"), face.MaxImageBytes+1)

func TestSimulatorCompare(t *testing.T) {
	sim := face.NewSimulator()
	tests := []struct {
		name            string
		selfie, idPhoto []byte
		want            float64
		err             error
		field           string
	}{
		{"same person", face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim"), 0.97, nil, ""},
		{"same person/selfie without nonce", face.SelfieFixture("kim", ""), face.IDPhotoFixture("kim"), 0.97, nil, ""},
		{"same person/photo of photo still looks alike", face.PhotoOfPhotoFixture("kim", nonce), face.IDPhotoFixture("kim"), 0.97, nil, ""},
		{"different people", face.SelfieFixture("lee", nonce), face.IDPhotoFixture("kim"), 0.12, nil, ""},
		{"different people/similar ids", face.SelfieFixture("kim2", nonce), face.IDPhotoFixture("kim"), 0.12, nil, ""},
		{"error/no face in selfie", face.NoFaceFixture(), face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
		{"error/no face in ID photo", face.SelfieFixture("kim", nonce), face.NoFaceFixture(), 0, face.ErrNoFace, "id_photo"},
		{"error/empty selfie", nil, face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
		{"error/unknown format", []byte("\x89PNG\r\n\x1a\n"), face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
		{"error/unknown variant", []byte("face:kim:mask"), face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
		{"error/upper-case person", []byte("face:KIM:id"), face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
		{"error/trailing part", []byte("face:kim:id:extra"), face.IDPhotoFixture("kim"), 0, face.ErrNoFace, "selfie"},
		{"error/selfie too large", tooLarge, face.IDPhotoFixture("kim"), 0, face.ErrImageTooLarge, "selfie"},
		{"error/ID photo too large", face.SelfieFixture("kim", nonce), tooLarge, 0, face.ErrImageTooLarge, "id_photo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sim.Compare(t.Context(), tc.selfie, tc.idPhoto)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Compare = %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
			if e := errs.As(err); e != nil && e.Field != tc.field {
				t.Fatalf("field %q, want %q", e.Field, tc.field)
			}
		})
	}
}

func TestSimulatorLiveness(t *testing.T) {
	sim := face.NewSimulator()
	tests := []struct {
		name   string
		selfie []byte
		nonce  string
		want   face.Liveness
		err    error
	}{
		{"live/bound to the nonce", face.SelfieFixture("kim", nonce), nonce, face.Liveness{Live: true, Nonce: nonce, Score: 0.98}, nil},
		{"live/replayed under another nonce reads the old one", face.SelfieFixture("kim", "old-nonce"), nonce, face.Liveness{Live: true, Nonce: "old-nonce", Score: 0.98}, nil},
		{"live/bound to no nonce", face.SelfieFixture("kim", ""), nonce, face.Liveness{Live: true, Score: 0.98}, nil},
		{"not live/photo of photo", face.PhotoOfPhotoFixture("kim", nonce), nonce, face.Liveness{Nonce: nonce, Score: 0.05}, nil},
		{"not live/replay", face.ReplayFixture("kim", nonce), nonce, face.Liveness{Nonce: nonce, Score: 0.05}, nil},
		{"not live/ID photo held up", face.IDPhotoFixture("kim"), nonce, face.Liveness{Score: 0.05}, nil},
		{"error/no face", face.NoFaceFixture(), nonce, face.Liveness{}, face.ErrNoFace},
		{"error/malformed nonce in the fixture", []byte("face:kim:selfie:nonce=a b"), nonce, face.Liveness{}, face.ErrNoFace},
		{"error/too large", tooLarge, nonce, face.Liveness{}, face.ErrImageTooLarge},
		{"error/empty nonce", face.SelfieFixture("kim", nonce), "", face.Liveness{}, errs.ErrInvalid},
		{"error/nonce with colon", face.SelfieFixture("kim", nonce), "a:b", face.Liveness{}, errs.ErrInvalid},
		{"error/nonce too long", face.SelfieFixture("kim", nonce), string(bytes.Repeat([]byte("a"), 129)), face.Liveness{}, errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sim.Liveness(t.Context(), tc.selfie, tc.nonce)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Liveness = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestSimulatorFailNext(t *testing.T) {
	sim := face.NewSimulator()
	sim.FailNext(2)
	if _, err := sim.Liveness(t.Context(), face.SelfieFixture("kim", nonce), ""); !errors.Is(err, errs.ErrInvalid) {
		t.Fatalf("a refused call used up the outage: %v", err)
	}
	if _, err := sim.Compare(t.Context(), face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim")); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("Compare during outage: %v", err)
	}
	if _, err := sim.Liveness(t.Context(), face.SelfieFixture("kim", nonce), nonce); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("Liveness during outage: %v", err)
	}
	if _, err := sim.Compare(t.Context(), face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim")); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestSimulatorCancelled(t *testing.T) {
	sim := face.NewSimulator()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sim.Compare(ctx, face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compare: %v", err)
	}
	if _, err := sim.Liveness(ctx, face.SelfieFixture("kim", nonce), nonce); !errors.Is(err, context.Canceled) {
		t.Fatalf("Liveness: %v", err)
	}
}

func TestSimulatorConcurrent(t *testing.T) {
	sim := face.NewSimulator()
	sim.FailNext(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 40 {
		wg.Go(func() {
			_, err := sim.Compare(context.Background(), face.SelfieFixture("kim", nonce), face.IDPhotoFixture("kim"))
			if errors.Is(err, errs.ErrUnavailable) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != 10 {
		t.Fatalf("%d calls failed, want exactly the 10 injected", failed)
	}
}

func TestFixtureHelpers(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"ID photo", face.IDPhotoFixture("kim"), "face:kim:id"},
		{"selfie", face.SelfieFixture("kim", "abc"), "face:kim:selfie:nonce=abc"},
		{"selfie without nonce", face.SelfieFixture("lee", ""), "face:lee:selfie"},
		{"photo of photo", face.PhotoOfPhotoFixture("kim", "abc"), "face:kim:photo-of-photo:nonce=abc"},
		{"replay", face.ReplayFixture("kim", "abc"), "face:kim:replay:nonce=abc"},
		{"no face", face.NoFaceFixture(), "noface"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}
