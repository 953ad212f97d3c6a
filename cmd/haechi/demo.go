package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
)

const demoAdmin = "demo-admin"

// seedDemo creates a demo institution and a demo admin the first time and
// prints their credentials; later starts only say they exist, because the
// secrets are stored hashed and cannot be shown again.
func seedDemo(ctx context.Context, a *app, out io.Writer) error {
	_, err := a.db.OperatorByUsername(ctx, demoAdmin)
	if err == nil {
		fmt.Fprintln(out, "demo data already seeded; its credentials were printed at the first --demo start (delete the data dir to start over)")
		return nil
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
	password := crypto.RandomBase32(15)
	op, enr, err := a.operators.Create(ctx, "demo", demoAdmin, password, operator.Roles)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== demo institution (shown once) ==\nclient_id:     %s\nclient_secret: %s\napi_key:       %s\n", c.ID, secret, key)
	fmt.Fprintf(out, "\n== demo operator, every role (shown once) ==\n")
	printOperator(out, op, password, enr)
	fmt.Fprintf(out, "current TOTP code: run `haechi totp %s`\n\n", enr.TOTPSecret)
	return nil
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
