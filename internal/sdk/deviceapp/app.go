// Package deviceapp is a client of haechi's device-facing API that plays a
// bank's mobile app: it reports its phone, registers with the carrier code
// and an app key, and signs requests with that key. Beside it are thin
// clients for the institution's and the operators' routes and for the
// demo-only simulator routes, so that `haechi demo` and end-to-end tests can
// act every part. It is a demo and test client: a real app keeps its key in
// the phone's secure hardware, which this package does not pretend to do.
package deviceapp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/device"
)

// Headers of a device-signed request.
const (
	HeaderDeviceID  = "Haechi-Device-Id"
	HeaderNonce     = "Haechi-Nonce"
	HeaderTimestamp = "Haechi-Timestamp"
	HeaderSignature = "Haechi-Signature"
)

var b64 = base64.RawURLEncoding

// App is one install of the bank's app on one phone.
type App struct {
	Server        string
	HTTP          *http.Client
	Key           *ecdsa.PrivateKey // the app key, P-256
	Report        device.Report
	InstitutionID string
	// DeviceID is the server's id of this app's device, set by BindKey.
	DeviceID string
	// Now is the clock of signed requests; nil means time.Now.
	Now func() time.Time
}

// NewApp makes an app with a fresh P-256 key.
func NewApp(server, institutionID string, report device.Report) (*App, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate app key: %w", err)
	}
	return &App{Server: server, HTTP: orDefault(nil), Key: key, Report: report, InstitutionID: institutionID}, nil
}

// DemoReport is a healthy phone running the demo app: a random hardware id
// (a new phone each call), a security patch from the first of this month,
// nothing rooted, no emulator, no debugger.
func DemoReport(now time.Time) device.Report {
	id := make([]byte, 8)
	rand.Read(id) // never fails since Go 1.24
	patch := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return device.Report{
		DeviceID: "demo-" + hex.EncodeToString(id), Model: "SM-S928N", OS: "android", OSVersion: "15",
		SecurityPatch: patch.Format(time.DateOnly), AppVersion: device.DemoAppVersion,
		AppDigest: device.DemoAppDigest, NetworkType: "wifi",
	}
}

// Registration is a started registration: the challenge the key must sign.
type Registration struct {
	ID        string
	Challenge []byte
	ExpiresAt time.Time
}

// Identity is who the customer says they are.
type Identity struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"` // YYYY-MM-DD
	Phone     string `json:"phone"`      // digits only
}

type startRequest struct {
	InstitutionID  string        `json:"institution_id"`
	Customer       Identity      `json:"customer"`
	Device         device.Report `json:"device"`
	IntegrityToken string        `json:"integrity_token,omitempty"`
}

