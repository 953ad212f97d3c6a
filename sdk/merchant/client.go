package merchant

import (
	"context"
	"net/url"

	"github.com/haechi/haechi/sdk/internal/gateway"
)

// APIError is a problem+json answer of the gateway. Code is the stable
// thing to test ("confirm_mismatch", "not_cancellable", …); the body's
// other members are kept only when harmless to log.
type APIError = gateway.APIError

// CodeOf is the gateway's problem code inside err, "" when err is not a
// gateway answer (a network failure, a local check).
func CodeOf(err error) string { return gateway.CodeOf(err) }

// do sends c with the merchant's API key, retrying transient failures
// (with the same Idempotency-Key when c has one), and decodes a 2xx answer
// into out.
func (m *Merchant) do(ctx context.Context, c gateway.Call, out any) error {
	g := gateway.Client{
		SDK:           "merchant",
		Base:          m.Gateway,
		Authorization: "ApiKey " + m.APIKey, // Bearer is for OAuth access tokens
		HTTP:          m.HTTP,
		Sleep:         m.Sleep,
	}
	return g.Do(ctx, c, out)
}

// paymentPath is /v1/payments/{id}[suffix]; ids are checked first, so the
// escaping is belt and braces.
func paymentPath(id, suffix string) string {
	return "/v1/payments/" + url.PathEscape(id) + suffix
}
