package face

import (
	"bytes"
	"encoding/json"
	"errors"
)

// strictUnmarshal decodes exactly one JSON value into v and refuses fields
// v does not have: a verdict that says more than we understand (a warning,
// a second face) may qualify the part we read, so it is not one we act on.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}
