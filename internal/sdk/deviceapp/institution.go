package deviceapp

import (
	"context"
	"net/http"
	"net/url"

	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
)

// InstitutionClient is the bank's back end on the institution API,
// authenticated with an API key.
type InstitutionClient struct {
	Server string
	HTTP   *http.Client
	APIKey string
}

// CreateCustomer adds a customer; the answer is masked.
func (c *InstitutionClient) CreateCustomer(ctx context.Context, in customer.New) (*customer.View, error) {
	var v customer.View
	if err := c.call(ctx, http.MethodPost, "/v1/customers", in, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Devices lists a customer's devices, newest first.
func (c *InstitutionClient) Devices(ctx context.Context, customerID string) ([]device.Device, error) {
	var out struct {
		Devices []device.Device `json:"devices"`
	}
	if err := c.call(ctx, http.MethodGet, customerPath(customerID, "devices"), nil, &out); err != nil {
		return nil, err
	}
	return out.Devices, nil
}

// RegistrationStatus says whether the customer may register a device.
func (c *InstitutionClient) RegistrationStatus(ctx context.Context, customerID string) (*device.Status, error) {
	var st device.Status
	if err := c.call(ctx, http.MethodGet, customerPath(customerID, "registration-status"), nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// IDCard is what the customer's ID card shows (a resident card: kind
// "resident", name, rrn, issue_date; a driver's licence adds its number and
// serial).
type IDCard struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	RRN           string `json:"rrn"`
	IssueDate     string `json:"issue_date"`
	LicenceNumber string `json:"licence_number,omitempty"`
	Serial        string `json:"serial,omitempty"`
}

// Evidence is what the customer offers for stronger verification.
type Evidence struct {
	Carrier *Identity `json:"carrier,omitempty"`
	IDCard  *IDCard   `json:"id_card,omitempty"`
}

// StepUpResult is the outcome of a step-up.
type StepUpResult struct {
	Passed []string `json:"passed"`
	Lifted bool     `json:"lifted"`
}

// StepUp lifts the customer's restriction when at least two methods of the
// evidence pass.
func (c *InstitutionClient) StepUp(ctx context.Context, customerID string, ev Evidence) (*StepUpResult, error) {
	var out StepUpResult
	if err := c.call(ctx, http.MethodPost, customerPath(customerID, "registration-step-up"), ev, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *InstitutionClient) call(ctx context.Context, method, path string, in, out any) error {
	req, err := jsonRequest(method, endpoint(c.Server, path), in)
	if err != nil {
		return err
	}
	req.header.Set("X-Api-Key", c.APIKey)
	return send(ctx, orDefault(c.HTTP), req, out)
}

func customerPath(id, rest string) string {
	return "/v1/customers/" + url.PathEscape(id) + "/" + rest
}
