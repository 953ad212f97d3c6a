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
	authDevice                        // signed by a registered device's key over a server nonce
	authApplicant                     // an eKYC session's applicant token, for that session only
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
	// shed, when set, refuses the request before authentication when the
	// server cannot serve it now, so a flood costs no database writes.
	shed func() error
}

func (s *Server) routes() []route {
	admin := []operator.Role{operator.RoleAdmin}
	auditors := []operator.Role{operator.RoleAuditor, operator.RoleAdmin}
	recovery := []operator.Role{operator.RoleAgent, operator.RoleSupervisor, operator.RoleTeller, operator.RoleAdmin}
	agents := []operator.Role{operator.RoleAgent}
	evidenceReaders := []operator.Role{operator.RoleAgent, operator.RoleAuditor}
	supervisors := []operator.Role{operator.RoleSupervisor}
	tellers := []operator.Role{operator.RoleTeller}
	lockViewers := []operator.Role{operator.RoleAgent, operator.RoleTeller, operator.RoleSupervisor, operator.RoleAdmin, operator.RoleAnalyst}
	analysts := []operator.Role{operator.RoleAnalyst}
	activators := []operator.Role{operator.RoleAnalyst, operator.RoleAdmin}
	paymentViewers := []operator.Role{operator.RoleAnalyst, operator.RoleAuditor, operator.RoleAdmin}
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

		{method: "GET", pattern: "/v1/customers/{id}/devices", auth: authInstitution, scope: institution.ScopeDevice, handle: s.customerDevices, summary: "List a customer's devices"},
		{method: "GET", pattern: "/v1/customers/{id}/registration-status", auth: authInstitution, scope: institution.ScopeDevice, handle: s.registrationStatus, summary: "A customer's device registration status"},
		{method: "POST", pattern: "/v1/customers/{id}/registration-step-up", auth: authInstitution, scope: institution.ScopeDevice, handle: s.stepUp, summary: "Lift a registration restriction by stronger verification"},

		{method: "POST", pattern: "/v1/device-registrations", handle: s.startRegistration, summary: "Start a device registration"},
		{method: "POST", pattern: "/v1/device-registrations/{id}/code", handle: s.verifyRegistrationCode, summary: "Submit the carrier SMS code"},
		{method: "POST", pattern: "/v1/device-registrations/{id}/key", handle: s.bindAppKey, summary: "Bind the app's P-256 key"},
		{method: "POST", pattern: "/v1/device-registrations/{id}/passkey/options", handle: s.passkeyOptions, summary: "WebAuthn creation options for a registration"},
		{method: "POST", pattern: "/v1/device-registrations/{id}/passkey", handle: s.bindPasskey, summary: "Bind a WebAuthn credential"},
		{method: "POST", pattern: "/v1/device-nonces", handle: s.issueDeviceNonce, summary: "A single-use nonce for a device-signed request"},
		{method: "GET", pattern: "/v1/devices/current", auth: authDevice, handle: s.currentDevice, summary: "The device that signed the request"},

		{method: "PUT", pattern: "/v1/credentials/{method}", auth: authDevice, handle: s.setCredential, summary: "Set the customer's PIN or pattern"},
		{method: "POST", pattern: "/v1/logins", auth: authDevice, handle: s.createLogin, shed: s.loginBusy, summary: "Customer login on a registered device (DPoP-bound tokens)"},
		{method: "POST", pattern: "/v1/sessions/refresh", handle: s.refreshSession, summary: "Rotate a refresh token (DPoP proof required)"},
		{method: "GET", pattern: "/v1/sessions/current", handle: s.currentSession, summary: "The customer session of a DPoP access token"},
		{method: "POST", pattern: "/v1/customers/{id}/login-step-up", auth: authInstitution, scope: institution.ScopeLogin, handle: s.loginStepUp, summary: "Lift login protection mode by re-verification"},

		{method: "POST", pattern: "/v1/verifications", auth: authInstitution, scope: institution.ScopeEKYC, handle: s.openVerification, summary: "Open an eKYC verification session"},
		{method: "GET", pattern: "/v1/verifications/{id}", auth: authInstitution, scope: institution.ScopeEKYC, handle: s.getVerification, summary: "Show a verification session, masked"},
		{method: "POST", pattern: "/v1/verifications/{id}/id-card", auth: authApplicant, handle: s.submitIDCard, summary: "Submit an ID card and its photo"},
		{method: "POST", pattern: "/v1/verifications/{id}/existing-account", auth: authApplicant, handle: s.startAccount, summary: "Start the 1-won transfer check of an existing account"},
		{method: "POST", pattern: "/v1/verifications/{id}/existing-account/confirm", auth: authApplicant, handle: s.confirmAccount, summary: "Confirm the code in the 1-won deposit's memo"},
		{method: "POST", pattern: "/v1/verifications/{id}/carrier", auth: authApplicant, handle: s.startCarrier, summary: "Start mobile carrier verification (SMS code)"},
		{method: "POST", pattern: "/v1/verifications/{id}/carrier/confirm", auth: authApplicant, handle: s.confirmCarrier, summary: "Confirm the carrier's SMS code"},
		{method: "POST", pattern: "/v1/verifications/{id}/otp", auth: authApplicant, handle: s.verifyOTP, summary: "Verify a security medium's OTP"},
		{method: "POST", pattern: "/v1/verifications/{id}/biometric/nonce", auth: authApplicant, handle: s.biometricNonce, summary: "A single-use nonce for a liveness capture"},
		{method: "POST", pattern: "/v1/verifications/{id}/biometric", auth: authApplicant, handle: s.submitBiometric, summary: "Submit a selfie for face match and liveness"},
		{method: "POST", pattern: "/v1/security-media", auth: authInstitution, scope: institution.ScopeEKYC, handle: s.registerMedium, summary: "Register a security medium (OTP generator)"},
		{method: "PUT", pattern: "/v1/webhook-endpoint", auth: authInstitution, handle: s.setWebhookEndpoint, summary: "Set the institution's webhook endpoint and a new secret"},

		{method: "POST", pattern: "/v1/risk/events", auth: authInstitution, scope: institution.ScopeRisk, handle: s.scoreEvent, summary: "Score one of the institution's events"},
		{method: "GET", pattern: "/v1/risk/decisions/{id}", auth: authInstitution, scope: institution.ScopeRisk, handle: s.riskDecision, summary: "Explain one of the institution's decisions"},

		{method: "GET", pattern: "/checkout", handle: s.checkoutPage, summary: "The buyer's checkout page (HTML)"},
		{method: "GET", pattern: "/checkout/{asset}", handle: s.checkoutPage, summary: "A script or stylesheet of the checkout page"},
		{method: "POST", pattern: "/v1/checkout/transactions", handle: s.checkout, summary: "Open a checkout: the gateway verifies the order with the merchant"},
		{method: "POST", pattern: "/v1/checkout/transactions/{id}/authorize", handle: s.authorizePayment, summary: "Pay a verified checkout with a card"},
		{method: "GET", pattern: "/v1/payments/{id}", auth: authInstitution, scope: institution.ScopePayment, handle: s.getPayment, summary: "Show one of the merchant's payments"},
		{method: "POST", pattern: "/v1/payments/{id}/confirm", auth: authInstitution, scope: institution.ScopePayment, handle: s.confirmPayment, summary: "Confirm an approved payment against the merchant's order"},
		{method: "POST", pattern: "/v1/payments/{id}/net-cancel", auth: authInstitution, scope: institution.ScopePayment, handle: s.netCancelPayment, summary: "Reverse an approved, unconfirmed payment"},
		{method: "POST", pattern: "/v1/payments/{id}/refunds", auth: authInstitution, scope: institution.ScopePayment, handle: s.refundPayment, summary: "Refund all or part of a confirmed payment"},

		{method: "POST", pattern: "/v1/operator/sessions", auth: authOperatorLogin, handle: s.login, summary: "Operator login (password + TOTP)"},
		{method: "DELETE", pattern: "/v1/operator/sessions/current", auth: authOperator, handle: s.logout, summary: "Operator logout"},
		{method: "GET", pattern: "/v1/operator/me", auth: authOperator, handle: s.me, summary: "The logged-in operator"},

		{method: "GET", pattern: "/v1/operator/clients", auth: authOperator, roles: admin, handle: s.listClients, summary: "List institution clients"},
		{method: "POST", pattern: "/v1/operator/clients", auth: authOperator, roles: admin, handle: s.createClient, summary: "Create an institution client"},
		{method: "POST", pattern: "/v1/operator/clients/{id}/revoke", auth: authOperator, roles: admin, handle: s.revokeClient, summary: "Revoke a client and all its credentials"},
		{method: "POST", pattern: "/v1/operator/clients/{id}/api-keys", auth: authOperator, roles: admin, handle: s.issueAPIKey, summary: "Issue an API key for a client"},
		{method: "GET", pattern: "/v1/operator/operators", auth: authOperator, roles: admin, handle: s.listOperators, summary: "List operators"},
		{method: "POST", pattern: "/v1/operator/operators/{id}/disable", auth: authOperator, roles: admin, handle: s.disableOperator, summary: "Disable an operator and end their sessions"},

		{method: "GET", pattern: "/v1/operator/customers/{id}/registration-status", auth: authOperator, roles: recovery, handle: s.operatorRegistrationStatus, summary: "A customer's device registration status"},
		{method: "POST", pattern: "/v1/operator/releases", auth: authOperator, roles: agents, handle: s.requestRelease, summary: "Request a call-center release of a restriction or block"},
		{method: "POST", pattern: "/v1/operator/releases/{id}/approve", auth: authOperator, roles: supervisors, handle: s.approveRelease, summary: "Approve another operator's release request"},
		{method: "GET", pattern: "/v1/operator/customers/{id}/login-state", auth: authOperator, roles: lockViewers, handle: s.loginState, summary: "A customer's lockout state per login method"},
		{method: "POST", pattern: "/v1/operator/customers/{id}/login-state/{method}/clear", auth: authOperator, roles: agents, handle: s.clearLoginLock, summary: "Clear a temporary lock or delay"},
		{method: "POST", pattern: "/v1/operator/customers/{id}/login-protection/{method}/lift", auth: authOperator, roles: tellers, handle: s.liftLoginProtection, summary: "Branch reset of login protection mode"},
		{method: "POST", pattern: "/v1/operator/customers/{id}/branch-reset", auth: authOperator, roles: tellers, handle: s.branchReset, summary: "Branch reset after an in-person ID check"},

		{method: "GET", pattern: "/v1/operator/verifications/{id}/evidence", auth: authOperator, roles: evidenceReaders, handle: s.listEvidence, summary: "List a verification's evidence (audited)"},
		{method: "GET", pattern: "/v1/operator/verifications/{id}/evidence/{evidence_id}", auth: authOperator, roles: evidenceReaders, handle: s.viewEvidence, summary: "View a verification's ID image (audited)"},
		{method: "POST", pattern: "/v1/operator/verifications/{id}/video-call", auth: authOperator, roles: agents, handle: s.recordVideoCall, summary: "Record a video-call verdict on a verification"},

		{method: "GET", pattern: "/v1/operator/risk/decisions/{id}", auth: authOperator, roles: analysts, handle: s.operatorDecision, summary: "Explain any decision"},
		{method: "GET", pattern: "/v1/operator/risk/cases", auth: authOperator, roles: analysts, handle: s.riskCases, summary: "List fraud cases"},
		{method: "GET", pattern: "/v1/operator/risk/cases/{id}", auth: authOperator, roles: analysts, handle: s.riskCase, summary: "Show a fraud case"},
		{method: "POST", pattern: "/v1/operator/risk/cases/{id}/assign", auth: authOperator, roles: analysts, handle: s.assignCase, summary: "Assign a case to an analyst"},
		{method: "POST", pattern: "/v1/operator/risk/cases/{id}/comments", auth: authOperator, roles: analysts, handle: s.commentCase, summary: "Comment on a case"},
		{method: "POST", pattern: "/v1/operator/risk/cases/{id}/close", auth: authOperator, roles: analysts, handle: s.closeCase, summary: "Close a case with a resolution"},
		{method: "GET", pattern: "/v1/operator/risk/rule-sets", auth: authOperator, roles: analysts, handle: s.ruleSets, summary: "List rule-set versions and the active one"},
		{method: "POST", pattern: "/v1/operator/risk/rule-sets", auth: authOperator, roles: analysts, handle: s.createRuleSet, summary: "Store a new, inactive rule-set version"},
		{method: "POST", pattern: "/v1/operator/risk/rule-sets/{id}/activate", auth: authOperator, roles: activators, handle: s.activateRuleSet, summary: "Activate a rule-set version (or roll back to an older one)"},
		{method: "GET", pattern: "/v1/operator/risk/lists", auth: authOperator, roles: analysts, handle: s.listEntries, summary: "List allow- and block-list entries"},
		{method: "POST", pattern: "/v1/operator/risk/lists", auth: authOperator, roles: analysts, handle: s.addListEntry, summary: "Add an allow- or block-list entry"},
		{method: "DELETE", pattern: "/v1/operator/risk/lists/{id}", auth: authOperator, roles: analysts, handle: s.removeListEntry, summary: "Remove a list entry"},

		{method: "GET", pattern: "/v1/operator/merchants", auth: authOperator, roles: admin, handle: s.listMerchants, summary: "List merchants"},
		{method: "POST", pattern: "/v1/operator/merchants", auth: authOperator, roles: admin, handle: s.createMerchant, summary: "Register a merchant and show its credentials once"},
		{method: "GET", pattern: "/v1/operator/payments/{id}", auth: authOperator, roles: paymentViewers, handle: s.operatorPayment, summary: "Show any payment"},

		{method: "GET", pattern: "/v1/operator/audit/verify", auth: authOperator, roles: auditors, handle: s.verifyAudit, summary: "Verify the audit chain"},
		{method: "GET", pattern: "/v1/operator/audit/events", auth: authOperator, roles: auditors, handle: s.auditEvents, summary: "Page through audit events"},
	}
}
