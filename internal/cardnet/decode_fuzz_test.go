package cardnet

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAuthAnswer(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Result
		ok   bool
	}{
		{"ok/approved", `{"status":"approved","approval_code":"30012345"}`, Result{Status: Approved, ApprovalCode: "30012345"}, true},
		{"ok/declined", `{"status":"declined","reason":"do_not_honor"}`, Result{Status: Declined, Reason: "do_not_honor"}, true},
		{"ok/declined without reason", `{"status":"declined"}`, Result{Status: Declined, Reason: "declined"}, true},
		{"ok/insufficient funds", `{"status":"insufficient_funds","reason":"51"}`, Result{Status: InsufficientFunds, Reason: "51"}, true},
		{"error/approved without code", `{"status":"approved"}`, Result{}, false},
		{"error/approved with empty code", `{"status":"approved","approval_code":""}`, Result{}, false},
		{"error/approved with null code", `{"status":"approved","approval_code":null}`, Result{}, false},
		{"error/approved with a reason", `{"status":"approved","approval_code":"1","reason":"x"}`, Result{}, false},
		{"error/declined with a code", `{"status":"declined","approval_code":"1"}`, Result{}, false},
		{"error/reason with markup", `{"status":"declined","reason":"<b>"}`, Result{}, false},
		{"error/code too long", `{"status":"approved","approval_code":"` + strings.Repeat("1", 65) + `"}`, Result{}, false},
		{"error/status case", `{"status":"APPROVED","approval_code":"1"}`, Result{}, false},
		{"error/unknown field", `{"status":"approved","approval_code":"1","pan":"4111111111111111"}`, Result{}, false},
		{"error/trailing data", `{"status":"declined"} {}`, Result{}, false},
		{"error/null", `null`, Result{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAuthAnswer([]byte(tc.body))
			if got != tc.want || (err == nil) != tc.ok {
				t.Fatalf("parseAuthAnswer = %+v, %v", got, err)
			}
		})
	}
}

func TestParseCancelAnswer(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   string
		notCan bool
		ok     bool
	}{
		{"ok", `{"result":"ok","ref":"C20250301-0001"}`, "C20250301-0001", false, true},
		{"not cancellable", `{"result":"not_cancellable"}`, "", true, false},
		{"error/not cancellable with ref", `{"result":"not_cancellable","ref":"C1"}`, "", false, false},
		{"error/ok without ref", `{"result":"ok"}`, "", false, false},
		{"error/ref with space", `{"result":"ok","ref":"C 1"}`, "", false, false},
		{"error/unknown result", `{"result":"maybe"}`, "", false, false},
		{"error/extra field", `{"result":"ok","ref":"C1","status":"approved"}`, "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCancelAnswer([]byte(tc.body))
			if got != tc.want || errors.Is(err, ErrNotCancellable) != tc.notCan || (err == nil) != tc.ok {
				t.Fatalf("parseCancelAnswer = %q, %v", got, err)
			}
		})
	}
}

