package ekyc

import "slices"

// MaxMethods is the most a policy can ask for: every offered method.
const MaxMethods = 6

// Reasons a session fails or expires.
const (
	ReasonRequiredFailed = "required_method_failed" // a method the policy requires failed
	ReasonUnreachable    = "policy_unreachable"     // too few methods can still pass
	ReasonExpired        = "expired"
)

// Known reports whether m is an offered method.
func (m Method) Known() bool { return slices.Contains(Methods, m) }

// Normalize checks the policy and returns it in its stored form: Required
// in the order of Methods, Min raised to MinMethods and to the number of
// required methods. The zero policy is "any MinMethods distinct methods".
func (p Policy) Normalize() (Policy, error) {
	if p.Min != 0 && (p.Min < MinMethods || p.Min > MaxMethods) {
		return p, ErrInvalidPolicy
	}
	req := make([]Method, 0, len(p.Required))
	for _, m := range p.Required {
		if !m.Known() || slices.Contains(req, m) {
			return p, ErrInvalidPolicy
		}
		req = append(req, m)
	}
	slices.SortFunc(req, func(a, b Method) int { return slices.Index(Methods, a) - slices.Index(Methods, b) })
	return Policy{Required: req, Min: max(p.Min, MinMethods, len(req))}, nil
}

// decide says where a session stands under the policy given its methods'
// states: passed when every required method and at least Min in all have
// passed; failed when a required method failed or too few can still pass;
// pending otherwise.
func (p Policy) decide(ms []MethodState) (Status, string) {
	passed, possible, requiredPassed := 0, 0, 0
	for _, m := range Methods {
		st := status(ms, m)
		alive := st != MethodFailed && !dead(ms, m)
		required := slices.Contains(p.Required, m)
		switch {
		case required && !alive:
			return StatusFailed, ReasonRequiredFailed
		case st == MethodPassed:
			passed++
			if required {
				requiredPassed++
			}
		case alive:
			possible++
		}
	}
	switch {
	case passed+possible < p.Min:
		return StatusFailed, ReasonUnreachable
	case requiredPassed == len(p.Required) && passed >= p.Min:
		return StatusPassed, ""
	}
	return StatusPending, ""
}

// dead reports whether a method not yet passed can no longer pass: the
// biometric method compares with the ID card's photo, so it dies with a
// failed id_card.
func dead(ms []MethodState, m Method) bool {
	return m == Biometric && status(ms, m) != MethodPassed && status(ms, IDCard) == MethodFailed
}

// status is m's status, "" when the method was never tried.
func status(ms []MethodState, m Method) MethodStatus {
	for _, s := range ms {
		if s.Method == m {
			return s.Status
		}
	}
	return ""
}
