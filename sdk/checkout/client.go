package checkout

import (
	"context"
	"net/http"

	"github.com/haechi/haechi/sdk/internal/gateway"
)

// APIError is a problem+json answer of the gateway. Code is the stable
// thing to test ("transaction_abnormal", "card_network_unavailable", …).
type APIError = gateway.APIError

// CodeOf is the gateway's problem code inside err, "" when err is not a
// gateway answer.
func CodeOf(err error) string { return gateway.CodeOf(err) }

// NewIdempotencyKey is 26 random base32 characters from crypto/rand.
func NewIdempotencyKey() string { return gateway.NewIdempotencyKey() }

// ValidIdempotencyKey is the gateway's rule: 16–128 of [A-Za-z0-9_-].
func ValidIdempotencyKey(s string) bool { return gateway.ValidIdempotencyKey(s) }

// post sends in as JSON with key, retrying what is safe to retry with the
// same key, and decodes a 2xx answer into out. The body may hold card
// data: no error ever quotes it.
func (c *Client) post(ctx context.Context, path, key string, in, out any) error {
	g := gateway.Client{SDK: "checkout", Base: c.Gateway, HTTP: c.HTTP, Sleep: c.Sleep}
	return g.Do(ctx, gateway.Call{Method: http.MethodPost, Path: path, Body: in, Key: key}, out)
}
