package api_test

import (
	"strings"
	"testing"
)

// TestRefusedInputTakesNoKey: a body refused as malformed runs nothing and
// leaves its Idempotency-Key free, so the corrected request under the same
// key runs instead of being refused as a reused key.
func TestRefusedInputTakesNoKey(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	s := sh.order("ord-1", 6900)
	key := p.idemKey()
	bad := strings.Replace(bodyOf(s), `"amount":6900`, `"amount":6900.5`, 1)
	p.wantProblem(p.checkoutRaw(key, bad), 400, "invalid_payment_info")
	if res := p.checkoutRaw(key, bodyOf(s)); res.StatusCode != 201 {
		t.Fatalf("corrected checkout under the same key: %d %s", res.StatusCode, res.body)
	}
	co := p.checkout(sh.order("ord-2", 5000))
	key = p.idemKey()
	p.wantProblem(p.authorizeRaw(co.Transaction.ID, key, cardBody(co.ClientSecret, visaOK, goodUntil, "12")), 400, "invalid_card")
	if n := p.card.Calls(); n != 0 {
		t.Fatalf("a refused card reached the network %d times", n)
	}
	p.wantView(p.authorizeRaw(co.Transaction.ID, key, cardBody(co.ClientSecret, visaOK, goodUntil, testCVV)), 200, "approved")
}
