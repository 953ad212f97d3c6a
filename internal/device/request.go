package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Parameters of device-signed requests.
const (
	// NonceTTL is how long a server nonce may be signed into a request.
	NonceTTL = 2 * time.Minute
	// MaxSkew is how far a request's timestamp may be from the server's
	// clock, either way.
	MaxSkew = 60 * time.Second
	// nonceBytes of randomness make a nonce that nobody can guess or
	// precompute.
	nonceBytes = 24
)

// Refusals of a device-signed request, beyond ErrSignatureInvalid. Each is
// given only once the signature is known to be good, or concerns what the
// caller sent itself, so none tells a stranger anything about a device.
var (
	ErrRequestSkew = errs.New(errs.Unauthenticated, "device_timestamp_skew",
		"The request's timestamp is too far from the server's time; check the device clock.",
		"요청 시각이 서버 시각과 너무 다릅니다. 기기 시계를 확인하세요.")
	ErrNonceInvalid = errs.New(errs.Unauthenticated, "device_nonce_invalid",
		"The nonce is unknown, expired or already used; ask for a new one.",
		"논스가 없거나 만료되었거나 이미 사용되었습니다. 새 논스를 받으세요.")
	ErrDeviceRevoked = errs.New(errs.Unauthenticated, "device_revoked",
		"This device is no longer registered; register it again.", "등록이 해지된 기기입니다. 다시 등록하세요.")
	ErrDeviceNotFound = errs.New(errs.NotFound, "device_not_found",
		"No active device has this id.", "이 ID의 사용 중인 기기가 없습니다.")
)

// RequestStore is what device-signed requests need from storage. Devices
// are found by id alone: the request names no institution, the device
// record does.
type RequestStore interface {
	// DeviceByID returns a device of any institution (errs.ErrNotFound
	// when none has this id).
	DeviceByID(ctx context.Context, id string) (*Device, error)
	// IssueDeviceNonce stores a nonce for an active device until expires;
	// errs.ErrNotFound when the device is unknown or revoked.
	IssueDeviceNonce(ctx context.Context, nonce, deviceID string, now, expires time.Time) error
	// ConsumeDeviceNonce deletes the nonce in one statement if it was
	// issued to this device, is unexpired at now and the device is still
	// active; otherwise errs.ErrNotFound. Of racing consumers one wins.
	ConsumeDeviceNonce(ctx context.Context, nonce, deviceID string, now time.Time) error
}

// Requests verifies device-signed requests: the possession factor later
// capabilities (login, payments) build on.
type Requests struct {
	Store RequestStore
	Now   func() time.Time
}

// IssueNonce gives an active device a single-use nonce valid for NonceTTL.
func (q *Requests) IssueNonce(ctx context.Context, deviceID string) (string, time.Time, error) {
	if !validDeviceID(deviceID) {
		return "", time.Time{}, ErrDeviceNotFound
	}
	now := q.Now().UTC()
	nonce, expires := crypto.Token(nonceBytes), now.Add(NonceTTL)
	err := q.Store.IssueDeviceNonce(ctx, nonce, deviceID, now, expires)
	if errors.Is(err, errs.ErrNotFound) {
		return "", time.Time{}, ErrDeviceNotFound
	} else if err != nil {
		return "", time.Time{}, fmt.Errorf("issue device nonce: %w", err)
	}
	return nonce, expires, nil
}

// SignedRequest is what a device-signed request carries.
type SignedRequest struct {
	DeviceID   string
	Method     string
	Path       string // path and query, as sent
	BodySHA256 []byte
	Nonce      string
	Unix       int64 // the device's timestamp, seconds
	Signature  []byte
}

// Verify checks a signed request and returns its device. The checks run
// cheapest first, and the nonce is consumed last: burning it before the
// signature is known to be good would let anyone who saw a nonce spend it
// and lock the device out of its own request.
func (q *Requests) Verify(ctx context.Context, r SignedRequest) (*Device, error) {
	now := q.Now()
	if d := now.Sub(time.Unix(r.Unix, 0)); d > MaxSkew || d < -MaxSkew {
		return nil, ErrRequestSkew
	}
	dev, err := q.device(ctx, r.DeviceID)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(dev.PublicKey)
	if err != nil || dev.KeyKind != KeyKindAppKey {
		// Only app keys sign arbitrary messages; a WebAuthn credential
		// signs assertions and never verifies here.
		return nil, ErrSignatureInvalid
	}
	if err := VerifyRequest(pub, r.Method, r.Path, r.BodySHA256, r.Nonce, r.Unix, r.Signature); err != nil {
		return nil, err
	}
	if dev.State != DeviceActive {
		return nil, ErrDeviceRevoked
	}
	return dev, q.consume(ctx, r.Nonce, dev, now)
}

// device finds the signing device; an unknown one looks like a bad
// signature.
func (q *Requests) device(ctx context.Context, id string) (*Device, error) {
	if !validDeviceID(id) {
		return nil, ErrSignatureInvalid
	}
	dev, err := q.Store.DeviceByID(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrSignatureInvalid
	} else if err != nil {
		return nil, fmt.Errorf("device-signed request: %w", err)
	}
	return dev, nil
}

// consume spends the nonce. A device revoked since it was read also fails
// here, since the store consumes only for active devices.
func (q *Requests) consume(ctx context.Context, nonce string, dev *Device, now time.Time) error {
	err := q.Store.ConsumeDeviceNonce(ctx, nonce, dev.ID, now)
	if errors.Is(err, errs.ErrNotFound) {
		return ErrNonceInvalid
	} else if err != nil {
		return fmt.Errorf("consume device nonce: %w", err)
	}
	return nil
}

// validDeviceID accepts the shape of ids this package makes (dev_ and
// lowercase base32), bounded, before any lookup.
func validDeviceID(id string) bool {
	return between(id, 5, 64) && id[:4] == "dev_" && allOf(id, func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
	})
}
