package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/mask"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
)

// The device demo: a full registration, a restriction after three wrong
// codes and its lifting by step-up, and a hard block (one phone trying
// three customers) released by two operators. It needs five demo
// customers; the one restricted must have a genuine ID card in the ID-check
// simulator, so the step-up can pass.

// demoFailures is the failure limit the demo expects (device.Limits'
// default, which `serve --demo` keeps).
const demoFailures = 3

// deviceDemo holds the run's cast and clients.
type deviceDemo struct {
	t    *demoTarget
	l    *demoLog
	inst *deviceapp.InstitutionClient
	// registrant registers normally; stepper is restricted, then lifted by
	// step-up with its ID card; targets are tried by one phone.
	registrant, stepper indexed
	card                idcheck.Card
	targets             []indexed
	// stepperApp is the restricted customer's phone, reused after the lift.
	stepperApp *deviceapp.App
}

// indexed is a demo customer with its 1-based place in demo.json.
type indexed struct {
	n int
	demoCustomer
}

func (c indexed) String() string {
	return fmt.Sprintf("customer #%d %s (%s)", c.n, mask.Name(c.Name), mask.Phone(c.Phone))
}

func demoDevice(ctx context.Context, t *demoTarget, l *demoLog) error {
	d, err := castDeviceDemo(t, l)
	if err != nil {
		return err
	}
	for _, step := range []func(context.Context) error{d.cleanSlate, d.register, d.restrict, d.stepUp, d.hardBlock} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// castDeviceDemo picks the customers: the first registers, the first other
// one with a genuine resident card is restricted and lifted, and the next
// three are tried by one phone.
func castDeviceDemo(t *demoTarget, l *demoLog) (*deviceDemo, error) {
	if len(t.Customers) < 5 {
		return nil, fmt.Errorf("the device demo needs 5 demo customers, demo.json has %d", len(t.Customers))
	}
	d := &deviceDemo{t: t, l: l, inst: t.institution(), registrant: indexed{1, t.Customers[0]}}
	for i, c := range t.Customers[1:] {
		card, ok := genuineCard(c)
		if d.stepper.n == 0 && ok {
			d.stepper, d.card = indexed{i + 2, c}, card
			continue
		}
		if len(d.targets) < 3 {
			d.targets = append(d.targets, indexed{i + 2, c})
		}
	}
	if d.stepper.n == 0 || len(d.targets) < 3 {
		return nil, fmt.Errorf("demo.json's customers do not fit the device demo (one needs a genuine ID card in the simulator)")
	}
	return d, nil
}

// genuineCard finds the customer's resident card among the ID-check
// simulator's records: same name and birth date, not reported lost.
func genuineCard(c demoCustomer) (idcheck.Card, bool) {
	for _, r := range idcheck.DefaultRecords() {
		_, birth, err := customer.NormalizeRRN(r.Card.RRN)
		if err == nil && !r.Lost && r.Card.Kind == idcheck.KindResident && r.Card.Name == c.Name && birth == c.BirthDate {
			return r.Card, true
		}
	}
	return idcheck.Card{}, false
}

// newPhone is the bank's app freshly installed on a new phone.
func (d *deviceDemo) newPhone() (*deviceapp.App, error) {
	return deviceapp.NewApp(d.t.Server, d.t.InstitutionID, deviceapp.DemoReport(time.Now()))
}

// cleanSlate undoes an earlier run: the demo's failures, restrictions and
// devices would otherwise change what this run shows. A teller's branch
// reset is the one recovery that clears them all, so the demo uses it.
func (d *deviceDemo) cleanSlate(ctx context.Context) error {
	var dirty []indexed
	for _, c := range append([]indexed{d.stepper}, d.targets...) {
		used, err := d.used(ctx, c)
		if err != nil {
			return fmt.Errorf("read %s: %w", c, err)
		}
		if used {
			dirty = append(dirty, c)
		}
	}
	if len(dirty) == 0 {
		return nil
	}
	d.l.title("Clean slate: an earlier run left traces; demo-teller resets those customers at the branch")
	teller, err := d.t.operator(ctx, "demo-teller")
	if err := d.l.check(err, "demo-teller logged in (password + TOTP)"); err != nil {
		return err
	}
	for _, c := range dirty {
		revoked, err := teller.BranchReset(ctx, c.ID, "resident_card")
		if err := d.l.check(err, "branch reset of %s after an in-person ID check: %d device(s) revoked", c, len(revoked)); err != nil {
			return err
		}
	}
	return nil
}

// used reports whether an earlier run touched the customer.
func (d *deviceDemo) used(ctx context.Context, c indexed) (bool, error) {
	st, err := d.inst.RegistrationStatus(ctx, c.ID)
	if err != nil {
		return false, err
	}
	if st.Restricted || st.Blocked || st.Remaining < demoFailures {
		return true, nil
	}
	devs, err := d.inst.Devices(ctx, c.ID)
	return len(devs) > 0, err
}

// register is step (a): a full registration and a device-signed request.
func (d *deviceDemo) register(ctx context.Context) error {
	c := d.registrant
	d.l.title("Registration: %s on a new phone", c)
	app, err := d.newPhone()
	if err != nil {
		return err
	}
	reg, err := d.start(ctx, app, identityOf(c.demoCustomer))
	if err != nil {
		return err
	}
	if err := d.enterSMSCode(ctx, app, c, reg); err != nil {
		return err
	}
	if err := d.bind(ctx, app, reg); err != nil {
		return err
	}
	var cur struct {
		DeviceID   string `json:"device_id"`
		CustomerID string `json:"customer_id"`
	}
	err = app.SignedGet(ctx, "/v1/devices/current", &cur)
	if err == nil && (cur.DeviceID != app.DeviceID || cur.CustomerID != c.ID) {
		err = fmt.Errorf("answered device %s of %s, want %s of %s", cur.DeviceID, cur.CustomerID, app.DeviceID, c.ID)
	}
	return d.l.check(err, "device-signed GET /v1/devices/current (fresh nonce, timestamp, app-key signature) → %s of %s", cur.DeviceID, cur.CustomerID)
}

// start mints an integrity token for the phone and starts a registration.
func (d *deviceDemo) start(ctx context.Context, app *deviceapp.App, id deviceapp.Identity) (*deviceapp.Registration, error) {
	token, err := app.IntegrityToken(ctx)
	if err := d.l.check(err, "integrity token from the platform simulator, bound to the device report"); err != nil {
		return nil, err
	}
	reg, err := app.StartRegistration(ctx, id.Name, id.BirthDate, id.Phone, token)
	if err != nil {
		return nil, d.l.fail("registration start: %v", err)
	}
	d.l.ok("registration %s started: challenge of %d bytes, expires in %s", reg.ID, len(reg.Challenge), until(reg.ExpiresAt))
	return reg, nil
}

// enterSMSCode reads the code the carrier simulator delivered and enters it.
func (d *deviceDemo) enterSMSCode(ctx context.Context, app *deviceapp.App, c indexed, reg *deviceapp.Registration) error {
	code, err := app.LastSMSCode(ctx, c.Phone)
	if err := d.l.check(err, "SMS code delivered to %s by the carrier simulator (%s)", mask.Phone(c.Phone), mask.All(code)); err != nil {
		return err
	}
	return d.l.check(app.SubmitCode(ctx, reg.ID, code), "code accepted")
}

// bind proves possession of the phone's new app key.
func (d *deviceDemo) bind(ctx context.Context, app *deviceapp.App, reg *deviceapp.Registration) error {
	b, err := app.BindKey(ctx, reg)
	if err != nil {
		return d.l.fail("app key binding: %v", err)
	}
	d.l.ok("P-256 app key bound by its signature over the challenge → device %s (%s), %d earlier device(s) revoked",
		b.DeviceID, b.Kind, len(b.RevokedDeviceIDs))
	return nil
}

// restrict is step (b): three wrong codes restrict the customer for 24 h.
func (d *deviceDemo) restrict(ctx context.Context) error {
	c := d.stepper
	d.l.title("Restriction: %s enters three wrong codes", c)
	app, err := d.newPhone()
	if err != nil {
		return err
	}
	d.stepperApp = app
	reg, err := d.start(ctx, app, identityOf(c.demoCustomer))
	if err != nil {
		return err
	}
	code, err := app.LastSMSCode(ctx, c.Phone)
	if err != nil {
		return d.l.fail("read the SMS code: %v", err)
	}
	for i := 1; i < demoFailures; i++ {
		if err := d.wrongCode(ctx, app, reg.ID, wrongCode(code, i), i); err != nil {
			return err
		}
	}
	err = app.SubmitCode(ctx, reg.ID, wrongCode(code, demoFailures))
	if err := d.restricted(err, "wrong code %d", demoFailures); err != nil {
		return err
	}
	token, err := app.IntegrityToken(ctx)
	if err != nil {
		return d.l.fail("integrity token: %v", err)
	}
	_, err = app.StartRegistration(ctx, c.Name, c.BirthDate, c.Phone, token)
	return d.restricted(err, "a fresh start")
}

// wrongCode enters a wrong code and expects it counted.
func (d *deviceDemo) wrongCode(ctx context.Context, app *deviceapp.App, regID, code string, i int) error {
	err := app.SubmitCode(ctx, regID, code)
	return d.counted(err, device.ErrCodeWrong.Code, demoFailures-i, "wrong code %d", i)
}

// counted expects a counted refusal that says how many failures are left.
func (d *deviceDemo) counted(err error, code string, left int, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	p, err := d.l.refused(err, code, "%s", what)
	if err != nil {
		return err
	}
	if p.RemainingAttempts == nil || *p.RemainingAttempts != left {
		return d.l.fail("%s: refused (%s) but remaining_attempts = %s, want %d", what, p.Code, remaining(p), left)
	}
	d.l.ok("%s refused: %s (%d), %s", what, p.Code, p.Status, plural(left, "attempt")+" left")
	return nil
}

// restricted expects a 423 registration_restricted with a Retry-After of
// about the restriction's 24 hours.
func (d *deviceDemo) restricted(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	p, err := d.l.refused(err, device.ErrRestricted.Code, "%s", what)
	if err != nil {
		return err
	}
	if p.Status != 423 || p.RetryAfter < 23*time.Hour || p.RetryAfter > 24*time.Hour+time.Minute {
		return d.l.fail("%s: %s with status %d and Retry-After %s, want 423 and about 24h", what, p.Code, p.Status, p.RetryAfter)
	}
	d.l.ok("%s refused: %s (423), Retry-After %s", what, p.Code, p.RetryAfter)
	return nil
}

// stepUp is step (c): carrier and ID card verification lift the
// restriction, and the same phone then registers.
func (d *deviceDemo) stepUp(ctx context.Context) error {
	c := d.stepper
	d.l.title("Lifting the restriction: %s verifies with the carrier and an ID card", c)
	st, err := d.inst.RegistrationStatus(ctx, c.ID)
	if err == nil && (!st.Restricted || st.Blocked) {
		err = fmt.Errorf("status %+v, want restricted", *st)
	}
	if err := d.l.check(err, "the bank sees the restriction (until %s)", restrictedUntil(st)); err != nil {
		return err
	}
	id := identityOf(c.demoCustomer)
	ev := deviceapp.Evidence{Carrier: &id, IDCard: &deviceapp.IDCard{Kind: string(d.card.Kind), Name: d.card.Name, RRN: d.card.RRN, IssueDate: d.card.IssueDate}}
	res, err := d.inst.StepUp(ctx, c.ID, ev)
	if err == nil && (!res.Lifted || len(res.Passed) < device.MinStepUpMethods) {
		err = fmt.Errorf("passed %v, lifted %v", res.Passed, res.Lifted)
	}
	if err := d.l.check(err, "step-up with the carrier identity and resident card %s passes %s: restriction lifted", mask.RRN(d.card.RRN), passed(res)); err != nil {
		return err
	}
	d.l.note("registration on the same phone now proceeds:")
	return d.registerAgain(ctx, d.stepperApp, c)
}

// registerAgain runs a whole registration and expects it to succeed.
func (d *deviceDemo) registerAgain(ctx context.Context, app *deviceapp.App, c indexed) error {
	reg, err := d.start(ctx, app, identityOf(c.demoCustomer))
	if err != nil {
		return err
	}
	if err := d.enterSMSCode(ctx, app, c, reg); err != nil {
		return err
	}
	return d.bind(ctx, app, reg)
}

// hardBlock is step (d): one phone tries three customers and is
// hard-blocked with the last of them; a call-center agent and a supervisor
// release the customer, who then registers on their own phone.
func (d *deviceDemo) hardBlock(ctx context.Context) error {
	d.l.title("Hard block: one phone tries three different customers")
	phone, err := d.newPhone()
	if err != nil {
		return err
	}
	if err := d.spray(ctx, phone); err != nil {
		return err
	}
	victim := d.targets[len(d.targets)-1]
	if err := d.release(ctx, victim); err != nil {
		return err
	}
	err = d.attempt(ctx, phone, identityOf(victim.demoCustomer))
	if _, err := d.l.refused(err, device.ErrBlocked.Code, "the phone that tried three customers, with %s's true identity", victim); err != nil {
		return err
	}
	d.l.ok("the phone that tried three customers stays blocked, even with the true identity: %s", device.ErrBlocked.Code)
	own, err := d.newPhone()
	if err != nil {
		return err
	}
	d.l.note("%s registers on their own phone:", victim)
	return d.registerAgain(ctx, own, victim)
}

// spray is the attacker's phone: a wrong code for the first customer, a
// wrong birth date for the next, and for the third the block.
func (d *deviceDemo) spray(ctx context.Context, phone *deviceapp.App) error {
	first, second, third := d.targets[0], d.targets[1], d.targets[2]
	reg, err := d.start(ctx, phone, identityOf(first.demoCustomer))
	if err != nil {
		return err
	}
	code, err := phone.LastSMSCode(ctx, first.Phone)
	if err != nil {
		return d.l.fail("read the SMS code: %v", err)
	}
	err = phone.SubmitCode(ctx, reg.ID, wrongCode(code, 1))
	if err := d.counted(err, device.ErrCodeWrong.Code, demoFailures-1, "%s: a wrong code", first); err != nil {
		return err
	}
	err = d.mismatch(ctx, phone, identityOf(second.demoCustomer))
	if err := d.counted(err, device.ErrIdentityMismatch.Code, demoFailures-2, "%s: a wrong birth date", second); err != nil {
		return err
	}
	err = d.mismatch(ctx, phone, identityOf(third.demoCustomer))
	p, err := d.l.refused(err, device.ErrBlocked.Code, "%s: a wrong birth date", third)
	if err != nil {
		return err
	}
	d.l.ok("%s: a wrong birth date → %s (%d): the phone and the customer are hard-blocked", third, p.Code, p.Status)
	return nil
}

// mismatch starts a registration with the birth date one year off.
func (d *deviceDemo) mismatch(ctx context.Context, phone *deviceapp.App, id deviceapp.Identity) error {
	id.BirthDate = otherBirthDate(id.BirthDate)
	return d.attempt(ctx, phone, id)
}

// attempt starts a registration that is expected to be refused.
func (d *deviceDemo) attempt(ctx context.Context, phone *deviceapp.App, id deviceapp.Identity) error {
	token, err := phone.IntegrityToken(ctx)
	if err != nil {
		return err
	}
	_, err = phone.StartRegistration(ctx, id.Name, id.BirthDate, id.Phone, token)
	return err
}

// release is the call-center release: an agent's request, checked by the
// four-eyes rule, approved by a supervisor.
func (d *deviceDemo) release(ctx context.Context, c indexed) error {
	agent, err := d.t.operator(ctx, "demo-agent")
	if err := d.l.check(err, "demo-agent logged in (password + TOTP)"); err != nil {
		return err
	}
	if err := d.status(ctx, agent, "demo-agent", c, true); err != nil {
		return err
	}
	rel, err := agent.RequestRelease(ctx, c.ID, "Customer called the call center; identity confirmed by call-back and security questions", deviceapp.FullChecklist())
	if err := d.l.check(err, "demo-agent requests a release with a reason and the identity checklist: %s", releaseID(rel)); err != nil {
		return err
	}
	err = agent.ApproveRelease(ctx, rel.ID)
	p, ok := deviceapp.AsProblem(err)
	if !ok || p.Status != 403 {
		return d.l.fail("demo-agent approving the request: %v, want a 403 refusal", err)
	}
	d.l.ok("demo-agent cannot approve it: %s (403)", p.Code)
	sup, err := d.t.operator(ctx, "demo-supervisor")
	if err := d.l.check(err, "demo-supervisor logged in (password + TOTP)"); err != nil {
		return err
	}
	if err := d.l.check(sup.ApproveRelease(ctx, rel.ID), "demo-supervisor approves %s", rel.ID); err != nil {
		return err
	}
	return d.status(ctx, sup, "demo-supervisor", c, false)
}

// status checks a customer's block as an operator sees it.
func (d *deviceDemo) status(ctx context.Context, o *deviceapp.OperatorClient, who string, c indexed, blocked bool) error {
	st, err := o.RegistrationStatus(ctx, c.ID)
	if err == nil && (st.Blocked != blocked || (!blocked && st.Restricted)) {
		err = fmt.Errorf("status %+v, want blocked=%v", *st, blocked)
	}
	state := "blocked"
	if !blocked {
		state = "free to register"
	}
	return d.l.check(err, "%s sees %s %s", who, c, state)
}

// wrongCode is a code of the same length that differs from code in every
// digit, different for each i.
func wrongCode(code string, i int) string {
	var b strings.Builder
	for _, r := range code {
		if r < '0' || r > '9' {
			r = '0'
		}
		b.WriteRune('0' + (r-'0'+rune(i))%10)
	}
	return b.String()
}

func otherBirthDate(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return "1970-01-01"
	}
	return t.AddDate(1, 0, 0).Format(time.DateOnly)
}

func until(t time.Time) string { return time.Until(t).Round(time.Second).String() }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func remaining(p *deviceapp.Problem) string {
	if p.RemainingAttempts == nil {
		return "absent"
	}
	return fmt.Sprint(*p.RemainingAttempts)
}

func restrictedUntil(st *device.Status) string {
	if st == nil {
		return "?"
	}
	return st.RestrictedUntil.Local().Format("2006-01-02 15:04")
}

func passed(r *deviceapp.StepUpResult) string {
	if r == nil {
		return "?"
	}
	return strings.Join(r.Passed, " + ")
}

func releaseID(r *deviceapp.Release) string {
	if r == nil {
		return "?"
	}
	return r.ID
}
