package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
)

const (
	demoAdmin   = "demo-admin"
	demoAnalyst = "demo-analyst" // works the fraud engine's cases
)

// seedDemo creates, the first time, a demo institution, the demo
// operators and a customer per carrier-simulator subscriber; it prints the
// institution's and the admin's credentials and writes all of them to
// demo.json. Later starts only say they exist: the secrets are stored
// hashed and cannot be shown again.
func seedDemo(ctx context.Context, a *app, out io.Writer) error {
	_, err := a.db.OperatorByUsername(ctx, demoAdmin)
	if err == nil {
		fmt.Fprintln(out, "demo data already seeded; its credentials were printed at the first --demo start (delete the data dir to start over)")
		return ensureWebShop(ctx, a, demoServerURL(a.cfg))
	}
	if !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	c, secret, err := a.institutions.CreateClient(ctx, "demo", "Demo Bank", institution.KnownScopes)
	if err != nil {
		return err
	}
	key, _, err := a.institutions.IssueAPIKey(ctx, "demo", c.ID, nil, 0)
	if err != nil {
		return err
	}
	d := &demoData{Server: demoServerURL(a.cfg), InstitutionID: c.ID, ClientID: c.ID, ClientSecret: secret, APIKey: key,
		Operators: map[string]demoUser{}}
	if err := seedDemoOperators(ctx, a, d); err != nil {
		return err
	}
	if err := seedDemoCustomers(ctx, a, d); err != nil {
		return err
	}
	if d.Shop, err = registerWebShop(ctx, a, d.Server); err != nil {
		return err
	}
	path, err := writeDemoData(a.cfg.DataDir, d)
	if err != nil {
		return err
	}
	admin := d.Operators[demoAdmin]
	fmt.Fprintf(out, "\n== demo institution (shown once) ==\nclient_id:     %s\nclient_secret: %s\napi_key:       %s\n", c.ID, secret, key)
	fmt.Fprintf(out, "\n== demo operator, every role (shown once) ==\n")
	printOperator(out, admin.op, admin.Password, admin.enr)
	fmt.Fprintf(out, "current TOTP code: run `haechi totp %s`\n", admin.TOTPSecret)
	fmt.Fprintf(out, "\ndemo operators %s and %d customers: see %s (mode 0600)\n\n",
		strings.Join(demoOperatorNames(), ", "), len(d.Customers), path)
	return nil
}

// demoData is <data-dir>/demo.json: what `haechi demo <flow>` needs to act
// as the app, the institution and the operators. It holds live secrets,
// hence mode 0600, and is written on the first --demo start only.
type demoData struct {
	Server        string              `json:"server,omitempty"`
	InstitutionID string              `json:"institution_id"`
	ClientID      string              `json:"client_id"`
	ClientSecret  string              `json:"client_secret"`
	APIKey        string              `json:"api_key"`
	Operators     map[string]demoUser `json:"operators"`
	Customers     []demoCustomer      `json:"customers"`
	Shop          *webShopCreds       `json:"shop,omitempty"` // the demo shop (demo_shop.go); nil before it had one
}

type demoUser struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"`

	op  *operator.Operator
	enr *operator.Enrollment
}

type demoCustomer struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Phone     string `json:"phone"`
}

// demoOperators are the demo's operators and their roles: an admin with
// every role, and one operator per recovery role, so that a release needs
// two people as it does at a bank.
var demoOperators = []struct {
	name  string
	roles []operator.Role
}{
	{demoAdmin, operator.Roles},
	{"demo-agent", []operator.Role{operator.RoleAgent}},
	{"demo-supervisor", []operator.Role{operator.RoleSupervisor}},
	{"demo-teller", []operator.Role{operator.RoleTeller}},
	{demoAnalyst, []operator.Role{operator.RoleAnalyst}},
}

func demoOperatorNames() []string {
	var names []string
	for _, o := range demoOperators {
		names = append(names, o.name)
	}
	return names
}

func seedDemoOperators(ctx context.Context, a *app, d *demoData) error {
	for _, o := range demoOperators {
		password := crypto.RandomBase32(15)
		op, enr, err := a.operators.Create(ctx, "demo", o.name, password, o.roles)
		if err != nil {
			return err
		}
		d.Operators[o.name] = demoUser{Username: o.name, Password: password, TOTPSecret: enr.TOTPSecret, op: op, enr: enr}
	}
	return nil
}

// seedDemoCustomers makes a customer of the demo bank of every carrier
// simulator subscriber, so that each can register a phone.
func seedDemoCustomers(ctx context.Context, a *app, d *demoData) error {
	for _, s := range carrier.DefaultSubscribers() {
		c, err := a.customers.Create(ctx, "demo", d.InstitutionID, customer.New{Name: s.Name, BirthDate: s.BirthDate, Phone: s.Phone})
		if err != nil {
			return err
		}
		d.Customers = append(d.Customers, demoCustomer{ID: c.ID, Name: c.Name, BirthDate: c.BirthDate, Phone: c.Phone})
	}
	return nil
}

// writeDemoData writes demo.json with mode 0600, through a temporary file
// renamed into place, so a reader never sees half of it.
func writeDemoData(dir string, d *demoData) (string, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("setting HAECHI_DATA_DIR: %w", err)
	}
	path := filepath.Join(dir, "demo.json")
	tmp, err := os.CreateTemp(dir, ".demo-*.json")
	if err != nil {
		return "", fmt.Errorf("write demo data: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Close()); err != nil {
		return "", fmt.Errorf("write demo data: %w", err)
	}
	return path, os.Rename(tmp.Name(), path)
}

// demoServerURL is where the demo client finds this server, when the
// address names one; port 0 (chosen at listen time) names none.
func demoServerURL(c *config.Config) string {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// cmdTOTP prints the current code for a TOTP secret, so a newcomer can log in
// to the demo console without an authenticator app.
func cmdTOTP(args []string, out io.Writer) error {
	if len(args) != 1 {
		return usageErr("totp SECRET")
	}
	code, err := totp.GenerateCode(args[0], time.Now())
	if err != nil {
		return fmt.Errorf("not a base32 TOTP secret")
	}
	fmt.Fprintln(out, code)
	return nil
}
