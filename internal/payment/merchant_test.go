package payment_test

import (
	"context"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/webhook"
)

// Registration hands out an API key of scope payment that maps back to
// the merchant, a 32-byte TID key, and the webhook secret that signs both
// webhooks and lookups; only the sealed TID key is stored.
func TestRegisterMerchant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	head := f.head()
	m := f.register("shop", "")
	c := m.Creds
	if !strings.HasPrefix(c.Merchant.ID, "mch_") || c.Merchant.Mode != payment.Protected || len(m.Key) != 32 {
		t.Fatalf("merchant = %+v, key %d bytes", c.Merchant, len(m.Key))
	}
	p, err := f.inst.AuthenticateAPIKey(ctx, c.APIKey)
	must(t, err)
	if !p.Has(institution.ScopePayment) || p.ClientID != c.Merchant.ClientID {
		t.Fatalf("API key principal = %+v", p)
	}
	got, err := f.svc.MerchantForClient(ctx, p.ClientID)
	must(t, err)
	if got.ID != c.Merchant.ID {
		t.Fatalf("client maps to %s, want %s", got.ID, c.Merchant.ID)
	}
	ep, err := f.hooks.Endpoint(ctx, c.Merchant.ID)
	must(t, err)
	if string(ep.Secrets[0]) != c.WebhookSecret || ep.URL != "https://shop.example/hooks" {
		t.Fatalf("endpoint = %s, secret matches=%t", ep.URL, string(ep.Secrets[0]) == c.WebhookSecret)
	}
	rec, err := f.db.Merchant(ctx, c.Merchant.ID)
	must(t, err)
	if strings.Contains(string(rec.SealedTIDKey), string(m.Key)) {
		t.Fatal("TID key stored in the clear")
	}
	found := false
	for _, e := range f.auditSince(head) {
		if e.Action == "payment.merchant.create" && e.Target == c.Merchant.ID {
			found = e.Details["lookup_host"] == "shop.example"
		}
	}
	if !found {
		t.Fatal("registration not audited")
	}
	list, err := f.svc.Merchants(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ID != c.Merchant.ID {
		t.Fatalf("merchants = %+v", list)
	}
	_, err = f.svc.MerchantForClient(ctx, "cl_nobody")
	wantErr(t, err, payment.ErrMerchantNotFound)
}

// Bad registrations are refused before any client exists.
func TestRegisterMerchantRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	ok := payment.NewMerchant{Name: "shop", LookupURL: "https://shop.example/orders", WebhookURL: "https://shop.example/hooks"}
	cases := []struct {
		name string
		edit func(n *payment.NewMerchant)
		want error
	}{
		{"name/empty", func(n *payment.NewMerchant) { n.Name = " " }, errs.ErrInvalid},
		{"name/control", func(n *payment.NewMerchant) { n.Name = "a\nb" }, errs.ErrInvalid},
		{"mode/unknown", func(n *payment.NewMerchant) { n.Mode = "open" }, errs.ErrInvalid},
		{"lookup/http", func(n *payment.NewMerchant) { n.LookupURL = "http://shop.example/orders" }, payment.ErrBadLookupURL},
		{"lookup/relative", func(n *payment.NewMerchant) { n.LookupURL = "/orders" }, payment.ErrBadLookupURL},
		{"lookup/credentials", func(n *payment.NewMerchant) { n.LookupURL = "https://u:p@shop.example/orders" }, payment.ErrBadLookupURL},
		{"lookup/fragment", func(n *payment.NewMerchant) { n.LookupURL = "https://shop.example/orders#x" }, payment.ErrBadLookupURL},
		{"webhook/http", func(n *payment.NewMerchant) { n.WebhookURL = "http://shop.example/hooks" }, webhook.ErrBadURL},
		{"webhook/empty", func(n *payment.NewMerchant) { n.WebhookURL = "" }, webhook.ErrBadURL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			tc.edit(&n)
			_, err := f.svc.RegisterMerchant(context.Background(), "op_admin", n)
			wantErr(t, err, tc.want)
		})
	}
	clients, err := f.inst.Clients(context.Background())
	must(t, err)
	if len(clients) != 0 {
		t.Fatalf("%d clients created by refused registrations", len(clients))
	}
	// The demo (webhook service allowing http) may use http for both.
	f.hooks.AllowHTTP = true
	n := ok
	n.LookupURL, n.WebhookURL = "http://127.0.0.1:8080/orders", "http://127.0.0.1:8080/hooks"
	_, err = f.svc.RegisterMerchant(context.Background(), "op_admin", n)
	must(t, err)
}
