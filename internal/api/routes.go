package api

import (
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
)

// authKind says how a route authenticates its caller.
type authKind int

const (
	authNone          authKind = iota // public
	authInstitution                   // API key or bearer JWT, then scope
	authOperatorLogin                 // no session yet: same-origin checks only
	authOperator                      // session cookie, CSRF on writes, then role
)

// route is one entry of the API. The table below is the single source for
// registration and for the test that holds openapi.json to it.
type route struct {
	method  string
	pattern string
	auth    authKind
	scope   string          // institution scope needed; "" = any authenticated client
	roles   []operator.Role // operator roles, any one suffices; nil = any operator
	handle  handlerFunc
	summary string
}

func (s *Server) routes() []route {
	admin := []operator.Role{operator.RoleAdmin}
	auditors := []operator.Role{operator.RoleAuditor, operator.RoleAdmin}
	return []route{
		{method: "GET", pattern: "/healthz", handle: s.healthz, summary: "Liveness probe"},
		{method: "GET", pattern: "/readyz", handle: s.readyz, summary: "Readiness probe (database reachable)"},
		{method: "GET", pattern: "/metrics", handle: s.metricsPage, summary: "Prometheus metrics"},
		{method: "GET", pattern: "/openapi.json", handle: s.openAPI, summary: "This API's OpenAPI 3.1 document"},
		{method: "GET", pattern: "/.well-known/jwks.json", handle: s.jwks, summary: "Public keys that verify access tokens"},

		{method: "POST", pattern: "/v1/oauth/token", handle: s.token, summary: "OAuth2 client credentials grant"},
		{method: "GET", pattern: "/v1/ping", auth: authInstitution, handle: s.ping, summary: "Authenticated no-op"},

		{method: "POST", pattern: "/v1/customers", auth: authInstitution, scope: institution.ScopeDevice, handle: s.createCustomer, summary: "Create a customer"},
		{method: "GET", pattern: "/v1/customers/{id}", auth: authInstitution, scope: institution.ScopeDevice, handle: s.getCustomer, summary: "Show a customer, masked"},

		{method: "POST", pattern: "/v1/operator/sessions", auth: authOperatorLogin, handle: s.login, summary: "Operator login (password + TOTP)"},
		{method: "DELETE", pattern: "/v1/operator/sessions/current", auth: authOperator, handle: s.logout, summary: "Operator logout"},
		{method: "GET", pattern: "/v1/operator/me", auth: authOperator, handle: s.me, summary: "The logged-in operator"},

		{method: "GET", pattern: "/v1/operator/clients", auth: authOperator, roles: admin, handle: s.listClients, summary: "List institution clients"},
		{method: "POST", pattern: "/v1/operator/clients", auth: authOperator, roles: admin, handle: s.createClient, summary: "Create an institution client"},
		{method: "POST", pattern: "/v1/operator/clients/{id}/revoke", auth: authOperator, roles: admin, handle: s.revokeClient, summary: "Revoke a client and all its credentials"},
		{method: "POST", pattern: "/v1/operator/clients/{id}/api-keys", auth: authOperator, roles: admin, handle: s.issueAPIKey, summary: "Issue an API key for a client"},
		{method: "GET", pattern: "/v1/operator/operators", auth: authOperator, roles: admin, handle: s.listOperators, summary: "List operators"},
		{method: "POST", pattern: "/v1/operator/operators/{id}/disable", auth: authOperator, roles: admin, handle: s.disableOperator, summary: "Disable an operator and end their sessions"},

		{method: "GET", pattern: "/v1/operator/audit/verify", auth: authOperator, roles: auditors, handle: s.verifyAudit, summary: "Verify the audit chain"},
		{method: "GET", pattern: "/v1/operator/audit/events", auth: authOperator, roles: auditors, handle: s.auditEvents, summary: "Page through audit events"},
	}
}
