package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/errs"
)

// sample exercises nesting, slices, maps and an embedded struct.
type sample struct {
	Name   string            `json:"name"`
	Count  int               `json:"count"`
	Tags   []string          `json:"tags"`
	Inner  *inner            `json:"inner"`
	Items  []inner           `json:"items"`
	Labels map[string]string `json:"labels"`
	Any    any               `json:"any"`
	Raw    json.RawMessage   `json:"raw"`
	embedded
	Skip string `json:"-"`
}

type inner struct {
	Value int `json:"value"`
}

type embedded struct {
	Note string `json:"note"`
}

// validated fails its own check when Name is "bad".
type validated struct {
	Name string `json:"name"`
}

var errBadName = errs.New(errs.Invalid, "bad_name", "bad", "bad")

func (v *validated) Validate() error {
	if v.Name == "bad" {
		return errBadName.WithField("name")
	}
	return nil
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		limit       int64
		code        string // "" = ok
		field       string
	}{
		{name: "ok", body: `{"name":"a","count":2,"tags":["x"],"inner":{"value":1},"items":[{"value":2}],"labels":{"k":"v"},"any":{"Whatever":[1,{"x":2}]},"raw":{"a":1},"note":"n"}`},
		{name: "ok/charset utf-8", contentType: "application/json; charset=UTF-8", body: `{"name":"a"}`},
		{name: "ok/null", body: `null`},
		{name: "ok/trailing whitespace", body: "{\"name\":\"a\"}\n\t "},
		{name: "error/text plain", contentType: "text/plain", body: `{}`, code: "unsupported_media_type"},
		{name: "error/no content type", contentType: "-", body: `{}`, code: "unsupported_media_type"},
		{name: "error/other charset", contentType: "application/json; charset=latin1", body: `{}`, code: "unsupported_media_type"},
		{name: "error/extra parameter", contentType: "application/json; boundary=x", body: `{}`, code: "unsupported_media_type"},
		{name: "error/json suffix type", contentType: "application/problem+json", body: `{}`, code: "unsupported_media_type"},
		{name: "error/empty", body: ``, code: "empty_body"},
		{name: "error/whitespace only", body: " \n ", code: "empty_body"},
		{name: "error/too large", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, limit: 64, code: "body_too_large"},
		{name: "error/malformed", body: `{"name":`, code: "malformed_json"},
		{name: "error/malformed missing comma", body: `{"name":"a" "count":1}`, code: "malformed_json"},
		{name: "error/not json", body: `hello`, code: "malformed_json"},
		{name: "error/unknown field", body: `{"name":"a","admin":true}`, code: "unknown_field", field: "admin"},
		{name: "error/unknown nested field", body: `{"inner":{"value":1,"x":2}}`, code: "unknown_field", field: "inner.x"},
		{name: "error/unknown field in array element", body: `{"items":[{"value":1},{"nope":1}]}`, code: "unknown_field", field: "items.nope"},
		{name: "error/case variant key", body: `{"NAME":"a"}`, code: "unknown_field", field: "NAME"},
		{name: "error/kelvin sign key", body: "{\"coun\u212at\":1}", code: "unknown_field"},
		{name: "error/ignored field name", body: `{"Skip":"x"}`, code: "unknown_field", field: "Skip"},
		{name: "error/duplicate key", body: `{"name":"a","name":"b"}`, code: "duplicate_field", field: "name"},
		{name: "error/duplicate map key", body: `{"labels":{"k":"1","k":"2"}}`, code: "duplicate_field", field: "labels.k"},
		{name: "error/wrong type", body: `{"count":"2"}`, code: "wrong_type", field: "count"},
		{name: "error/wrong nested type", body: `{"inner":{"value":"x"}}`, code: "wrong_type", field: "inner.value"},
		{name: "error/array for object", body: `[]`, code: "wrong_type"},
		{name: "error/overflow", body: `{"count":1e400}`, code: "wrong_type", field: "count"},
		{name: "error/trailing value", body: `{"name":"a"}{"name":"b"}`, code: "trailing_data"},
		{name: "error/trailing garbage", body: `{"name":"a"} x`, code: "trailing_data"},
		{name: "error/trailing brace", body: `{"name":"a"}}`, code: "trailing_data"},
		{name: "error/too deep", body: `{"any":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, code: "nesting_too_deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			switch tt.contentType {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", tt.contentType)
			}
			var dst sample
			err := decode(httptest.NewRecorder(), r, &dst, tt.limit)
			checkCode(t, err, tt.code, tt.field)
		})
	}
}

func checkCode(t *testing.T, err error, code, field string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	e := errs.As(err)
	if e == nil {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	if e.Code != code {
		t.Errorf("code = %s, want %s", e.Code, code)
	}
	if field != "" && e.Field != field {
		t.Errorf("field = %q, want %q", e.Field, field)
	}
}

func TestDecodeFillsAndValidates(t *testing.T) {
	req := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	var s sample
	if err := decode(httptest.NewRecorder(), req(`{"name":"n","inner":{"value":7},"note":"x"}`), &s, 0); err != nil {
		t.Fatal(err)
	}
	if s.Name != "n" || s.Inner == nil || s.Inner.Value != 7 || s.Note != "x" {
		t.Errorf("decoded %+v", s)
	}
	var v validated
	if err := decode(httptest.NewRecorder(), req(`{"name":"bad"}`), &v, 0); !errors.Is(err, errBadName) {
		t.Errorf("err = %v, want the Validate error", err)
	}
}

func TestSafeFieldBoundsEcho(t *testing.T) {
	long := strings.Repeat("가", 100)
	got := safeField(long)
	if len(got) > 70 || !strings.HasSuffix(got, "…") {
		t.Errorf("safeField kept %d bytes", len(got))
	}
	if got := safeField("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 echoed as %q", got)
	}
}

// FuzzDecode feeds arbitrary bodies through the decoder and the error
// writer: nothing may panic and no body may produce a 5xx.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","count":1}`, `{"inner":{"value":1}}`, `{"items":[{"value":1}]}`,
		`{"labels":{"a":"b"}}`, `{"any":[1,"x",null,true,{"k":[]}]}`, `{"raw":{"x":1}}`,
		`{"name":"a","name":"b"}`, `{"NAME":1}`, `{"count":1e999}`, `{} {}`, `[`, `"\ud800"`,
		`null`, ``, `{"a":` + strings.Repeat("[", 20), "\xef\xbb\xbf{}", `{"count":-0.0}`,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{}
	s.defaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		var dst sample
		if err := decode(w, r, &dst, 1024); err != nil {
			if e := errs.As(err); e == nil || statusOf(e) >= 500 {
				t.Fatalf("body %q gave %v", body, err)
			}
			s.error(w, r, err)
			if w.Code >= 500 {
				t.Fatalf("body %q gave status %d", body, w.Code)
			}
		}
	})
}
