// Package fds is haechi's fraud detection (이상금융거래탐지): every login,
// registration, verification, payment and operator action becomes an
// event; features are computed from the history around it; versioned CEL
// rules add scores or force an outcome; the summed score maps to allow,
// step_up, review or deny. Every decision keeps the rule-set version, the
// matched rules and the feature values it used, so it can be explained
// and replayed.
package fds

import (
	"time"
)

// Kind is what an event is about.
type Kind string

const (
	KindLogin        Kind = "login"
	KindRegistration Kind = "registration"
	KindVerification Kind = "verification"
	KindPayment      Kind = "payment"
	KindOperator     Kind = "operator"
)

// Result of the attempt an event describes; "" when the decision is asked
// before the outcome is known (a payment about to be authorized).
type Result string

const (
	ResultNone    Result = ""
	ResultSuccess Result = "success"
	ResultFailure Result = "failure"
)

// Outcome of a decision, in rising severity.
type Outcome string

const (
	Allow  Outcome = "allow"
	StepUp Outcome = "step_up"
	Review Outcome = "review"
	Deny   Outcome = "deny"
)

// Severity orders outcomes: allow 0 < step_up 1 < review 2 < deny 3; -1
// for anything else.
func (o Outcome) Severity() int {
	switch o {
	case Allow:
		return 0
	case StepUp:
		return 1
	case Review:
		return 2
	case Deny:
		return 3
	}
	return -1
}

// Location is a point on Earth in degrees.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Event is one thing that happened (or is about to), as the engine sees it.
// IDs are opaque; no PII. Fingerprint is the device's blind-index
// fingerprint; BIN the first six digits of a card, for payments.
type Event struct {
	ID            string    `json:"id"`
	InstitutionID string    `json:"institution_id"`
	Kind          Kind      `json:"kind"`
	Action        string    `json:"action,omitempty"` // the audit action, e.g. "login.failure"
	CustomerID    string    `json:"customer_id,omitempty"`
	Fingerprint   string    `json:"fingerprint,omitempty"`
	IP            string    `json:"ip,omitempty"`
	GPS           *Location `json:"gps,omitempty"`
	Result        Result    `json:"result,omitempty"`
	AmountKRW     int64     `json:"amount_krw,omitempty"`
	BIN           string    `json:"bin,omitempty"`
	BotSuspected  bool      `json:"bot_suspected,omitempty"` // the login ladder's pace signal
	Time          time.Time `json:"time"`
	// Filled by the engine from the IP: country (ISO 3166 alpha-2, ""
	// unknown), the IP's location when the database has one, and whether
	// the address is a known VPN or relay.
	Country   string    `json:"country,omitempty"`
	IPLoc     *Location `json:"ip_location,omitempty"`
	Anonymous bool      `json:"anonymous,omitempty"`
}

// Rule is one CEL expression over the features. A matching rule adds Score
// (may be negative) and, when Force is set, raises the outcome to at least
// Force. A shadow rule is evaluated and recorded but changes nothing.
type Rule struct {
	Name        string  `json:"name"`
	Expr        string  `json:"expr"`
	Score       int     `json:"score"`
	Force       Outcome `json:"force,omitempty"`
	Description string  `json:"description"`
	Shadow      bool    `json:"shadow,omitempty"`
}

// Thresholds map the summed score (clamped to 0–100) to an outcome: at or
// above Deny is deny, else at or above Review is review, else at or above
// StepUp is step_up, else allow.
type Thresholds struct {
	StepUp int `json:"step_up"`
	Review int `json:"review"`
	Deny   int `json:"deny"`
}

// RuleSet is a versioned set of rules. Version is assigned by the store
// when the set is saved; sets are immutable once saved.
type RuleSet struct {
	Version     int64      `json:"version"`
	Name        string     `json:"name"`
	Rules       []Rule     `json:"rules"`
	Thresholds  Thresholds `json:"thresholds"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
}

// Match is one rule that matched in a decision.
type Match struct {
	Rule        string  `json:"rule"`
	Score       int     `json:"score"`
	Force       Outcome `json:"force,omitempty"`
	Shadow      bool    `json:"shadow,omitempty"`
	Description string  `json:"description"`
}

// RuleError is a rule that could not be evaluated for this event (division
// by zero, overflow): it counts as not matched, and is recorded.
type RuleError struct {
	Rule  string `json:"rule"`
	Error string `json:"error"`
}

// Decision is the engine's verdict on one event, with its explanation.
type Decision struct {
	ID             string         `json:"id"`
	EventID        string         `json:"event_id"`
	InstitutionID  string         `json:"institution_id"`
	CustomerID     string         `json:"customer_id,omitempty"`
	Kind           Kind           `json:"kind"`
	RuleSetVersion int64          `json:"rule_set_version"`
	Score          int            `json:"score"`
	Outcome        Outcome        `json:"outcome"`
	Matched        []Match        `json:"matched"`
	Errors         []RuleError    `json:"errors,omitempty"`
	Features       map[string]any `json:"features"`
	CaseID         string         `json:"case_id,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
}

// CaseStatus of an analyst's case.
type CaseStatus string

const (
	CaseOpen   CaseStatus = "open"
	CaseClosed CaseStatus = "closed"
)

// Case is opened by a review or deny decision and worked by analysts.
type Case struct {
	ID            string     `json:"id"`
	DecisionID    string     `json:"decision_id"`
	InstitutionID string     `json:"institution_id"`
	CustomerID    string     `json:"customer_id,omitempty"`
	Outcome       Outcome    `json:"outcome"`
	Status        CaseStatus `json:"status"`
	Assignee      string     `json:"assignee,omitempty"` // operator id
	Resolution    string     `json:"resolution,omitempty"`
	Comments      []Comment  `json:"comments"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Version       int64      `json:"-"`
}

// Comment is an analyst's note on a case.
type Comment struct {
	Author string    `json:"author"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

// ListKind names an allow/block list.
type ListKind string

const (
	ListDevice   ListKind = "device"   // device fingerprint
	ListIP       ListKind = "ip"       // an address or CIDR prefix
	ListCustomer ListKind = "customer" // customer id
	ListBIN      ListKind = "bin"      // card BIN, 6 digits
)

// ListEntry is one allow- or block-list entry, managed by operators.
type ListEntry struct {
	ID        string    `json:"id"`
	List      ListKind  `json:"list"`
	Value     string    `json:"value"`
	Block     bool      `json:"block"` // false: allow
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}
