// Command haechi is the haechi security server and its administration tool.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `haechi — security server for mobile banking, eKYC and online payments

usage:
  haechi serve [--addr A] [--data-dir D] [--demo] [--migrate]
  haechi migrate [--data-dir D]
  haechi audit verify|export [--data-dir D]
  haechi keys rotate|rotate-signing [--data-dir D]
  haechi clients create --name N --scopes s1,s2 | list | revoke ID | api-key ID [--scopes s1] [--ttl-days N]
  haechi operators create --username U --roles r1,r2 | list | disable ID | enable ID
  haechi merchants add --name N --lookup-url U --webhook-url W [--mode protected|legacy] | list
  haechi ekyc purge [--before RFC3339]               delete eKYC evidence past the retention
  haechi demo device [--server URL] [--data-dir D]   drive a running serve --demo, step by step
  haechi demo login [--server URL] [--data-dir D]    the login ladder demo against serve --demo
  haechi demo ekyc [--server URL] [--data-dir D]     eKYC sessions and their signed webhooks against serve --demo
  haechi demo fds [--server URL] [--data-dir D]      fraud decisions explained: impossible travel, a PIN bot, a payment
  haechi demo payment-tamper [--server URL] [--data-dir D]
                                                     Heo & Lee's experiment: a proxy rewrites the checkout, legacy vs protected
  haechi fds backtest --rules FILE [--since RFC3339] [--until RFC3339]
                                                     replay stored decisions through a candidate rule set (default: 30 days)
  haechi totp SECRET          print the current code of a TOTP secret (demo helper)
  haechi version

Settings come from flags and HAECHI_* environment variables; see the README.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "haechi:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit code (audit verify uses 2 for a broken chain).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, fmt.Errorf("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout)
	case "audit":
		return cmdAudit(ctx, rest, stdout)
	case "keys":
		return cmdKeys(ctx, rest, stdout)
	case "clients":
		return cmdClients(ctx, rest, stdout)
	case "operators":
		return cmdOperators(ctx, rest, stdout)
	case "merchants":
		return cmdMerchants(ctx, rest, stdout)
	case "ekyc":
		return cmdEKYC(ctx, rest, stdout)
	case "fds":
		return cmdFDS(ctx, rest, stdout)
	case "demo":
		return cmdDemo(ctx, rest, stdout)
	case "totp":
		return cmdTOTP(rest, stdout)
	case "version":
		fmt.Fprintln(stdout, "haechi", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", cmd)}
}
