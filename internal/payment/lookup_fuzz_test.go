package payment

import (
	"encoding/json"
	"testing"

	"github.com/haechi/haechi/internal/payinfo"
)

// FuzzDecodeOrder: whatever a merchant answers, decoding never panics,
// and what it accepts is valid payment information that survives a
// round trip unchanged.
func FuzzDecodeOrder(f *testing.F) {
	for _, seed := range []string{
		`{"merchant_id":"mch_shop","order_no":"ORD-1","item_name":"유기농 사과 1kg","amount":6900,"quantity":1,"currency":"KRW","tid":"00"}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":1000000000,"quantity":100000,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":"6900","quantity":1,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":6900.5,"quantity":1,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":6.9e3,"quantity":1,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":-1,"quantity":1,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":1e30,"quantity":1,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":06900,"quantity":1,"currency":"KRW","tid":""}`,
		`{"merchant_id":"m","amount":1,"amount":2}`,
		`{"merchant_id":"m","order_no":"o","item_name":"i","amount":1,"quantity":1,"currency":"KRW","tid":"","x":1}`,
		`{} {}`, `[]`, `null`, ``, `{"amount":null}`, "{\"item_name\":\"a\\u0000b\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeOrder(data)
		if err != nil {
			return
		}
		if err := s.Info.Validate(); err != nil {
			t.Fatalf("accepted invalid information %+v: %v", s, err)
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeOrder(again)
		if err != nil || back != s {
			t.Fatalf("round trip of %+v: %+v, %v", s, back, err)
		}
		if s.Amount < 1 || s.Amount > payinfo.MaxAmount {
			t.Fatalf("amount %d out of range", s.Amount)
		}
	})
}
