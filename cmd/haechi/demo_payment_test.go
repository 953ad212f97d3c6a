package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
)

// TestDemoPaymentTamper runs Heo & Lee's experiment twice against an
// in-process `serve --demo`: once as `haechi demo payment-tamper` (its
// table and exit status) and once through paymentTamper for its rows.
// The second run starts from what the first left (earlier merchants and
// their payments, a TOTP code just used).
func TestDemoPaymentTamper(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a whole server through fifteen checkouts")
	}
	dir := t.TempDir()
	d := startDemo(t, dir)
	secrets := demoSecrets(t, dir)

	var out bytes.Buffer
	err := run(context.Background(), []string{"demo", "payment-tamper", "--server", d.base, "--data-dir", dir}, &out, io.Discard)
	text := out.String()
	t.Logf("run 1:\n%s", text)
	if err != nil {
		t.Fatalf("run 1: demo payment-tamper: %v", err)
	}
	checkTamperText(t, text, secrets)
	if !regexp.MustCompile(`all \d+ steps behaved as shown`).MatchString(text) {
		t.Error("run 1 does not end with its summary")
	}

	target, err := loadDemoTarget(dir, d.base)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	rows, err := paymentTamper(context.Background(), target, &demoLog{out: &out})
	t.Logf("run 2:\n%s", out.String())
	if err != nil {
		t.Fatalf("run 2: %v", err)
	}
	checkTamperText(t, out.String(), secrets)
	checkTamperRows(t, rows)
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

func checkTamperText(t *testing.T, text string, secrets []string) {
	t.Helper()
	if strings.Contains(text, "✗") {
		t.Fatal("a step failed but the demo succeeded")
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`VULNERABLE \(the paper's result\): the rewritten amount passed as NORMAL and 1,000 KRW was approved for a 6,900 KRW order`),
		regexp.MustCompile(`legacy +amount +amount 6,900 → 1,000 +NORMAL +yes +1,000 KRW +refused \(amount differs\) → net-cancelled`),
		regexp.MustCompile(`protected +amount +amount 6,900 → 1,000 +ABNORMAL \(amount\) +no +— +—`),
		regexp.MustCompile(`protected +quantity +quantity 2 → 1 +ABNORMAL \(quantity\) +no`),
		regexp.MustCompile(`protected +order_no +order_no ORD-\w+-\d+ → ORD-\w+-\d+-X +ABNORMAL \(unknown_order\) +no`),
		regexp.MustCompile(`protected +merchant_id +merchant_id protected-shop → protected-rival +ABNORMAL \(unknown_order\) +no`),
		regexp.MustCompile(`protected +— +— +NORMAL +yes +6,900 KRW +confirmed`),
		regexp.MustCompile(`the proxy forwarded \d+ requests: 9 checkouts and 5 authorizations`),
		regexp.MustCompile(`all 14 arrived at their merchant, each signature verified`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output lacks %s", want)
		}
	}
	for _, s := range append(secrets, "4111111111111111") {
		if strings.Contains(text, s) {
			t.Errorf("output shows %q", s)
		}
	}
}

// checkTamperRows asserts the table's facts from the rows themselves.
func checkTamperRows(t *testing.T, rows []tamperRow) {
	t.Helper()
	if len(rows) != 1+2*len(tamperCases) {
		t.Fatalf("%d rows, want the control and %d per mode", len(rows), len(tamperCases))
	}
	control := rows[0]
	if control.Mode != payment.Protected || control.Field != "" || control.Code != payment.Normal || !control.CardAsked ||
		control.Charged != tamperAmount || !control.Confirmed || control.NetCancelled {
		t.Errorf("untampered: %+v, want NORMAL, approved 6,900 and confirmed", control)
	}
	wantReason := map[string]payinfo.Reason{"amount": payinfo.ReasonAmount, "quantity": payinfo.ReasonQuantity,
		"order_no": payinfo.ReasonUnknownOrder, "merchant_id": payinfo.ReasonUnknownOrder}
	seen := map[payment.Mode]int{}
	for _, r := range rows[1:] {
		seen[r.Mode]++
		switch r.Mode {
		case payment.Legacy:
			want := int64(tamperAmount)
			if r.Field == "amount" {
				want = tamperCheap // the paper's vulnerable result
			}
			if r.Code != payment.Normal || !r.CardAsked || r.Charged != want || r.Confirmed || !r.NetCancelled {
				t.Errorf("legacy, %s rewritten: %+v, want NORMAL, approved %d, Confirm refused and net-cancelled", r.Field, r, want)
			}
		case payment.Protected:
			if r.Code != payment.Abnormal || r.Reason != wantReason[r.Field] || r.CardAsked || r.Charged != 0 || r.Status != payment.StatusAbnormal {
				t.Errorf("protected, %s rewritten: %+v, want ABNORMAL (%s) with no authorize request", r.Field, r, wantReason[r.Field])
			}
		default:
			t.Errorf("row of mode %q", r.Mode)
		}
	}
	if seen[payment.Legacy] != len(tamperCases) || seen[payment.Protected] != len(tamperCases) {
		t.Errorf("rows per mode: %v", seen)
	}
}
