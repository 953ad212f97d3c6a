package attest

import (
	"bytes"
	"encoding/json"
	"errors"
)

// strictUnmarshal decodes exactly one JSON value into v and refuses fields
// v does not have: an attestation that says more than we understand is
// not one we accept.
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
