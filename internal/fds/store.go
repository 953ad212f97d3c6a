package fds

import (
	"context"
	"net/netip"
	"time"

	"github.com/haechi/haechi/internal/audit"
)

// Windows are the velocity windows, shortest first: 1 min, 10 min, 1 h, 24 h.
var Windows = [4]time.Duration{time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour}

// History windows.
const (
	ProfileWindow  = 30 * 24 * time.Hour // hour histogram, success rates
	AmountWindow   = 90 * 24 * time.Hour // payment amounts
	RecentAttempts = 10                  // attempt times kept for interval regularity
)

// SubjectKind is what velocity is counted by.
type SubjectKind string

const (
	SubjectCustomer SubjectKind = "customer"
	SubjectDevice   SubjectKind = "device" // fingerprint
	SubjectIP       SubjectKind = "ip"
)

// Velocity is a subject's recorded events in each of Windows before now
// (the event being decided is not recorded yet, so it is not counted).
// Customers counts distinct customers; it is zero for SubjectCustomer.
type Velocity struct {
	Attempts  [4]int `json:"attempts"`
	Failures  [4]int `json:"failures"`
	Customers [4]int `json:"customers"`
}

// DeviceHistory is what is known of a device fingerprint before now.
// Zero times mean never.
type DeviceHistory struct {
	FirstSeen         time.Time // first event of the fingerprint, any customer
	CustomerFirstSeen time.Time // first event of the fingerprint with this customer
}

// Profile is one customer's own history before now.
type Profile struct {
	Events       int     // events in ProfileWindow
	Successes    int     // successful events in ProfileWindow
	Events24h    int     // events in the last 24 h
	Successes24h int     // successful events in the last 24 h
	HourCounts   [24]int // successful events in ProfileWindow by UTC hour of day
	// LastSuccess is the latest successful event (any kind, any age), with
	// its country and locations, for country change and travel speed.
	LastSuccess *Event
	// Recent are the times of the last RecentAttempts events of the kind
	// being decided, oldest first, for interval regularity.
	Recent []time.Time
	// Successful payments in AmountWindow.
	Payments  int
	AmountSum int64
	AmountMax int64
}

// History is the raw data features are computed from. Every method reads
// events recorded strictly before now.
type History interface {
	Velocity(ctx context.Context, s SubjectKind, value string, now time.Time) (Velocity, error)
	Device(ctx context.Context, fingerprint, customerID string, now time.Time) (DeviceHistory, error)
	Profile(ctx context.Context, customerID string, kind Kind, now time.Time) (Profile, error)
	// ListMatches returns the list entries that match the event: its
	// fingerprint, an IP entry whose prefix contains its IP, its customer,
	// its BIN.
	ListMatches(ctx context.Context, e *Event) ([]ListEntry, error)
}

// VelocityCache is an accelerator for Velocity (Redis): the database stays
// the record. ok=false means the cache cannot answer (cold, down) and the
// store is asked instead.
type VelocityCache interface {
	Velocity(ctx context.Context, s SubjectKind, value string, now time.Time) (v Velocity, ok bool, err error)
	Observe(ctx context.Context, e *Event) error
}

// Geo locates an IP address (an MMDB file). ok=false: unknown.
type Geo interface {
	Lookup(ip netip.Addr) (GeoInfo, bool)
}

// GeoInfo is what the IP database says of an address.
type GeoInfo struct {
	Country   string    // ISO 3166-1 alpha-2
	Loc       *Location // nil when the database has no coordinates
	Anonymous bool      // a known VPN, proxy or relay
}

// CaseFilter selects cases; zero fields do not filter.
type CaseFilter struct {
	Status   CaseStatus
	Assignee string
	Limit    int
}

// Store keeps events, decisions, rule sets, cases and lists.
type Store interface {
	History
	// SaveDecision records the event, its decision and the case the
	// decision opens (nil: none) in one transaction.
	SaveDecision(ctx context.Context, e *Event, d *Decision, c *Case) error
	// Decision returns a decision; institutionID "" reaches any (operators),
	// otherwise another institution's is errs.ErrNotFound.
	Decision(ctx context.Context, institutionID, id string) (*Decision, error)
	// Decisions pages decisions made in [since, until) in creation order,
	// after the decision afterID ("" from the start), for backtesting.
	Decisions(ctx context.Context, since, until time.Time, afterID string, limit int) ([]Decision, error)

	// SaveRuleSet stores a new, inactive rule set and returns its version
	// (one more than the highest).
	SaveRuleSet(ctx context.Context, rs *RuleSet, e audit.Entry) (int64, error)
	RuleSet(ctx context.Context, version int64) (*RuleSet, error)
	RuleSets(ctx context.Context) ([]RuleSet, error)
	// ActiveRuleSet is the active set; errs.ErrNotFound when none.
	ActiveRuleSet(ctx context.Context) (*RuleSet, error)
	// ActivateRuleSet makes version active only if the active version is
	// still expectActive (0: none): otherwise errs.ErrConflict and nothing
	// is written, so two concurrent activations cannot both win.
	ActivateRuleSet(ctx context.Context, version, expectActive int64, at time.Time, e audit.Entry) error

	Cases(ctx context.Context, f CaseFilter) ([]Case, error)
	Case(ctx context.Context, id string) (*Case, error)
	// UpdateCase writes c if its Version is still the stored one (and
	// bumps it): errs.ErrConflict otherwise.
	UpdateCase(ctx context.Context, c *Case, e audit.Entry) error

	AddListEntry(ctx context.Context, le *ListEntry, e audit.Entry) error
	RemoveListEntry(ctx context.Context, id string, e audit.Entry) error
	ListEntries(ctx context.Context, list ListKind) ([]ListEntry, error)
}
