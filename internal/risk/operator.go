package risk

import (
	"context"
	"log/slog"
	"strings"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/fds"
)

// Operator is the operator-action observer: every operator write is
// decided under PlatformInstitution with the operator as the event's
// subject (in the customer slot: operator ids never collide with customer
// ids), so an operator's unusual volume, failures or hour reach the engine
// like a customer's, and the customers they act on keep a history of
// their own attempts only. It acts on nothing: an analyst works the cases
// it opens.
type Operator struct {
	Engine *fds.Engine
	Log    *slog.Logger // nil: slog.Default()
}

var _ api.RiskObserver = Operator{}

// ObserveOperator decides the action; a status below 400 is a success.
func (h Operator) ObserveOperator(ctx context.Context, e api.OperatorEvent) {
	r := fds.ResultSuccess
	if e.Status >= 400 {
		r = fds.ResultFailure
	}
	decide(ctx, h.Engine, h.Log, fds.Event{Kind: fds.KindOperator, Action: operatorAction(e.Method, e.Route),
		InstitutionID: PlatformInstitution, CustomerID: e.OperatorID, IP: e.IP, Result: r, Time: e.Time})
}

// maxAction is the longest action the engine takes.
const maxAction = 64

// operatorAction spells "POST /v1/operator/customers/{id}/login-state/{method}/clear"
// as "POST:customers.id.login-state.method.clear": the engine takes
// actions in the alphabet of identifiers (letters, digits, _-.:@, at most
// 64), which keeps them safe in logs and consoles, and the common
// /v1/operator prefix says nothing.
func operatorAction(method, route string) string {
	route = strings.TrimPrefix(route, "/v1/operator")
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(':')
	dot := true // no leading dot, no doubled dots
	for i := 0; i < len(route) && b.Len() < maxAction; i++ {
		switch c := route[i]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-':
			b.WriteByte(c)
			dot = false
		case !dot:
			b.WriteByte('.')
			dot = true
		}
	}
	return strings.TrimSuffix(b.String(), ".")
}
