// Package face is the face engine used by the biometric method: it scores
// how alike a selfie and an ID photo are and whether the selfie was taken of
// a live person, bound to a server nonce so a recorded liveness result
// cannot be replayed. Engine has two implementations: Simulator, which
// decides by fixture images (NOT a real face engine), and HTTP, an adapter
// for a real engine.
package face

import (
	"context"

	"github.com/haechi/haechi/internal/errs"
)

// Liveness is the engine's liveness verdict on one capture.
type Liveness struct {
	Live  bool
	Nonce string // the nonce the capture was bound to, as the engine read it
	Score float64
}

// Engine is a face engine. Images are JPEG or PNG bytes.
type Engine interface {
	// Compare returns the similarity of the two faces in [0, 1].
	Compare(ctx context.Context, selfie, idPhoto []byte) (float64, error)
	// Liveness checks that the selfie capture is of a live person and was
	// made for nonce.
	Liveness(ctx context.Context, selfie []byte, nonce string) (Liveness, error)
}

// ErrNoFace: the engine found no single face in an image. WithField
// names the image when it is known ("selfie" or "id_photo").
var ErrNoFace = errs.New(errs.Invalid, "face_not_found",
	"No single face was found in the image.",
	"이미지에서 얼굴을 하나로 찾을 수 없습니다.")

// MaxImageBytes bounds each image given to an Engine: a phone's capture
// compressed for upload is well under it, and a request carrying two
// images base64-encoded stays bounded.
const MaxImageBytes = 5 << 20

// ErrImageTooLarge: an image is over MaxImageBytes. WithField names it.
var ErrImageTooLarge = errs.New(errs.TooLarge, "image_too_large",
	"Each image may be at most 5 MiB.",
	"이미지는 각각 5MiB 이하여야 합니다.")

// Image fields, as ErrNoFace and ErrImageTooLarge name them.
const (
	FieldSelfie  = "selfie"
	FieldIDPhoto = "id_photo"
)

// checkImage refuses an empty or oversized image before any engine sees
// it; an empty image has no face.
func checkImage(field string, img []byte) error {
	switch {
	case len(img) > MaxImageBytes:
		return ErrImageTooLarge.WithField(field)
	case len(img) == 0:
		return ErrNoFace.WithField(field)
	}
	return nil
}

// maxNonceLen bounds a liveness nonce; server nonces are far shorter.
const maxNonceLen = 128

// CheckNonce accepts 1–128 characters of the base64url alphabet and
// ".~", the forms a server nonce takes. Anything else is errs.ErrInvalid
// on "nonce".
func CheckNonce(nonce string) error {
	if !validNonce(nonce) {
		return errs.ErrInvalid.WithField("nonce")
	}
	return nil
}

func validNonce(s string) bool {
	if s == "" || len(s) > maxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}
