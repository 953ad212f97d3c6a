package payinfo

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

var key = bytes.Repeat([]byte{7}, TIDKeyLen)

func order() Info {
	return Info{MerchantID: "mch_shop", OrderNo: "ORD-1", ItemName: "케이크 1호", Amount: 6900, Quantity: 1, Currency: "KRW"}
}

func TestValidate(t *testing.T) {
	if err := order().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Info){
		"merchant_id": func(i *Info) { i.MerchantID = "mch shop" },
		"order_no":    func(i *Info) { i.OrderNo = "" },
		"item_name":   func(i *Info) { i.ItemName = "cake\n" },
		"amount":      func(i *Info) { i.Amount = 0 },
		"quantity":    func(i *Info) { i.Quantity = -1 },
		"currency":    func(i *Info) { i.Currency = "USD" },
	}
	for field, change := range cases {
		i := order()
		change(&i)
		var fe *FieldError
		if err := i.Validate(); !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
	big := order()
	big.Amount = MaxAmount + 1
	if big.Validate() == nil {
		t.Error("amount over MaxAmount accepted")
	}
}

func TestTIDVerifies(t *testing.T) {
	s := Tag(key, order())
	if len(s.TID) != TIDLen || !VerifyTID(key, s.Info, s.TID) {
		t.Fatalf("TID %q does not verify", s.TID)
	}
	other := bytes.Repeat([]byte{8}, TIDKeyLen)
	if VerifyTID(other, s.Info, s.TID) {
		t.Fatal("TID verifies under another merchant's key")
	}
	for _, bad := range []string{"", "zz", s.TID[:62], s.TID + "00"} {
		if VerifyTID(key, s.Info, bad) {
			t.Fatalf("malformed TID %q verified", bad)
		}
	}
}

// Compare names the field an attacker changed, and a merchant answer whose
// TID does not verify is refused whatever the client sent.
func TestCompare(t *testing.T) {
	s := Tag(key, order())
	if r := Compare(key, s, s); r != ReasonNone {
		t.Fatalf("untampered: %s", r)
	}
	cases := []struct {
		reason Reason
		change func(*Tagged)
	}{
		{ReasonMerchant, func(c *Tagged) { c.MerchantID = "mch_other" }},
		{ReasonOrder, func(c *Tagged) { c.OrderNo = "ORD-2" }},
		{ReasonAmount, func(c *Tagged) { c.Amount = 1000 }},
		{ReasonQuantity, func(c *Tagged) { c.Quantity = 2 }},
		{ReasonCurrency, func(c *Tagged) { c.Currency = "USD" }},
		{ReasonItem, func(c *Tagged) { c.ItemName = "other" }},
		{ReasonTID, func(c *Tagged) { c.TID = TID(key, Info{MerchantID: "x"}) }},
	}
	for _, tc := range cases {
		c := s
		tc.change(&c)
		if r := Compare(key, s, c); r != tc.reason {
			t.Errorf("want %s, got %q", tc.reason, r)
		}
	}
	// The attacker recomputes nothing useful: a C re-tagged under a key
	// it guessed still differs from the merchant's S.
	forged := s
	forged.Amount = 1000
	forged.TID = TID([]byte("guess"), forged.Info)
	if r := Compare(key, s, forged); r != ReasonAmount {
		t.Errorf("forged C: %s", r)
	}
	// A lookup answer with a forged TID_S is refused even when C equals it.
	badS := s
	badS.TID = TID([]byte("guess"), s.Info)
	if r := Compare(key, badS, badS); r != ReasonTID {
		t.Errorf("forged S: %s", r)
	}
}

func TestParseAmount(t *testing.T) {
	good := map[string]int64{"1": 1, "6900": 6900, strconv.Itoa(MaxAmount): MaxAmount}
	for in, want := range good {
		if got, err := ParseAmount(json.Number(in)); err != nil || got != want {
			t.Errorf("%s: %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-1", "6900.5", "6.9e3", "6900.0", "06900", "+6900", " 6900",
		"1000000001", "9223372036854775808", "99999999999999999999", "0x10", "NaN"} {
		if _, err := ParseAmount(json.Number(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if _, err := ParseQuantity(json.Number("100001")); err == nil {
		t.Error("quantity over MaxQuantity accepted")
	}
}

// No two different orders share a canonical form, whatever the fields
// contain: the TID binds every field separately.
func FuzzCanonicalInjective(f *testing.F) {
	f.Add("mch_a", "A1", "x", int64(23), int64(1), "KRW", "mch_a", "A", "1x", int64(23), int64(1), "KRW")
	f.Add("m", "o", "i", int64(1), int64(12), "KRW", "m", "o", "i", int64(11), int64(2), "KRW")
	f.Fuzz(func(t *testing.T, m1, o1, i1 string, a1, q1 int64, c1, m2, o2, i2 string, a2, q2 int64, c2 string) {
		x := Info{m1, o1, i1, a1, q1, c1}
		y := Info{m2, o2, i2, a2, q2, c2}
		if x != y && bytes.Equal(x.Canonical(), y.Canonical()) {
			t.Fatalf("%+v and %+v share %q", x, y, x.Canonical())
		}
	})
}

// ParseAmount accepts exactly the whole numbers 1…MaxAmount written plainly.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"6900", "6900.5", "-1", "0", "1e3", "01", "1000000000", "1000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount(json.Number(s))
		want, perr := strconv.ParseInt(s, 10, 64)
		plain := perr == nil && strconv.FormatInt(want, 10) == s && want >= 1 && want <= MaxAmount
		if plain != (err == nil) || (plain && v != want) {
			t.Fatalf("%q: got %d, %v (plain %v)", s, v, err, plain)
		}
	})
}
