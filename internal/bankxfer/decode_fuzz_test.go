package bankxfer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseAnswers(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  string
		noAcc bool // ErrNoAccount expected
		ok    bool
	}{
		{"ok/holder", `{"result":"ok","holder":"김민수"}`, "김민수", false, true},
		{"ok/corporate holder", `{"result":"ok","holder":"(주)해치"}`, "(주)해치", false, true},
		{"no account", `{"result":"no_account"}`, "", true, false},
		{"error/holder empty", `{"result":"ok","holder":""}`, "", false, false},
		{"error/holder null", `{"result":"ok","holder":null}`, "", false, false},
		{"error/holder with control character", `{"result":"ok","holder":"김\u0007민수"}`, "", false, false},
		{"error/holder padded", `{"result":"ok","holder":" 김민수"}`, "", false, false},
		{"error/holder too long", `{"result":"ok","holder":"` + strings.Repeat("김", 61) + `"}`, "", false, false},
		{"error/trailing data", `{"result":"no_account"} {}`, "", false, false},
		{"error/null", `null`, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHolderAnswer([]byte(tc.body))
			if got != tc.want || errors.Is(err, ErrNoAccount) != tc.noAcc || (err == nil) != tc.ok {
				t.Fatalf("parseHolderAnswer = %q, %v", got, err)
			}
		})
	}
}

func TestParseDepositAnswer(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  string
		noAcc bool
		ok    bool
	}{
		{"ok", `{"result":"ok","ref":"T20250301-0001"}`, "T20250301-0001", false, true},
		{"no account", `{"result":"no_account"}`, "", true, false},
		{"error/ref empty", `{"result":"ok","ref":""}`, "", false, false},
		{"error/ref with space", `{"result":"ok","ref":"T 1"}`, "", false, false},
		{"error/ref too long", `{"result":"ok","ref":"` + strings.Repeat("A", 65) + `"}`, "", false, false},
		{"error/holder in a deposit answer", `{"result":"ok","ref":"T1","holder":"김민수"}`, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDepositAnswer([]byte(tc.body))
			if got != tc.want || errors.Is(err, ErrNoAccount) != tc.noAcc || (err == nil) != tc.ok {
				t.Fatalf("parseDepositAnswer = %q, %v", got, err)
			}
		})
	}
}

func FuzzParseHolderAnswer(f *testing.F) {
	f.Add([]byte(`{"result":"ok","holder":"김민수"}`))
	f.Add([]byte(`{"result":"no_account"}`))
	f.Add([]byte(`{"result":"no_account","holder":"x"}`))
	f.Add([]byte(`{"result":"ok","holder":"\u0000"}`))
	f.Add([]byte(`{"result":"ok","holder":"a","x":1}`))
	f.Add([]byte(`{"RESULT":"ok","Holder":"a"} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := parseHolderAnswer(data)
		switch {
		case err == nil && !validHolder(name):
			t.Fatalf("accepted holder %q", name)
		case err != nil && name != "":
			t.Fatalf("a name with an error: %q, %v", name, err)
		}
		var loose map[string]any
		if err != nil && json.Unmarshal(data, &loose) == nil {
			if h, ok := loose["holder"].(string); ok && len(h) >= 3 && strings.Contains(err.Error(), h) {
				t.Fatalf("error quotes the holder: %v", err)
			}
		}
	})
}

func FuzzParseDepositAnswer(f *testing.F) {
	f.Add([]byte(`{"result":"ok","ref":"T20250301-0001"}`))
	f.Add([]byte(`{"result":"no_account"}`))
	f.Add([]byte(`{"result":"ok","ref":""}`))
	f.Add([]byte(`{"result":"ok","ref":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, err := parseDepositAnswer(data)
		if err == nil && !validRef(ref) {
			t.Fatalf("accepted ref %q", ref)
		}
		if err != nil && ref != "" {
			t.Fatalf("a ref with an error: %q, %v", ref, err)
		}
	})
}
