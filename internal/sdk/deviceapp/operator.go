package deviceapp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/device"
)

// OperatorClient is a bank operator (call-center agent, supervisor, teller)
// on the operator API: a session cookie in its jar and the session's CSRF
// token on every write.
type OperatorClient struct {
	Server string
	HTTP   *http.Client // must have a cookie jar; NewOperatorClient gives one
	// Now is the clock of TOTP codes; nil means time.Now.
	Now  func() time.Time
	csrf string
}

// NewOperatorClient returns a client with its own cookie jar.
func NewOperatorClient(server string) *OperatorClient {
	jar, _ := cookiejar.New(nil) // New never fails with nil options
	c := orDefault(nil)
	c.Jar = jar
	return &OperatorClient{Server: server, HTTP: c}
}

// Login opens a session with the password and the current code of the
// operator's TOTP secret.
// A code already used (by this operator's previous login in the same
// 30-second step) is refused as totp_reused; like a person, the client
// then waits for the next code and tries once more.
func (o *OperatorClient) Login(ctx context.Context, username, password, totpSecret string) error {
	err := o.login(ctx, username, password, totpSecret)
	if CodeOf(err) != "totp_reused" {
		return err
	}
	now := nowOr(o.Now)
	wait := totpPeriod - time.Duration(now.UnixNano())%totpPeriod + 100*time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	return o.login(ctx, username, password, totpSecret)
}

// totpPeriod is the step of operators' TOTP codes.
const totpPeriod = 30 * time.Second

func (o *OperatorClient) login(ctx context.Context, username, password, totpSecret string) error {
	code, err := totp.GenerateCode(totpSecret, nowOr(o.Now))
	if err != nil {
		return fmt.Errorf("operator login: TOTP secret is not base32")
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	in := map[string]string{"username": username, "password": password, "code": code}
	if err := o.call(ctx, http.MethodPost, "/v1/operator/sessions", in, &out); err != nil {
		return err
	}
	o.csrf = out.CSRF
	return nil
}

// RegistrationStatus is a customer's registration state as the console
// shows it.
func (o *OperatorClient) RegistrationStatus(ctx context.Context, customerID string) (*device.Status, error) {
	var st device.Status
	err := o.call(ctx, http.MethodGet, "/v1/operator/customers/"+url.PathEscape(customerID)+"/registration-status", nil, &st)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Release is a call-center release request.
type Release struct {
	ID    string `json:"release_id"`
	State string `json:"state"`
}

// FullChecklist records every identity check device.ChecklistItems names
// as done.
func FullChecklist() map[string]bool {
	c := make(map[string]bool, len(device.ChecklistItems))
	for _, item := range device.ChecklistItems {
		c[item] = true
	}
	return c
}

// RequestRelease asks (as an agent) for a customer's release, with the
// reason and the identity checklist the agent went through.
func (o *OperatorClient) RequestRelease(ctx context.Context, customerID, reason string, checklist map[string]bool) (*Release, error) {
	in := map[string]any{"customer_id": customerID, "reason": reason, "checklist": checklist}
	var r Release
	if err := o.call(ctx, http.MethodPost, "/v1/operator/releases", in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ApproveRelease approves (as a supervisor) another operator's request.
func (o *OperatorClient) ApproveRelease(ctx context.Context, releaseID string) error {
	return o.call(ctx, http.MethodPost, "/v1/operator/releases/"+url.PathEscape(releaseID)+"/approve", nil, nil)
}

// BranchReset records (as a teller) an in-person ID check; the server
// revokes every device of the customer and lifts every limit. It returns
// the revoked device ids.
func (o *OperatorClient) BranchReset(ctx context.Context, customerID, idCheck string) ([]string, error) {
	var out struct {
		Revoked []string `json:"revoked_device_ids"`
	}
	path := "/v1/operator/customers/" + url.PathEscape(customerID) + "/branch-reset"
	if err := o.call(ctx, http.MethodPost, path, map[string]string{"id_check": idCheck}, &out); err != nil {
		return nil, err
	}
	return out.Revoked, nil
}

func (o *OperatorClient) call(ctx context.Context, method, path string, in, out any) error {
	req, err := jsonRequest(method, endpoint(o.Server, path), in)
	if err != nil {
		return err
	}
	if method != http.MethodGet && o.csrf != "" {
		req.header.Set("X-CSRF-Token", o.csrf)
	}
	return send(ctx, orDefault(o.HTTP), req, out)
}
