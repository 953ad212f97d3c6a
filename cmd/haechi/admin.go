package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/operator"
)

// cliActor is the audit actor for changes made from the shell.
const cliActor = "cli"

// withApp loads settings for a data subcommand (with the subcommand's own
// flags registered by flags, if any) and opens the app.
func withApp(ctx context.Context, name string, args []string, flags func(*flag.FlagSet), fn func(a *app, rest []string) error) error {
	env := config.OSEnv()
	var extra []func(*flag.FlagSet)
	if flags != nil {
		extra = append(extra, flags)
	}
	cfg, rest, err := config.Load(name, args, false, env, extra...)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, env, schemaCheck)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a, rest)
}

// clientFlags are the flags of the clients subcommands.
type clientFlags struct {
	name, scopes string
	days         int
}

func (f *clientFlags) register(sub string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		switch sub {
		case "create":
			fs.StringVar(&f.name, "name", "", "institution name")
			fs.StringVar(&f.scopes, "scopes", "", "comma-separated scopes")
		case "api-key":
			fs.StringVar(&f.scopes, "scopes", "", "comma-separated scopes (default: the client's)")
			fs.IntVar(&f.days, "ttl-days", 365, "lifetime in days")
		}
	}
}

func cmdClients(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageErr("clients create|list|revoke|api-key")
	}
	sub, f := args[0], &clientFlags{}
	return withApp(ctx, "clients "+sub, args[1:], f.register(sub), func(a *app, rest []string) error {
		switch sub {
		case "create":
			return clientsCreate(ctx, a, f, out)
		case "list":
			return clientsList(ctx, a, out)
		case "revoke":
			if len(rest) != 1 {
				return usageErr("clients revoke CLIENT_ID")
			}
			if err := a.institutions.RevokeClient(ctx, cliActor, rest[0]); err != nil {
				return err
			}
			fmt.Fprintln(out, "revoked", rest[0])
			return nil
		case "api-key":
			if len(rest) != 1 {
				return usageErr("clients api-key CLIENT_ID [--scopes s] [--ttl-days N]")
			}
			return clientsAPIKey(ctx, a, rest[0], f, out)
		}
		return usageErr("clients create|list|revoke|api-key")
	})
}

func clientsCreate(ctx context.Context, a *app, f *clientFlags, out io.Writer) error {
	c, secret, err := a.institutions.CreateClient(ctx, cliActor, f.name, splitList(f.scopes))
	if err != nil {
		return err
	}
	raw, _, err := a.institutions.IssueAPIKey(ctx, cliActor, c.ID, nil, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "client_id:     %s\nclient_secret: %s\napi_key:       %s\nscopes:        %s\n(the secret and key are shown only now)\n",
		c.ID, secret, raw, strings.Join(c.Scopes, " "))
	return nil
}

func clientsAPIKey(ctx context.Context, a *app, clientID string, f *clientFlags, out io.Writer) error {
	raw, k, err := a.institutions.IssueAPIKey(ctx, cliActor, clientID, splitList(f.scopes), time.Duration(f.days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "api_key:    %s\nexpires_at: %s\n(the key is shown only now)\n", raw, k.ExpiresAt.Format(time.RFC3339))
	return nil
}

func clientsList(ctx context.Context, a *app, out io.Writer) error {
	cs, err := a.institutions.Clients(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tSTATUS")
	for _, c := range cs {
		status := "active"
		if c.RevokedAt != nil {
			status = "revoked " + c.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.Scopes, ","), c.CreatedAt.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

func cmdOperators(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageErr("operators create|list|disable|enable")
	}
	sub := args[0]
	var username, roles string
	flags := func(fs *flag.FlagSet) {
		if sub == "create" {
			fs.StringVar(&username, "username", "", "login name")
			fs.StringVar(&roles, "roles", "", "comma-separated: agent,teller,analyst,auditor,admin")
		}
	}
	return withApp(ctx, "operators "+sub, args[1:], flags, func(a *app, rest []string) error {
		switch sub {
		case "create":
			return operatorsCreate(ctx, a, username, roles, out)
		case "list":
			return operatorsList(ctx, a, out)
		case "disable", "enable":
			if len(rest) != 1 {
				return usageErr("operators " + sub + " OPERATOR_ID")
			}
			if err := a.operators.SetDisabled(ctx, cliActor, rest[0], sub == "disable"); err != nil {
				return err
			}
			fmt.Fprintln(out, sub+"d", rest[0])
			return nil
		}
		return usageErr("operators create|list|disable|enable")
	})
}

// operatorsCreate generates the password (76 random bits) so that no weak
// one is ever typed into a shell history.
func operatorsCreate(ctx context.Context, a *app, username, roles string, out io.Writer) error {
	password := crypto.RandomBase32(15)
	op, enr, err := a.operators.Create(ctx, cliActor, username, password, toRoles(splitList(roles)))
	if err != nil {
		return err
	}
	printOperator(out, op, password, enr)
	return nil
}

func printOperator(out io.Writer, op *operator.Operator, password string, enr *operator.Enrollment) {
	fmt.Fprintf(out, "operator_id:  %s\nusername:     %s\npassword:     %s\ntotp_secret:  %s\ntotp_url:     %s\n(the password and TOTP secret are shown only now)\n",
		op.ID, op.Username, password, enr.TOTPSecret, enr.TOTPURL)
}

func operatorsList(ctx context.Context, a *app, out io.Writer) error {
	ops, err := a.operators.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tROLES\tSTATUS")
	for _, o := range ops {
		status := "active"
		if o.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.ID, o.Username, joinRoles(o.Roles), status)
	}
	return tw.Flush()
}

func toRoles(s []string) []operator.Role {
	out := make([]operator.Role, len(s))
	for i, r := range s {
		out[i] = operator.Role(r)
	}
	return out
}

func joinRoles(rs []operator.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func usageErr(u string) error { return &exitError{2, fmt.Errorf("usage: haechi %s", u)} }
