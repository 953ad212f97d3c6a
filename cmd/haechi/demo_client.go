package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/haechi/haechi/internal/sdk/deviceapp"
)

// `haechi demo <flow>` drives a running `serve --demo` as the bank's app,
// back end and operators would, printing each step and failing (exit 1) as
// soon as the server does not behave as shown. Each capability adds its
// flow to demoFlow.

const defaultDemoServer = "http://127.0.0.1:8080"

// demoFlowFunc runs one flow against a seeded server.
type demoFlowFunc func(ctx context.Context, t *demoTarget, l *demoLog) error

// demoFlow names the flows; a function rather than a map, so nothing
// global can be changed.
func demoFlow(name string) (demoFlowFunc, bool) {
	switch name {
	case "device":
		return demoDevice, true
	case "login":
		return demoLogin, true
	case "ekyc":
		return demoEKYC, true
	case "fds":
		return demoFDS, true
	case "payment-tamper":
		return demoPaymentTamper, true
	}
	return nil, false
}

const demoUsage = "demo device|login|ekyc|fds|payment-tamper [--server URL] [--data-dir D]"

func cmdDemo(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageErr(demoUsage)
	}
	flow, ok := demoFlow(args[0])
	if !ok {
		return usageErr(demoUsage)
	}
	fs := flag.NewFlagSet("demo "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server := fs.String("server", "", "base URL of the demo server (default "+defaultDemoServer+")")
	dataDir := fs.String("data-dir", "./data", "data directory of `haechi serve --demo`, holding demo.json")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return usageErr(demoUsage)
	}
	t, err := loadDemoTarget(*dataDir, *server)
	if err != nil {
		return err
	}
	l := &demoLog{out: out}
	fmt.Fprintf(out, "haechi demo %s — against %s\n", args[0], t.Server)
	if err := flow(ctx, t, l); err != nil {
		return &exitError{1, fmt.Errorf("demo %s: %w", args[0], err)}
	}
	fmt.Fprintf(out, "\nall %d steps behaved as shown\n", l.checks)
	return nil
}

// demoTarget is the demo data `serve --demo` wrote (demoData), with the
// server this run talks to.
type demoTarget struct {
	demoData
}

func identityOf(c demoCustomer) deviceapp.Identity {
	return deviceapp.Identity{Name: c.Name, BirthDate: c.BirthDate, Phone: c.Phone}
}

// loadDemoTarget reads demo.json; server, when given, overrides the one
// recorded there.
func loadDemoTarget(dataDir, server string) (*demoTarget, error) {
	path := filepath.Join(dataDir, "demo.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: start `haechi serve --demo` first (with the same --data-dir)", path)
	} else if err != nil {
		return nil, fmt.Errorf("read demo data: %w", err)
	}
	var t demoTarget
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s is not valid demo data: %w", path, err)
	}
	if t.InstitutionID == "" || t.APIKey == "" {
		return nil, fmt.Errorf("%s lacks the demo institution: start `haechi serve --demo` on a fresh data dir", path)
	}
	switch {
	case server != "":
		t.Server = server
	case t.Server == "":
		t.Server = defaultDemoServer
	}
	t.Server = strings.TrimRight(t.Server, "/")
	return &t, nil
}

// operator logs in as the named demo operator.
func (t *demoTarget) operator(ctx context.Context, name string) (*deviceapp.OperatorClient, error) {
	u, ok := t.Operators[name]
	if !ok {
		return nil, fmt.Errorf("demo.json has no operator %q", name)
	}
	o := deviceapp.NewOperatorClient(t.Server)
	if err := o.Login(ctx, u.Username, u.Password, u.TOTPSecret); err != nil {
		return nil, fmt.Errorf("%s login: %w", name, err)
	}
	return o, nil
}

func (t *demoTarget) institution() *deviceapp.InstitutionClient {
	return &deviceapp.InstitutionClient{Server: t.Server, APIKey: t.APIKey}
}

// demoLog prints numbered sections, notes and one ✓ or ✗ line per check.
type demoLog struct {
	out     io.Writer
	section int
	checks  int
}

func (l *demoLog) title(format string, args ...any) {
	l.section++
	fmt.Fprintf(l.out, "\n%d. %s\n", l.section, fmt.Sprintf(format, args...))
}

// note prints a line that checks nothing.
func (l *demoLog) note(format string, args ...any) {
	fmt.Fprintf(l.out, "   ▸ %s\n", fmt.Sprintf(format, args...))
}

func (l *demoLog) ok(format string, args ...any) {
	l.checks++
	fmt.Fprintf(l.out, "   ✓ %s\n", fmt.Sprintf(format, args...))
}

// fail prints the ✗ line and returns it as the flow's error.
func (l *demoLog) fail(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(l.out, "   ✗ %s\n", msg)
	return errors.New(msg)
}

// check passes when err is nil.
func (l *demoLog) check(err error, format string, args ...any) error {
	if err != nil {
		return l.fail("%s: %v", fmt.Sprintf(format, args...), err)
	}
	l.ok(format, args...)
	return nil
}

// refused passes when err is the server's refusal with code and returns it.
func (l *demoLog) refused(err error, code, format string, args ...any) (*deviceapp.Problem, error) {
	what := fmt.Sprintf(format, args...)
	p, ok := deviceapp.AsProblem(err)
	switch {
	case err == nil:
		return nil, l.fail("%s: accepted, want %s", what, code)
	case !ok:
		return nil, l.fail("%s: %v, want %s", what, err, code)
	case p.Code != code:
		return nil, l.fail("%s: %s (%d), want %s", what, p.Code, p.Status, code)
	}
	return p, nil
}
