package checkout

import "github.com/haechi/haechi/sdk/internal/gateway"

// Payment is a gateway transaction as the gateway shows it (its View):
// the card masked to BIN + last 4, nothing secret. Approved reports
// whether the card network approved it; the order is not paid until the
// merchant confirms it server to server.
type Payment = gateway.Payment

// Transaction codes and the statuses a checkout ends in.
const (
	CodeNormal   = gateway.CodeNormal
	CodeAbnormal = gateway.CodeAbnormal

	StatusAbnormal = gateway.StatusAbnormal
	StatusVerified = gateway.StatusVerified
	StatusApproved = gateway.StatusApproved
	StatusDeclined = gateway.StatusDeclined
)