type startAnswer struct {
	RegistrationID string    `json:"registration_id"`
	Challenge      string    `json:"challenge"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// StartRegistration sends the customer's identity, the report and the
// integrity token; the server sends the carrier code by SMS.
func (a *App) StartRegistration(ctx context.Context, name, birthDate, phone, integrityToken string) (*Registration, error) {
	in := startRequest{InstitutionID: a.InstitutionID, Customer: Identity{name, birthDate, phone},
		Device: a.Report, IntegrityToken: integrityToken}
	var out startAnswer
	if err := a.post(ctx, "/v1/device-registrations", in, &out); err != nil {
		return nil, err
	}
	ch, err := b64.DecodeString(out.Challenge)
	if err != nil || out.RegistrationID == "" {
		return nil, fmt.Errorf("start registration: malformed answer (challenge: %v)", err)
	}
	return &Registration{ID: out.RegistrationID, Challenge: ch, ExpiresAt: out.ExpiresAt}, nil
}

// SubmitCode answers the registration's SMS code.
func (a *App) SubmitCode(ctx context.Context, regID, code string) error {
	in := map[string]string{"institution_id": a.InstitutionID, "code": code}
	return a.post(ctx, registrationPath(regID, "code"), in, nil)
}

// Bound is a completed registration.
type Bound struct {
	DeviceID         string    `json:"device_id"`
	Kind             string    `json:"kind"`
	CreatedAt        time.Time `json:"created_at"`
	RevokedDeviceIDs []string  `json:"revoked_device_ids"`
}

type keyRequest struct {
	InstitutionID string `json:"institution_id"`
	Challenge     string `json:"challenge"`
	PublicKey     string `json:"public_key"`
	Signature     string `json:"signature"`
}

// BindKey proves possession of the app key over the registration's
// challenge and completes the registration; the app keeps the device id.
func (a *App) BindKey(ctx context.Context, reg *Registration) (*Bound, error) {
	spki, err := x509.MarshalPKIXPublicKey(&a.Key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode app key: %w", err)
	}
	sig, err := a.sign(device.KeyProofMessage(reg.ID, reg.Challenge))
	if err != nil {
		return nil, err
	}
	in := keyRequest{a.InstitutionID, b64.EncodeToString(reg.Challenge), b64.EncodeToString(spki), b64.EncodeToString(sig)}
	var out Bound
	if err := a.post(ctx, registrationPath(reg.ID, "key"), in, &out); err != nil {
		return nil, err
	}
	a.DeviceID = out.DeviceID
	return &out, nil
}

// sign is an ASN.1 ECDSA signature over SHA-256 of msg.
func (a *App) sign(msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign with the app key: %w", err)
	}
	return sig, nil
}

// Nonce asks for a single-use nonce for the next signed request.
func (a *App) Nonce(ctx context.Context) (string, error) {
	if a.DeviceID == "" {
		return "", fmt.Errorf("nonce: the app has no device yet")
	}
	var out struct {
		Nonce string `json:"nonce"`
	}
	if err := a.post(ctx, "/v1/device-nonces", map[string]string{"device_id": a.DeviceID}, &out); err != nil {
		return "", err
	}
	return out.Nonce, nil
}

// SignedGet sends a device-signed GET of path (with its query, if any) and
// decodes the answer into out.
func (a *App) SignedGet(ctx context.Context, path string, out any) error {
	return a.SignedDo(ctx, http.MethodGet, path, nil, out)
}

// SignedDo sends a device-signed request with a JSON body (nil: none).
func (a *App) SignedDo(ctx context.Context, method, path string, in, out any) error {
	req, err := jsonRequest(method, endpoint(a.Server, path), in)
	if err != nil {
		return err
	}
	nonce, err := a.Nonce(ctx)
	if err != nil {
		return err
	}
	unix := nowOr(a.Now).Unix()
	sig, err := a.SignRequest(method, path, req.body, nonce, unix)
	if err != nil {
		return err
	}
	req.header.Set(HeaderDeviceID, a.DeviceID)
	req.header.Set(HeaderNonce, nonce)
	req.header.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
	req.header.Set(HeaderSignature, b64.EncodeToString(sig))
	return send(ctx, orDefault(a.HTTP), req, out)
}

// SignRequest signs device.RequestMessage for one request.
func (a *App) SignRequest(method, path string, body []byte, nonce string, unix int64) ([]byte, error) {
	sum := sha256.Sum256(body)
	return a.sign(device.RequestMessage(method, path, sum[:], nonce, unix))
}

// Register runs the whole app-key registration against the simulators:
// integrity token, start, the SMS code from the carrier simulator, code,
// key.
func (a *App) Register(ctx context.Context, id Identity) (*Bound, error) {
	token, err := a.IntegrityToken(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := a.StartRegistration(ctx, id.Name, id.BirthDate, id.Phone, token)
	if err != nil {
		return nil, err
	}
	code, err := a.LastSMSCode(ctx, id.Phone)
	if err != nil {
		return nil, err
	}
	if err := a.SubmitCode(ctx, reg.ID, code); err != nil {
		return nil, err
	}
	return a.BindKey(ctx, reg)
}

func (a *App) post(ctx context.Context, path string, in, out any) error {
	req, err := jsonRequest(http.MethodPost, endpoint(a.Server, path), in)
	if err != nil {
		return err
	}
	return send(ctx, orDefault(a.HTTP), req, out)
}

func registrationPath(id, step string) string {
	return "/v1/device-registrations/" + url.PathEscape(id) + "/" + step
}
