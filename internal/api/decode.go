package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/errs"
)

// Decoding errors. Each names what is wrong so a client can fix it.
var (
	errMediaType   = errs.New(errs.UnsupportedMedia, "unsupported_media_type", "The body must be application/json.", "본문은 application/json 형식이어야 합니다.")
	errTooLarge    = errs.New(errs.TooLarge, "body_too_large", "The request body is too large.", "요청 본문이 너무 큽니다.")
	errEmptyBody   = errs.New(errs.Invalid, "empty_body", "The request body is empty.", "요청 본문이 비어 있습니다.")
	errMalformed   = errs.New(errs.Invalid, "malformed_json", "The body is not valid JSON.", "본문이 올바른 JSON이 아닙니다.")
	errUnknown     = errs.New(errs.Invalid, "unknown_field", "The body has a field this request does not take.", "본문에 이 요청이 받지 않는 필드가 있습니다.")
	errDuplicate   = errs.New(errs.Invalid, "duplicate_field", "A field appears more than once.", "같은 필드가 두 번 이상 나옵니다.")
	errWrongType   = errs.New(errs.Invalid, "wrong_type", "A field has the wrong type.", "필드의 형식이 올바르지 않습니다.")
	errTrailing    = errs.New(errs.Invalid, "trailing_data", "The body has data after the JSON value.", "JSON 값 뒤에 다른 데이터가 있습니다.")
	errTooDeep     = errs.New(errs.Invalid, "nesting_too_deep", "The JSON value is nested too deeply.", "JSON 값의 중첩이 너무 깊습니다.")
	errContentForm = errs.New(errs.UnsupportedMedia, "unsupported_media_type", "The body must be application/x-www-form-urlencoded.", "본문은 application/x-www-form-urlencoded 형식이어야 합니다.")
)

// DefaultBodyLimit caps request bodies when Server.BodyLimit is unset.
const DefaultBodyLimit = 64 << 10

// maxDepth bounds JSON nesting; no request of ours nests beyond a few levels.
const maxDepth = 16

// validator is implemented by request types that check their own fields.
type validator interface{ Validate() error }

// decode reads a JSON request body into dst strictly: the right media type,
// at most limit bytes, exactly one value, no unknown, duplicate or
// case-variant keys, the right types; then dst's own Validate.
func decode(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	if err := checkMediaType(r.Header.Get("Content-Type"), "application/json"); err != nil {
		return errMediaType
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	if err := decodeJSON(body, dst); err != nil {
		return err
	}
	if v, ok := dst.(validator); ok {
		return v.Validate()
	}
	return nil
}

// checkMediaType accepts want with at most a utf-8 charset parameter.
func checkMediaType(header, want string) error {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || mt != want {
		return errMediaType
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return errMediaType
		}
	}
	return nil
}

// readBody reads at most limit bytes; a body that is only whitespace is empty.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if r.Body == nil {
		return nil, errEmptyBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errTooLarge
	case err != nil:
		return nil, errMalformed
	case len(bytes.TrimSpace(body)) == 0:
		return nil, errEmptyBody
	}
	return body, nil
}

// decodeJSON checks the keys of body against dst's type, then decodes.
// The key check exists because encoding/json accepts duplicate keys (last
// wins) and matches keys case-insensitively: two parsers could read the same
// body differently, which is how request smuggling between layers starts.
func decodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are typed by the second pass, not here
	kc := keyChecker{dec: dec}
	if err := kc.value(reflect.TypeOf(dst), "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	dec = json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return mapDecodeError(dec.Decode(dst))
}

func mapDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		return errWrongType.WithField(safeField(typeErr.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The key check has already refused unknown keys; this is a backstop.
		return errUnknown
	default:
		var inv *json.InvalidUnmarshalError
		if errors.As(err, &inv) {
			return err // a programming error: dst is not a pointer
		}
		return errMalformed
	}
}

// keyChecker walks the token stream alongside the Go type it will fill.
type keyChecker struct{ dec *json.Decoder }

func (kc *keyChecker) value(t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	// Any syntax error, including a truncated body, is malformed JSON.
	tok, err := kc.dec.Token()
	if err != nil {
		return errMalformed
	}
	switch tok {
	case json.Delim('{'):
		return kc.object(deref(t), path, depth)
	case json.Delim('['):
		return kc.array(elem(t), path, depth)
	}
	return nil
}

func (kc *keyChecker) object(t reflect.Type, path string, depth int) error {
	fields := fieldsOf(t)
	seen := make(map[string]bool)
	for kc.dec.More() {
		tok, err := kc.dec.Token()
		if err != nil {
			return errMalformed
		}
		key, _ := tok.(string)
		name := join(path, key)
		if seen[key] {
			return errDuplicate.WithField(safeField(name))
		}
		seen[key] = true
		ft, ok := fields.lookup(key)
		if !ok {
			return errUnknown.WithField(safeField(name))
		}
		if err := kc.value(ft, name, depth+1); err != nil {
			return err
		}
	}
	return kc.closing()
}

func (kc *keyChecker) array(t reflect.Type, path string, depth int) error {
	for kc.dec.More() {
		if err := kc.value(t, path, depth+1); err != nil {
			return err
		}
	}
	return kc.closing()
}

func (kc *keyChecker) closing() error {
	if _, err := kc.dec.Token(); err != nil {
		return errMalformed
	}
	return nil
}

// objectFields says which keys an object may hold and what type each fills.
// A nil set means "any key" (maps, interfaces, raw messages); a wrong JSON
// type for the Go type is left to the decoder's type check.
type objectFields struct {
	any    bool
	anyT   reflect.Type
	byName map[string]reflect.Type
}

func (f objectFields) lookup(key string) (reflect.Type, bool) {
	if f.any {
		return f.anyT, true
	}
	t, ok := f.byName[key]
	return t, ok
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func fieldsOf(t reflect.Type) objectFields {
	switch {
	case t == nil || t == rawMessageType || t.Kind() == reflect.Interface:
		return objectFields{any: true}
	case t.Kind() == reflect.Map:
		return objectFields{any: true, anyT: t.Elem()}
	case t.Kind() != reflect.Struct || implementsUnmarshaler(t):
		// A wrong JSON type, or a type that parses itself: leave it to Decode.
		return objectFields{any: true}
	}
	f := objectFields{byName: make(map[string]reflect.Type)}
	addFields(f.byName, t)
	return f
}

// addFields collects the JSON names of t's fields exactly as written,
// promoting the fields of untagged embedded structs as encoding/json does.
func addFields(into map[string]reflect.Type, t reflect.Type) {
	for sf := range t.Fields() {
		tag := sf.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		if sf.Anonymous && name == "" && deref(sf.Type).Kind() == reflect.Struct {
			addFields(into, deref(sf.Type))
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		into[name] = sf.Type
	}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func implementsUnmarshaler(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func elem(t reflect.Type) reflect.Type {
	t = deref(t)
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return t.Elem()
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// safeField bounds a client-supplied name before it is echoed back.
func safeField(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
