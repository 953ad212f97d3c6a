package merchant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
)

var (
	testNow    = time.Unix(1_750_000_000, 0).UTC()
	testKeyHex = strings.Repeat("ab", payinfo.TIDKeyLen)
	testSecret = "whsec_test_secret_one"
	testAPIKey = "hk_test_api_key"
)

// testMerchant is a merchant on a fixed clock whose retries do not sleep;
// sleeps records the waits asked for.
func testMerchant(t *testing.T, gateway string) (m *Merchant, sleeps *[]time.Duration) {
	t.Helper()
	m, err := New("mch_1", testKeyHex, gateway, testAPIKey, testSecret)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.Now = func() time.Time { return testNow }
	var waits []time.Duration
	m.Sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	return m, &waits
}

func TestCreateOrder(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	s, err := m.CreateOrder("ord-1", "딸기 케이크", 6900, 1, "KRW")
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	want := payinfo.Info{MerchantID: "mch_1", OrderNo: "ord-1", ItemName: "딸기 케이크", Amount: 6900, Quantity: 1, Currency: "KRW"}
	if s.Info != want {
		t.Fatalf("S = %+v, want %+v", s.Info, want)
	}
	if !payinfo.VerifyTID(m.TIDKey, s.Info, s.TID) {
		t.Fatal("TID_S does not verify under the merchant's key")
	}
	tampered := s.Info
	tampered.Amount = 1000
	if payinfo.VerifyTID(m.TIDKey, tampered, s.TID) {
		t.Fatal("TID_S verifies for a different amount")
	}
	o, err := m.Orders.Get(context.Background(), "ord-1")
	if err != nil || o.S != s || o.Paid() || !o.CreatedAt.Equal(testNow) {
		t.Fatalf("stored order = %+v, %v", o, err)
	}

	t.Run("same order again gives the same S", func(t *testing.T) {
		again, err := m.CreateOrder("ord-1", "딸기 케이크", 6900, 1, "KRW")
		if err != nil || again != s {
			t.Fatalf("again = %+v, %v", again, err)
		}
	})
	t.Run("order number reused for another amount", func(t *testing.T) {
		_, err := m.CreateOrder("ord-1", "딸기 케이크", 1000, 1, "KRW")
		if !errors.Is(err, ErrOrderExists) {
			t.Fatalf("err = %v, want ErrOrderExists", err)
		}
		if o, _ := m.Orders.Get(context.Background(), "ord-1"); o.S != s {
			t.Fatal("the stored order changed")
		}
	})
}

func TestCreateOrderInvalid(t *testing.T) {
	tests := []struct {
		name     string
		orderNo  string
		item     string
		amount   int64
		quantity int64
		currency string
		field    string
	}{
		{"error/zero amount", "o1", "x", 0, 1, "KRW", "amount"},
		{"error/negative amount", "o1", "x", -6900, 1, "KRW", "amount"},
		{"error/overflowing amount", "o1", "x", payinfo.MaxAmount + 1, 1, "KRW", "amount"},
		{"error/zero quantity", "o1", "x", 6900, 0, "KRW", "quantity"},
		{"error/currency", "o1", "x", 6900, 1, "USD", "currency"},
		{"error/empty order", "", "x", 6900, 1, "KRW", "order_no"},
		{"error/order with slash", "a/b", "x", 6900, 1, "KRW", "order_no"},
		{"error/item with newline", "o1", "a\nb", 6900, 1, "KRW", "item_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := testMerchant(t, "http://gw.test")
			_, err := m.CreateOrder(tt.orderNo, tt.item, tt.amount, tt.quantity, tt.currency)
			var fe *payinfo.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, payinfo.ErrInvalid) {
				t.Fatalf("err = %v, want field %s", err, tt.field)
			}
			if _, err := m.Orders.Get(context.Background(), tt.orderNo); !errors.Is(err, ErrOrderNotFound) {
				t.Fatal("an invalid order was stored")
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name                     string
		id, key, gw, api, secret string
	}{
		{"error/short key", "mch_1", "abcd", "http://gw", "k", "s"},
		{"error/non-hex key", "mch_1", strings.Repeat("zz", 32), "http://gw", "k", "s"},
		{"error/merchant id", "mch/1", testKeyHex, "http://gw", "k", "s"},
		{"error/gateway", "mch_1", testKeyHex, "ftp://gw", "k", "s"},
		{"error/api key", "mch_1", testKeyHex, "http://gw", "", "s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.id, tt.key, tt.gw, tt.api, tt.secret); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := New("mch_1", testKeyHex, "http://gw", "k"); !errors.Is(err, ErrConfig) {
		t.Fatalf("no webhook secret: err = %v", err)
	}
}

func TestCheckoutURL(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	s, err := m.CreateOrder("ord-2", "A&B = 케이크 #1", 6900, 2, "KRW")
	if err != nil {
		t.Fatal(err)
	}
	raw := CheckoutURL("https://pay.example/", s)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "pay.example" || u.Path != "/checkout" || u.Fragment != "" {
		t.Fatalf("url = %s", raw)
	}
	q := u.Query()
	want := map[string]string{"merchant_id": "mch_1", "order_no": "ord-2", "item_name": "A&B = 케이크 #1",
		"amount": "6900", "quantity": "2", "currency": "KRW", "tid": s.TID}
	if len(q) != len(want) {
		t.Fatalf("query has %d keys: %v", len(q), q)
	}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			t.Fatalf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestMerchantNeverPrintsSecrets(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("x", "m", m)
	outs := []string{buf.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, m), fmt.Sprintf(verb, *m))
	}
	for _, out := range outs {
		if strings.Contains(out, testAPIKey) || strings.Contains(out, "whsec") ||
			strings.Contains(out, "171") /* 0xab as %d */ || strings.Contains(out, "abab") {
			t.Fatalf("secret printed: %s", out)
		}
		if !strings.Contains(out, "mch_1") {
			t.Fatalf("id missing: %s", out)
		}
	}
}

func TestMemoryOrdersMarkPaid(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryOrders()
	if err := s.MarkPaid(ctx, "nope", "ptx_1"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	if err := s.Put(ctx, Order{S: payinfo.Tagged{Info: payinfo.Info{OrderNo: "o1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPaid(ctx, "o1", ""); err == nil {
		t.Fatal("empty transaction id accepted")
	}
	if err := s.MarkPaid(ctx, "o1", "ptx_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPaid(ctx, "o1", "ptx_1"); err != nil {
		t.Fatalf("same transaction again: %v", err)
	}
	if err := s.MarkPaid(ctx, "o1", "ptx_2"); !errors.Is(err, ErrOrderPaid) {
		t.Fatalf("second transaction: %v", err)
	}
	if o, _ := s.Get(ctx, "o1"); o.PaidBy != "ptx_1" {
		t.Fatalf("paid by %q", o.PaidBy)
	}
}

// noTime leaves the timestamp out of test logs: its digits could contain
// the very secret a test looks for.
var noTime = &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}}
