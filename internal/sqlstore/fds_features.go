package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A decision's features are stored as JSON and read back by backtests, which
// evaluate CEL over them again. CEL does not mix int and double, so a number
// must come back with the kind it was saved with, which plain JSON loses
// (float64(3) is written "3", and every number is read as float64). The
// store therefore writes every float with a fraction or an exponent ("3.0")
// and reads a number with neither as int64, one with either as float64.
// Other Go integer and float kinds come back as int64 and float64; a float
// that is not finite has no JSON form and is stored as null; any other value
// comes back as encoding/json reads its JSON form (a time as a string).

// encodeFeatures stores features as JSON with floats marked as such.
func encodeFeatures(m map[string]any) (string, error) {
	if m == nil {
		return "null", nil
	}
	b, err := json.Marshal(markFloats(m))
	if err != nil {
		return "", fmt.Errorf("encode features: %w", err)
	}
	return string(b), nil
}

// jsonFloat is a float64 written so that it reads back as a float.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return []byte(s), nil
}

// markFloats copies v with every float64 and float32 inside maps and slices
// of any replaced by a jsonFloat.
func markFloats(v any) any {
	switch x := v.(type) {
	case float64:
		return jsonFloat(x)
	case float32:
		return jsonFloat(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = markFloats(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = markFloats(e)
		}
		return out
	case []float64:
		out := make([]jsonFloat, len(x))
		for i, e := range x {
			out[i] = jsonFloat(e)
		}
		return out
	}
	return v
}

// decodeFeatures reverses encodeFeatures; "null" is a nil map.
func decodeFeatures(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode features: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode features: data after the object")
	}
	for k, v := range m {
		m[k] = typeNumbers(v)
	}
	return m, nil
}

// typeNumbers replaces each json.Number inside v by an int64 or a float64.
func typeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return numberValue(x)
	case map[string]any:
		for k, e := range x {
			x[k] = typeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = typeNumbers(e)
		}
	}
	return v
}

// numberValue is an int64 for an integer literal that fits, else a float64.
// An integer too large for int64 was not written by the store (it writes
// Go integers, which fit, or uint64s, which may not); as a float64 it keeps
// its magnitude.
func numberValue(n json.Number) any {
	if !strings.ContainsAny(string(n), ".eE") {
		if i, err := n.Int64(); err == nil {
			return i
		}
	}
	// The decoder checked the syntax, so only the range can fail: ±Inf for
	// an exponent too large, which is then stored as null if saved again.
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}
