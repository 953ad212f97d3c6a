package api

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/payment"
)

// TestOpenAPIPaymentContract holds the served document to the gateway's
// contract: every event type a merchant's endpoint receives, every refusal
// of confirm, and the Idempotency-Key and replay marker of every
// state-changing gateway call.
func TestOpenAPIPaymentContract(t *testing.T) {
	s, _ := bare(t)
	w := serve(s, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc struct {
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
		Webhooks map[string]struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Schema struct {
							Ref string `json:"$ref"`
						} `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			} `json:"post"`
		} `json:"webhooks"`
		Components struct {
			Schemas map[string]struct {
				Enum []string `json:"enum"`
			} `json:"schemas"`
			Headers map[string]json.RawMessage `json:"headers"`
		} `json:"components"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}

	if got := doc.Webhooks["paymentEvent"].Post.RequestBody.Content["application/json"].Schema.Ref; got != "#/components/schemas/PaymentEvent" {
		t.Errorf("webhook paymentEvent body = %q, want the PaymentEvent schema", got)
	}
	types := doc.Components.Schemas["PaymentEventType"].Enum
	for _, want := range []string{payment.EventAbnormal, payment.EventApproved, payment.EventDeclined,
		payment.EventConfirmed, payment.EventNetCancelled, payment.EventRefunded, payment.EventFailed,
		payment.EventRefused, payment.EventExpired} {
		if !slices.Contains(types, want) {
			t.Errorf("event type %s is not documented (have %v)", want, types)
		}
	}

	var confirm struct {
		Post struct {
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"post"`
	}
	if err := json.Unmarshal(mustJSON(t, doc.Paths["/v1/payments/{id}/confirm"]), &confirm); err != nil {
		t.Fatal(err)
	}
	conflict := confirm.Post.Responses["409"].Description
	for _, code := range []string{payment.ErrConfirmWrongOrder.Code, payment.ErrConfirmMismatch.Code, payment.ErrNotConfirmable.Code} {
		if !strings.Contains(conflict, code) {
			t.Errorf("confirm 409 %q does not name %s", conflict, code)
		}
	}

	if _, ok := doc.Components.Headers["IdempotentReplayed"]; !ok {
		t.Error("no IdempotentReplayed header")
	}
	for _, path := range []string{"/v1/checkout/transactions", "/v1/checkout/transactions/{id}/authorize",
		"/v1/payments/{id}/confirm", "/v1/payments/{id}/net-cancel", "/v1/payments/{id}/refunds"} {
		op := string(doc.Paths[path]["post"])
		if !strings.Contains(op, `"#/components/parameters/IdempotencyKey"`) {
			t.Errorf("POST %s does not document the Idempotency-Key", path)
		}
		if !strings.Contains(op, `"#/components/headers/IdempotentReplayed"`) {
			t.Errorf("POST %s does not document the %s header", path, replayedHeader)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
