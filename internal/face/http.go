package face

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// HTTP is the Engine backed by a real face engine, spoken to over this
// JSON API (every call a POST with "Authorization: Bearer <token>";
// images are standard base64):
//
//	POST {base}/v1/compare  {"selfie", "id_photo"}
//	  → 200 {"result": "ok", "similarity": 0.0–1.0} | {"result": "no_face", "image": "selfie" | "id_photo"}
//	POST {base}/v1/liveness {"selfie", "nonce"}
//	  → 200 {"result": "ok", "live": bool, "nonce": "<as read, or empty>", "score": 0.0–1.0} | {"result": "no_face"}
//
// "no_face" gives ErrNoFace ("image" is optional). Images are checked
// against MaxImageBytes, and the nonce for form, before anything is sent.
// Any other status, an answer with a missing, unknown or out-of-range
// field, or a timeout (5 s by default; a slow engine wants a larger
// jsonapi.Config.Timeout) is an error wrapping errs.ErrUnavailable. The
// caller compares Liveness.Nonce with its own nonce.
type HTTP struct {
	c *jsonapi.Client
}

var _ Engine = (*HTTP)(nil)

// NewHTTP returns an adapter for the engine at cfg.BaseURL.
func NewHTTP(cfg jsonapi.Config) (*HTTP, error) {
	c, err := jsonapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("face: %w", err)
	}
	return &HTTP{c: c}, nil
}

// Results an engine answers.
const (
	resultOK     = "ok"
	resultNoFace = "no_face"
)

type compareRequest struct {
	Selfie  []byte `json:"selfie"`
	IDPhoto []byte `json:"id_photo"`
}

type livenessRequest struct {
	Selfie []byte `json:"selfie"`
	Nonce  string `json:"nonce"`
}

// Compare asks the engine how alike the two faces are.
func (h *HTTP) Compare(ctx context.Context, selfie, idPhoto []byte) (float64, error) {
	if err := checkImage(FieldSelfie, selfie); err != nil {
		return 0, err
	}
	if err := checkImage(FieldIDPhoto, idPhoto); err != nil {
		return 0, err
	}
	var raw json.RawMessage
	if err := h.c.Post(ctx, "v1/compare", compareRequest{Selfie: selfie, IDPhoto: idPhoto}, &raw); err != nil {
		return 0, fmt.Errorf("face: compare: %w", err)
	}
	sim, err := parseCompareAnswer(raw)
	if err != nil {
		return 0, answerError("compare", err)
	}
	return sim, nil
}

// Liveness asks the engine whether selfie is a live capture for nonce.
func (h *HTTP) Liveness(ctx context.Context, selfie []byte, nonce string) (Liveness, error) {
	if err := CheckNonce(nonce); err != nil {
		return Liveness{}, err
	}
	if err := checkImage(FieldSelfie, selfie); err != nil {
		return Liveness{}, err
	}
	var raw json.RawMessage
	if err := h.c.Post(ctx, "v1/liveness", livenessRequest{Selfie: selfie, Nonce: nonce}, &raw); err != nil {
		return Liveness{}, fmt.Errorf("face: liveness: %w", err)
	}
	l, err := parseLivenessAnswer(raw)
	if err != nil {
		return Liveness{}, answerError("liveness", err)
	}
	return l, nil
}

// answerError passes ErrNoFace on and makes any other fault of the answer
// an unavailable engine.
func answerError(op string, err error) error {
	if errors.Is(err, ErrNoFace) {
		return fmt.Errorf("face: %s: %w", op, err)
	}
	return errs.ErrUnavailable.WithCause(fmt.Errorf("face: %s: engine answer: %w", op, err))
}

type compareAnswer struct {
	Result     string   `json:"result"`
	Similarity *float64 `json:"similarity"`
	Image      string   `json:"image"`
}

// parseCompareAnswer returns the similarity of an engine's answer,
// ErrNoFace, or why the answer is malformed.
func parseCompareAnswer(data []byte) (float64, error) {
	var a compareAnswer
	if err := strictUnmarshal(data, &a); err != nil {
		return 0, fmt.Errorf("malformed: %w", scrub(err))
	}
	switch {
	case a.Result == resultNoFace && a.Similarity == nil:
		return noFace(a.Image)
	case a.Result == resultOK && a.Image == "" && a.Similarity != nil && unit(*a.Similarity):
		return *a.Similarity, nil
	case a.Result == resultOK:
		return 0, errors.New(`"ok" without a similarity in [0, 1]`)
	}
	return 0, errors.New("unrecognised result or extra fields")
}

func noFace(image string) (float64, error) {
	switch image {
	case "":
		return 0, ErrNoFace
	case FieldSelfie, FieldIDPhoto:
		return 0, ErrNoFace.WithField(image)
	}
	return 0, errors.New(`"no_face" names an unknown image`)
}

type livenessAnswer struct {
	Result string   `json:"result"`
	Live   *bool    `json:"live"`
	Nonce  *string  `json:"nonce"`
	Score  *float64 `json:"score"`
}

// parseLivenessAnswer returns the verdict of an engine's answer,
// ErrNoFace, or why the answer is malformed. A nonce the engine read must
// have a nonce's form, or be empty when it read none.
func parseLivenessAnswer(data []byte) (Liveness, error) {
	var a livenessAnswer
	if err := strictUnmarshal(data, &a); err != nil {
		return Liveness{}, fmt.Errorf("malformed: %w", scrub(err))
	}
	switch {
	case a.Result == resultNoFace && a.Live == nil && a.Nonce == nil && a.Score == nil:
		return Liveness{}, ErrNoFace.WithField(FieldSelfie)
	case a.Result != resultOK:
		return Liveness{}, errors.New("unrecognised result or extra fields")
	case a.Live == nil || a.Nonce == nil || a.Score == nil:
		return Liveness{}, errors.New(`"ok" lacks live, nonce or score`)
	case !unit(*a.Score):
		return Liveness{}, errors.New("score outside [0, 1]")
	case *a.Nonce != "" && !validNonce(*a.Nonce):
		return Liveness{}, errors.New("malformed nonce")
	}
	return Liveness{Live: *a.Live, Nonce: *a.Nonce, Score: *a.Score}, nil
}

// unit reports whether x lies in [0, 1]; NaN does not.
func unit(x float64) bool { return x >= 0 && x <= 1 }

// scrub keeps a decoding error's kind and drops any value it quotes.
func scrub(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q has the wrong type", te.Field) // te.Value may quote the value
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	}
	return errors.New("not the expected object")
}
