// Package passkey is the standards-based path of device registration: a
// WebAuthn credential (a passkey or a platform authenticator key) bound to a
// customer. It is a thin adapter over go-webauthn that keeps every ceremony's
// challenge in a durable, single-use session store, so a challenge can be
// answered once, on any node, and never after it expires.
package passkey

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/haechi/haechi/internal/errs"
)

// Client-visible errors. Their causes (the library's verdict) are logged,
// never shown: they would tell an attacker which check their forgery failed.
var (
	ErrInvalid = errs.New(errs.Invalid, "passkey_invalid",
		"The passkey response could not be verified.", "패스키 응답을 검증할 수 없습니다.")
	ErrSessionInvalid = errs.New(errs.Invalid, "passkey_session_invalid",
		"The passkey request has expired or was already used; start again.", "패스키 요청이 만료되었거나 이미 사용되었습니다. 처음부터 다시 시도하세요.")
)

// ErrSignCount is the cause inside ErrInvalid when an assertion's signature
// counter did not move forward: two copies of the key may exist. Callers
// match it with errors.Is to raise the risk score, not only refuse.
var ErrSignCount = errors.New("passkey: signature counter did not increase (possible cloned authenticator)")

// MaxBody bounds the browser's PublicKeyCredential JSON. A TPM attestation
// with its certificate chain is a few kilobytes; anything near this size is
// not a credential.
const MaxBody = 64 << 10

const (
	defaultTimeout = 5 * time.Minute
	minTimeout     = 30 * time.Second
	maxTimeout     = 30 * time.Minute
)

// Attestation conveyance preferences a Config may ask for. Enterprise
// attestation identifies the individual device and needs browser policy, so
// it is not offered.
const (
	AttestationNone     = "none"
	AttestationIndirect = "indirect"
	AttestationDirect   = "direct"
)

// Config is the relying party. RPID is the registrable domain the
// credentials are scoped to; every origin must be that domain or a subdomain
// of it, served over https (http only for localhost, which browsers treat as
// a secure context).
type Config struct {
	RPID    string
	RPName  string
	Origins []string
	// Timeout is how long a challenge may be answered; 5 min by default.
	Timeout time.Duration
	// Attestation is the conveyance preference, "direct" by default: device
	// registration is an integrity check, and "direct" keeps the signed
	// attestation statement and the authenticator model (AAGUID) that
	// "none" lets the browser strip. Synced passkeys answer "none" anyway,
	// which is accepted and recorded as such for the device policy to judge.
	Attestation string
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.Attestation == "" {
		c.Attestation = AttestationDirect
	}
	return c
}

// Validate names the first bad setting.
func (c Config) Validate() error {
	if c.RPID == "" || protocol.ValidateRPID(c.RPID) != nil {
		return fmt.Errorf("passkey: RPID %q is not a domain name", c.RPID)
	}
	if strings.TrimSpace(c.RPName) == "" {
		return errors.New("passkey: RPName is required")
	}
	if len(c.Origins) == 0 {
		return errors.New("passkey: at least one origin is required")
	}
	for _, o := range c.Origins {
		if err := checkOrigin(o, c.RPID); err != nil {
			return err
		}
	}
	if c.Timeout < minTimeout || c.Timeout > maxTimeout {
		return fmt.Errorf("passkey: Timeout %s is outside [%s, %s]", c.Timeout, minTimeout, maxTimeout)
	}
	switch c.Attestation {
	case AttestationNone, AttestationIndirect, AttestationDirect:
		return nil
	}
	return fmt.Errorf("passkey: Attestation %q is not one of none, indirect, direct", c.Attestation)
}

// checkOrigin accepts scheme://host[:port] whose host lies inside rpID, as
// the browser would: anything else could never produce a valid response, so
// it is a configuration mistake worth refusing at start.
func checkOrigin(origin, rpID string) error {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("passkey: origin %q is not scheme://host[:port]", origin)
	}
	host := u.Hostname()
	if u.Scheme != "https" && !(u.Scheme == "http" && host == "localhost") {
		return fmt.Errorf("passkey: origin %q must use https (http only for localhost)", origin)
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return fmt.Errorf("passkey: origin %q is not inside RPID %q", origin, rpID)
	}
	return nil
}

// SessionStore keeps ceremony state between Begin and Finish. It must be
// durable (any node may finish what another began) and single use: Take
// removes the session atomically and returns errs.ErrNotFound when it is
// missing, expired at now, or already taken, so a challenge is answered at
// most once even by racing requests.
type SessionStore interface {
	SavePasskeySession(ctx context.Context, id string, data []byte, expires time.Time) error
	TakePasskeySession(ctx context.Context, id string, now time.Time) ([]byte, error)
}

// Service runs registration and login ceremonies.
type Service struct {
	wa      *webauthn.WebAuthn
	store   SessionStore
	now     func() time.Time
	timeout time.Duration
}

// New checks cfg and builds the service. now is the clock the session
// expiry is measured with.
func New(cfg Config, store SessionStore, now func() time.Time) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || now == nil {
		return nil, errors.New("passkey: a session store and a clock are required")
	}
	wa, err := webauthn.New(libraryConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{wa: wa, store: store, now: now, timeout: cfg.Timeout}, nil
}

// libraryConfig asks for user verification on every ceremony: a bank's
// possession factor must also prove the person (biometric or device PIN).
// A discoverable key is preferred, not required, since login always names
// the customer first. The library's own expiry is left off; it reads the
// wall clock, while the session store enforces expiry with the injected one.
func libraryConfig(cfg Config) *webauthn.Config {
	timeouts := webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	return &webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             append([]string(nil), cfg.Origins...),
		AttestationPreference: protocol.ConveyancePreference(cfg.Attestation),
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	}
}