func FuzzParseAuthAnswer(f *testing.F) {
	f.Add([]byte(`{"status":"approved","approval_code":"30012345"}`))
	f.Add([]byte(`{"status":"declined","reason":"do_not_honor"}`))
	f.Add([]byte(`{"status":"insufficient_funds"}`))
	f.Add([]byte(`{"status":"approved","approval_code":"1","reason":"x"}`))
	f.Add([]byte(`{"status":"declined","approval_code":null}`))
	f.Add([]byte(`{"status":"approved","approval_code":4111111111111111}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseAuthAnswer(data)
		if err != nil {
			if r != (Result{}) {
				t.Fatalf("a result with an error: %+v, %v", r, err)
			}
			// Nothing the acquirer wrote is quoted back, unless our own
			// messages happen to hold the same text.
			var loose map[string]any
			if json.Unmarshal(data, &loose) == nil {
				for _, v := range loose {
					s, ok := v.(string)
					if ok && len(s) >= 4 && !strings.Contains(ownWords, s) && strings.Contains(err.Error(), s) {
						t.Fatalf("error quotes the answer: %v", err)
					}
				}
			}
			return
		}
		switch r.Status {
		case Approved:
			if !validToken(r.ApprovalCode, maxRefLen) || r.Reason != "" {
				t.Fatalf("accepted approval %+v", r)
			}
		case Declined, InsufficientFunds:
			if r.ApprovalCode != "" || !validToken(r.Reason, maxRefLen) {
				t.Fatalf("accepted decline %+v", r)
			}
		default:
			t.Fatalf("accepted status %q", r.Status)
		}
	})
}

// ownWords are the texts parseAuthAnswer's errors are made of.
const ownWords = `malformed: field "status" "approval_code" "reason" has the wrong type; ` +
	`syntax error at offset; not the expected object; "approved" needs a well-formed approval_code and no reason; ` +
	`"declined" "insufficient_funds" with an approval_code or a malformed reason; unrecognised status`

func FuzzParseCancelAnswer(f *testing.F) {
	f.Add([]byte(`{"result":"ok","ref":"C20250301-0001"}`))
	f.Add([]byte(`{"result":"not_cancellable"}`))
	f.Add([]byte(`{"result":"ok","ref":""}`))
	f.Add([]byte(`{"result":"ok","ref":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, err := parseCancelAnswer(data)
		if err == nil && !validToken(ref, maxRefLen) {
			t.Fatalf("accepted ref %q", ref)
		}
		if err != nil && ref != "" {
			t.Fatalf("a ref with an error: %q, %v", ref, err)
		}
	})
}

// FuzzParseAuthRequest: what Handler reads. A request that decodes is
// exactly the JSON's fields; an error never quotes a value, since a PAN
// sent as a number would otherwise be echoed.
func FuzzParseAuthRequest(f *testing.F) {
	f.Add([]byte(`{"key":"ptx_1","pan":"4111111111111111","expiry":"12/30","cvv":"123","amount_krw":6900,"merchant_id":"mch_1"}`))
	f.Add([]byte(`{"key":"ptx_1","pan":4111111111111111}`))
	f.Add([]byte(`{"amount_krw":1.5}`))
	f.Add([]byte(`{"amount_krw":99999999999999999999}`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseAuthRequest(data)
		if err != nil {
			if a != (Authorization{}) {
				t.Fatalf("a request with an error: %+v", a)
			}
			if strings.Contains(err.Error(), "4111111111111111") {
				t.Fatalf("error quotes the PAN: %v", err)
			}
			return
		}
		var loose map[string]any
		if json.Unmarshal(data, &loose) == nil {
			if pan, ok := loose["pan"].(string); ok && pan != a.Card.PAN {
				t.Fatalf("pan %q decoded as %q", pan, a.Card.PAN)
			}
		}
		// Whatever decoded, validation decides without panicking.
		_ = validateAuthorization(a)
	})
}

func FuzzParseCancelRequest(f *testing.F) {
	f.Add([]byte(`{"key":"prf_1","auth_key":"ptx_1","amount_krw":6900}`))
	f.Add([]byte(`{"key":"prf_1","auth_key":1}`))
	f.Add([]byte(`{"key":"prf_1"} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseCancelRequest(data)
		if err != nil && c != (Cancellation{}) {
			t.Fatalf("a request with an error: %+v", c)
		}
		if err == nil && validateCancellation(c) == nil && (c.AmountKRW < 1 || !validToken(c.Key, maxKeyLen)) {
			t.Fatalf("validated %+v", c)
		}
	})
}

// FuzzValidate checks Validate against an independent reading of the
// rules, and that its errors never carry the card.
func FuzzValidate(f *testing.F) {
	f.Add("4111111111111111", "12/30", "123")
	f.Add("4111111111111112", "12/30", "123")
	f.Add("4222222222222", "01/27", "1234")
	f.Add("6222222222222222222", "13/30", "12")
	f.Add("4111 1111 1111 1111", "1/30", "abc")
	f.Add("0000000000000", "00/00", "000")
	f.Add("", "", "")
	now := time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, pan, expiry, cvv string) {
		err := Validate(Card{PAN: pan, Expiry: expiry, CVV: cvv}, now)
		want := refPAN(pan) && refExpiry(expiry, now) && refCVV(cvv)
		if (err == nil) != want {
			t.Fatalf("Validate(%q, %q, %q) = %v, want ok=%v", pan, expiry, cvv, err, want)
		}
		if err != nil && len(pan) >= 4 && strings.Contains(err.Error(), pan) {
			t.Fatalf("error %q quotes the PAN", err)
		}
	})
}

// refPAN is the Luhn rule written the other way round: double every
// second digit from the left when the length is even.
func refPAN(s string) bool {
	if len(s) < 13 || len(s) > 19 {
		return false
	}
	sum := 0
	for i, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if (len(s)-i)%2 == 0 {
			d = [10]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}[d]
		}
		sum += d
	}
	return sum%10 == 0
}

func refExpiry(s string, now time.Time) bool {
	var m, y int
	if len(s) != 5 || s[2] != '/' {
		return false
	}
	for _, c := range s[:2] + s[3:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	m = int(s[0]-'0')*10 + int(s[1]-'0')
	y = 2000 + int(s[3]-'0')*10 + int(s[4]-'0')
	if m < 1 || m > 12 {
		return false
	}
	ny, nm := now.Year(), int(now.Month())
	return y > ny || y == ny && m >= nm
}

func refCVV(s string) bool {
	if len(s) < 3 || len(s) > 4 {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}
