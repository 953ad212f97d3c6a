package face

import (
	"bytes"
	"strings"
)

// Fixture images. The simulator does not look at faces: it reads images
// written in this small text format, which the helpers below build,
//
//	face:<person>:<variant>[:nonce=<nonce>]
//
// where person is 1–32 of [a-z0-9-] (the demo uses kim, lee, park, choi
// and jung for 김민수, 이영희, 박철수, 최지은 and 정하늘) and variant is one
// of the Variant constants. Any other bytes, NoFaceFixture's included, are
// an image without a face.

// Variants of a fixture.
const (
	VariantIDPhoto      = "id"             // the photo on an ID card
	VariantSelfie       = "selfie"         // a live capture
	VariantPhotoOfPhoto = "photo-of-photo" // a printed or on-screen photo held up to the camera
	VariantReplay       = "replay"         // a recorded video played back
)

const (
	fixturePrefix  = "face:"
	noncePrefix    = "nonce="
	maxPersonLen   = 32
	maxFixtureSize = len(fixturePrefix) + maxPersonLen + 1 + len(VariantPhotoOfPhoto) + 1 + len(noncePrefix) + maxNonceLen
)

// IDPhotoFixture is person's ID-card photo.
func IDPhotoFixture(person string) []byte { return build(person, VariantIDPhoto, "") }

// SelfieFixture is a live selfie of person captured for nonce; an empty
// nonce makes a capture bound to none.
func SelfieFixture(person, nonce string) []byte { return build(person, VariantSelfie, nonce) }

// PhotoOfPhotoFixture is a photo of person held up to the camera during a
// capture for nonce: the right face, but not live.
func PhotoOfPhotoFixture(person, nonce string) []byte {
	return build(person, VariantPhotoOfPhoto, nonce)
}

// ReplayFixture is a recording of person played back during a capture for
// nonce: the right face, but not live.
func ReplayFixture(person, nonce string) []byte { return build(person, VariantReplay, nonce) }

// NoFaceFixture is an image in which no face is found.
func NoFaceFixture() []byte { return []byte("noface") }

func build(person, variant, nonce string) []byte {
	s := fixturePrefix + person + ":" + variant
	if nonce != "" {
		s += ":" + noncePrefix + nonce
	}
	return []byte(s)
}

// fixture is a parsed fixture image.
type fixture struct {
	person  string
	variant string
	nonce   string // "" when the capture is bound to none
}

// live reports whether the capture is of a live person.
func (f fixture) live() bool { return f.variant == VariantSelfie }

// parseFixture reads img; false means no face is found in it.
func parseFixture(img []byte) (fixture, bool) {
	if len(img) > maxFixtureSize || !bytes.HasPrefix(img, []byte(fixturePrefix)) {
		return fixture{}, false
	}
	parts := strings.Split(string(img[len(fixturePrefix):]), ":")
	if len(parts) < 2 || len(parts) > 3 || !validPerson(parts[0]) || !validVariant(parts[1]) {
		return fixture{}, false
	}
	f := fixture{person: parts[0], variant: parts[1]}
	if len(parts) == 3 {
		n, ok := strings.CutPrefix(parts[2], noncePrefix)
		if !ok || !validNonce(n) {
			return fixture{}, false
		}
		f.nonce = n
	}
	return f, true
}

func validPerson(s string) bool {
	if s == "" || len(s) > maxPersonLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

func validVariant(s string) bool {
	switch s {
	case VariantIDPhoto, VariantSelfie, VariantPhotoOfPhoto, VariantReplay:
		return true
	}
	return false
}
