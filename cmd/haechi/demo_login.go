package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/mask"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
)

// The login demo: a PIN set on a fresh phone and a good login with
// DPoP-bound tokens and refresh rotation; the ladder climbing under wrong
// PINs at a human pace up to the 30-minute lock; a bot's guesses less than
// a second apart escalating at once; and protection mode after ten
// failures, lifted only by the institution's re-verification and a new PIN.
// It follows DESIGN §3's default PIN ladder, which `serve --demo` keeps.

// The PIN ladder the demo expects.
const (
	demoFirstDelay  = 5 * time.Second  // after the 3rd failure
	demoSecondDelay = 30 * time.Second // after the 4th
	demoLockAt      = 5
	demoLockFor     = 30 * time.Minute
	demoProtectAt   = 10
)

// humanPaces are the pauses of a person retyping a PIN: uneven, and each
// over the bot rule's one second, so the ladder sees no bot.
var humanPaces = []time.Duration{1500 * time.Millisecond, 2200 * time.Millisecond, 1300 * time.Millisecond,
	2700 * time.Millisecond, 1700 * time.Millisecond, 2400 * time.Millisecond}

// loginDemo holds the run's cast, phones and PINs.
type loginDemo struct {
	dd  *deviceDemo // the device demo's registration steps
	t   *demoTarget
	l   *demoLog
	ops map[string]*deviceapp.OperatorClient
	// human climbs the ladder and is recovered from protection mode, so
	// needs a genuine ID card; bot is attacked by a script.
	human, bot       indexed
	card             idcheck.Card
	humanApp, botApp *deviceapp.App
	humanPIN, botPIN string
}

func demoLogin(ctx context.Context, t *demoTarget, l *demoLog) error {
	d := &loginDemo{dd: &deviceDemo{t: t, l: l, inst: t.institution()}, t: t, l: l, ops: map[string]*deviceapp.OperatorClient{}}
	for _, step := range []func(context.Context) error{d.goodLogin, d.ladder, d.botAttack, d.protection} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// castLoginDemo picks the customers: the first with a genuine resident
// card climbs the ladder (the step-up needs the card), the first other one
// without such a card is the bot's target.
func castLoginDemo(d *loginDemo) error {
	for i, c := range d.t.Customers {
		card, ok := genuineCard(c)
		switch {
		case ok && d.human.n == 0:
			d.human, d.card = indexed{i + 1, c}, card
		case !ok && d.bot.n == 0:
			d.bot = indexed{i + 1, c}
		}
	}
	if d.human.n == 0 || d.bot.n == 0 {
		return fmt.Errorf("demo.json's customers do not fit the login demo (one needs a genuine ID card in the simulator)")
	}
	return nil
}

// enrol gives the customer a new phone with a fresh random PIN, from
// whatever state an earlier run left: the ladder is cleared, the PIN set
// (or changed in a biometric session when one is set already) and, when
// the earlier run left failures, reset by a good login.
func (d *loginDemo) enrol(ctx context.Context, c indexed) (*deviceapp.App, string, error) {
	failures, err := d.cleanLadder(ctx, c)
	if err != nil {
		return nil, "", err
	}
	if err := d.registrable(ctx, c); err != nil {
		return nil, "", err
	}
	d.l.note("%s registers the bank's app on a new phone:", c)
	app, err := d.dd.newPhone()
	if err != nil {
		return nil, "", err
	}
	if err := d.dd.registerAgain(ctx, app, c); err != nil {
		return nil, "", err
	}
	pin := randomPIN(c.BirthDate, "")
	if err := d.setPIN(ctx, app, c, pin); err != nil {
		return nil, "", err
	}
	if failures > 0 {
		_, err := app.Login(ctx, deviceapp.MethodPIN, pin)
		if err := d.l.check(err, "clean slate: a good login ends the %s an earlier run left", plural(failures, "failure")); err != nil {
			return nil, "", err
		}
	}
	return app, pin, nil
}

// setPIN shows a weak PIN refused and sets pin; over a PIN an earlier run
// set, the customer logs in by biometrics and changes it in that session.
func (d *loginDemo) setPIN(ctx context.Context, app *deviceapp.App, c indexed, pin string) error {
	err := app.SetCredential(ctx, deviceapp.MethodPIN, "123456")
	switch deviceapp.CodeOf(err) {
	case credential.ErrPINSequence.Code:
		d.l.ok("the weak PIN 123456 refused: %s", credential.ErrPINSequence.Code)
		err = app.SetCredential(ctx, deviceapp.MethodPIN, pin)
		return d.l.check(err, "PIN %s set by a device-signed PUT /v1/credentials/pin", mask.All(pin))
	case login.ErrAlreadySet.Code:
	default:
		return d.l.fail("the weak PIN 123456: %v, want %s", err, credential.ErrPINSequence.Code)
	}
	d.l.note("an earlier run set %s's PIN: a biometric login opens a session to change it", c)
	tok, err := app.LoginBiometric(ctx)
	if err := d.l.check(err, "biometric login (the phone's biometry unlocks the device key)"); err != nil {
		return err
	}
	err = app.ChangeCredential(ctx, deviceapp.MethodPIN, pin, tok.AccessToken)
	return d.l.check(err, "PIN changed to %s in that session (Authorization: DPoP)", mask.All(pin))
}

// cleanLadder undoes what an earlier run left on the customer's PIN
// ladder: a teller's branch reset of protection mode, an agent's clear of
// a lock or delay. It returns the failures that remain counted.
func (d *loginDemo) cleanLadder(ctx context.Context, c indexed) (int, error) {
	agent, err := d.operator(ctx, "demo-agent")
	if err != nil {
		return 0, err
	}
	st, err := agent.LoginState(ctx, c.ID)
	if err != nil {
		return 0, d.l.fail("login state of %s: %v", c, err)
	}
	pin := st.Method(deviceapp.MethodPIN)
	now := time.Now()
	switch {
	case pin.Protected:
		teller, err := d.operator(ctx, "demo-teller")
		if err != nil {
			return 0, err
		}
		err = teller.LiftLoginProtection(ctx, c.ID, deviceapp.MethodPIN)
		return 0, d.l.check(err, "clean slate: an earlier run left %s in protection mode; demo-teller lifts it at the branch", c)
	case pin.LockedUntil.After(now) || pin.DelayedUntil.After(now):
		err = agent.ClearLogin(ctx, c.ID, deviceapp.MethodPIN, "customer_locked_out_by_mistake")
		if err := d.l.check(err, "clean slate: demo-agent clears the lock an earlier run left on %s", c); err != nil {
			return 0, err
		}
	}
	return pin.Failures, nil
}

// registrable gives a teller's branch reset to a customer an earlier run
// (of any demo) left restricted or blocked for registration.
func (d *loginDemo) registrable(ctx context.Context, c indexed) error {
	st, err := d.dd.inst.RegistrationStatus(ctx, c.ID)
	if err != nil {
		return d.l.fail("registration status of %s: %v", c, err)
	}
	if !st.Restricted && !st.Blocked {
		return nil
	}
	teller, err := d.operator(ctx, "demo-teller")
	if err != nil {
		return err
	}
	_, err = teller.BranchReset(ctx, c.ID, "resident_card")
	return d.l.check(err, "clean slate: an earlier run left %s restricted; demo-teller resets them at the branch", c)
}

// operator logs an operator in once per run: a second login within the
// same 30-second TOTP step would have to wait for the next code.
func (d *loginDemo) operator(ctx context.Context, name string) (*deviceapp.OperatorClient, error) {
	if o, ok := d.ops[name]; ok {
		return o, nil
	}
	o, err := d.t.operator(ctx, name)
	if err := d.l.check(err, "%s logged in (password + TOTP)", name); err != nil {
		return nil, err
	}
	d.ops[name] = o
	return o, nil
}

// goodLogin is step (a).
func (d *loginDemo) goodLogin(ctx context.Context) error {
	d.l.title("A good login: a PIN on a registered phone, DPoP-bound tokens, refresh rotation")
	if err := castLoginDemo(d); err != nil {
		return err
	}
	c := d.human
	app, pin, err := d.enrol(ctx, c)
	if err != nil {
		return err
	}
	d.humanApp, d.humanPIN = app, pin
	if err := d.malformedPIN(ctx); err != nil {
		return err
	}
	tok, err := d.loginOK(ctx, app, c, pin)
	if err != nil {
		return err
	}
	return d.rotation(ctx, app, c, tok)
}

// malformedPIN shows a PIN of the wrong form refused at login before the ladder
// counts it: it could not have been a guess.
func (d *loginDemo) malformedPIN(ctx context.Context) error {
	_, err := d.humanApp.Login(ctx, deviceapp.MethodPIN, "12345")
	if _, err := d.l.refused(err, credential.ErrPINFormat.Code, "a 5-digit PIN"); err != nil {
		return err
	}
	d.l.ok("a 5-digit PIN at login refused before the ladder sees it: %s (not a guess)", credential.ErrPINFormat.Code)
	return nil
}

// loginOK logs in with the right PIN and checks the session it opens.
func (d *loginDemo) loginOK(ctx context.Context, app *deviceapp.App, c indexed, pin string) (*deviceapp.Tokens, error) {
	tok, err := app.Login(ctx, deviceapp.MethodPIN, pin)
	if err == nil && (tok.TokenType != "DPoP" || tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn <= 0) {
		err = fmt.Errorf("tokens of type %q, expiring in %d s", tok.TokenType, tok.ExpiresIn)
	}
	if err := d.l.check(err, "POST /v1/logins (device signature over a fresh nonce + PIN %s + DPoP proof) → %s tokens, access for %s", mask.All(pin), tokenType(tok), expiresIn(tok)); err != nil {
		return nil, err
	}
	s, err := app.Current(ctx, tok.AccessToken)
	if err == nil && (s.CustomerID != c.ID || s.DeviceID != app.DeviceID) {
		err = fmt.Errorf("session of %s on %s, want %s on %s", s.CustomerID, s.DeviceID, c.ID, app.DeviceID)
	}
	if err := d.l.check(err, "GET /v1/sessions/current with Authorization: DPoP and a proof carrying ath → %s on %s", c.ID, app.DeviceID); err != nil {
		return nil, err
	}
	return tok, nil
}

// rotation shows a stolen access token useless without the phone's key,
// refresh rotation, and a replayed refresh token revoking the family.
func (d *loginDemo) rotation(ctx context.Context, app *deviceapp.App, c indexed, tok *deviceapp.Tokens) error {
	thief, err := d.dd.newPhone()
	if err != nil {
		return err
	}
	_, err = thief.Current(ctx, tok.AccessToken)
	if p, ok := deviceapp.AsProblem(err); !ok || p.Status != 401 {
		return d.l.fail("the access token with another key's DPoP proof: %v, want 401", err)
	}
	d.l.ok("the same access token with a proof from another key refused: %s (401)", deviceapp.CodeOf(err))
	next, err := app.Refresh(ctx, tok.RefreshToken)
	if err == nil && (next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken) {
		err = errors.New("the tokens did not change")
	}
	if err := d.l.check(err, "POST /v1/sessions/refresh with a DPoP proof → new access and refresh tokens (the old refresh token is spent)"); err != nil {
		return err
	}
	_, err = app.Refresh(ctx, tok.RefreshToken)
	p, err := d.l.refused(err, "refresh_reused", "the spent refresh token again")
	if err != nil {
		return err
	}
	d.l.ok("the spent refresh token again refused: %s (%d), and its whole family is revoked", p.Code, p.Status)
	_, err = app.Refresh(ctx, next.RefreshToken)
	if p, ok := deviceapp.AsProblem(err); !ok || p.Status != 401 {
		return d.l.fail("the newest refresh token after the reuse: %v, want 401", err)
	}
	d.l.ok("the newest refresh token of that family refused as well: %s (401)", deviceapp.CodeOf(err))
	return nil
}

// ladder is step (b): wrong PINs at a human pace, up to the lock.
func (d *loginDemo) ladder(ctx context.Context) error {
	c, app := d.human, d.humanApp
	d.l.title("The ladder: %s's phone is used with wrong PINs, at a human pace", c)
	// A person takes a moment before the first try too; an attempt right
	// after the previous login looks machine-paced to the fraud engine.
	if err := d.pause(ctx, humanPaces[0]); err != nil {
		return err
	}
	for i := 1; i <= 2; i++ {
		if err := d.wrongPIN(ctx, app, d.humanPIN, i, login.ErrFailed.Code, 0); err != nil {
			return err
		}
		if err := d.pause(ctx, humanPaces[i-1]); err != nil {
			return err
		}
	}
	if err := d.wrongPIN(ctx, app, d.humanPIN, 3, lockout.ErrDelayed.Code, demoFirstDelay); err != nil {
		return err
	}
	if err := d.refusedRight(ctx, app, d.humanPIN, lockout.ErrDelayed.Code, "at once"); err != nil {
		return err
	}
	if err := d.waitOut(ctx, demoFirstDelay); err != nil {
		return err
	}
	if err := d.wrongPIN(ctx, app, d.humanPIN, 4, lockout.ErrDelayed.Code, demoSecondDelay); err != nil {
		return err
	}
	if err := d.waitOut(ctx, demoSecondDelay); err != nil {
		return err
	}
	if err := d.wrongPIN(ctx, app, d.humanPIN, demoLockAt, lockout.ErrLocked.Code, demoLockFor); err != nil {
		return err
	}
	if err := d.refusedRight(ctx, app, d.humanPIN, lockout.ErrLocked.Code, "while locked"); err != nil {
		return err
	}
	return d.clear(ctx, c, demoLockAt, "identity_verified_by_call")
}

// wrongPIN enters the n-th wrong PIN in a row and expects code, with a
// Retry-After of about wait when wait is set.
func (d *loginDemo) wrongPIN(ctx context.Context, app *deviceapp.App, right string, n int, code string, wait time.Duration) error {
	_, err := app.Login(ctx, deviceapp.MethodPIN, randomPIN("", right))
	what := fmt.Sprintf("wrong PIN %d", n)
	p, err := d.l.refused(err, code, "%s", what)
	if err != nil {
		return err
	}
	if wait > 0 && (p.RetryAfter < wait-2*time.Second || p.RetryAfter > wait+time.Second) {
		return d.l.fail("%s: %s with Retry-After %s, want about %s", what, p.Code, p.RetryAfter, wait)
	}
	d.l.ok("%s refused: %s (%d)%s", what, p.Code, p.Status, retryAfter(p))
	return nil
}

// refusedRight tries the right PIN while the ladder refuses: the refusal
// comes before the PIN is checked, so it is no guess and counts nothing.
func (d *loginDemo) refusedRight(ctx context.Context, app *deviceapp.App, pin, code, when string) error {
	_, err := app.Login(ctx, deviceapp.MethodPIN, pin)
	what := "the right PIN " + when
	p, err := d.l.refused(err, code, "%s", what)
	if err != nil {
		return err
	}
	d.l.ok("%s refused: %s (%d)%s: not checked, not counted", what, p.Code, p.Status, retryAfter(p))
	return nil
}

// clear has demo-agent read the state and end the lock; the count stays.
func (d *loginDemo) clear(ctx context.Context, c indexed, failures int, reason string) error {
	agent, err := d.operator(ctx, "demo-agent")
	if err != nil {
		return err
	}
	if err := d.state(ctx, agent, c, failures, true); err != nil {
		return err
	}
	err = agent.ClearLogin(ctx, c.ID, deviceapp.MethodPIN, reason)
	if err := d.l.check(err, "demo-agent clears the lock (reason %s): the 30-minute wait is not shown", reason); err != nil {
		return err
	}
	return d.state(ctx, agent, c, failures, false)
}

// state checks the PIN ladder as an operator sees it.
func (d *loginDemo) state(ctx context.Context, o *deviceapp.OperatorClient, c indexed, failures int, locked bool) error {
	st, err := o.LoginState(ctx, c.ID)
	if err != nil {
		return d.l.fail("login state of %s: %v", c, err)
	}
	pin := st.Method(deviceapp.MethodPIN)
	isLocked := pin.LockedUntil.After(time.Now())
	if pin.Failures != failures || isLocked != locked || pin.Protected {
		return d.l.fail("login state of %s: %d failures, locked %v, protected %v; want %d, locked %v", c, pin.Failures, isLocked, pin.Protected, failures, locked)
	}
	word := "not locked"
	if locked {
		word = "locked until " + pin.LockedUntil.Local().Format("15:04:05")
	}
	d.l.ok("the operator view of %s: PIN %s, %s", c, plural(failures, "consecutive failure"), word)
	return nil
}

// botAttack is step (c): a script's guesses less than a second apart.
func (d *loginDemo) botAttack(ctx context.Context) error {
	d.l.title("A bot: guesses less than a second apart escalate at once")
	c := d.bot
	app, pin, err := d.enrol(ctx, c)
	if err != nil {
		return err
	}
	d.botApp, d.botPIN = app, pin
	if err := d.wrongPIN(ctx, app, pin, 1, login.ErrFailed.Code, 0); err != nil {
		return err
	}
	start := time.Now()
	if err := d.wrongPIN(ctx, app, pin, 2, lockout.ErrDelayed.Code, demoFirstDelay); err != nil {
		return err
	}
	d.l.note("the 2nd guess came %s after the 1st: the ladder escalated one stage at once, to the delay a person meets at the 3rd", time.Since(start).Round(time.Millisecond))
	for i := 0; i < 5; i++ {
		if _, err := app.Login(ctx, deviceapp.MethodPIN, randomPIN("", pin)); deviceapp.CodeOf(err) != lockout.ErrDelayed.Code {
			return d.l.fail("the bot's instant retry %d: %v, want %s", i+1, err, lockout.ErrDelayed.Code)
		}
	}
	d.l.ok("5 instant retries all refused with %s before any PIN is checked", lockout.ErrDelayed.Code)
	agent, err := d.operator(ctx, "demo-agent")
	if err != nil {
		return err
	}
	st, err := agent.LoginState(ctx, c.ID)
	if err == nil && st.Method(deviceapp.MethodPIN).Failures != 3 {
		err = fmt.Errorf("%d failures, want 3", st.Method(deviceapp.MethodPIN).Failures)
	}
	return d.l.check(err, "the operator view of %s: 2 guesses counted as 3 failures (bot pace), the retries as none", c)
}

// protection is step (d): failures 6 to 10 with an agent clearing each
// lock, protection mode, and recovery by re-verification and a new PIN.
func (d *loginDemo) protection(ctx context.Context) error {
	c, app := d.human, d.humanApp
	d.l.title("Protection mode: %s's PIN keeps failing after each lock is cleared", c)
	for n := demoLockAt + 1; n < demoProtectAt; n++ {
		if err := d.pause(ctx, humanPaces[n%len(humanPaces)]); err != nil {
			return err
		}
		if err := d.wrongPIN(ctx, app, d.humanPIN, n, lockout.ErrLocked.Code, demoLockFor); err != nil {
			return err
		}
		if err := d.clear(ctx, c, n, "customer_locked_out_by_mistake"); err != nil {
			return err
		}
	}
	if err := d.pause(ctx, humanPaces[0]); err != nil {
		return err
	}
	if err := d.wrongPIN(ctx, app, d.humanPIN, demoProtectAt, lockout.ErrProtection.Code, 0); err != nil {
		return err
	}
	if err := d.refusedRight(ctx, app, d.humanPIN, lockout.ErrProtection.Code, "in protection mode"); err != nil {
		return err
	}
	agent, err := d.operator(ctx, "demo-agent")
	if err != nil {
		return err
	}
	err = agent.ClearLogin(ctx, c.ID, deviceapp.MethodPIN, "identity_verified_by_call")
	if _, err := d.l.refused(err, lockout.ErrNeedsReverify.Code, "demo-agent clearing protection mode"); err != nil {
		return err
	}
	d.l.ok("demo-agent cannot clear protection mode: %s", lockout.ErrNeedsReverify.Code)
	return d.recover(ctx)
}

// recover re-verifies the customer and sets a new PIN.
func (d *loginDemo) recover(ctx context.Context) error {
	c, app := d.human, d.humanApp
	d.l.note("the bank re-verifies %s with the carrier and the ID card:", c)
	id := identityOf(c.demoCustomer)
	ev := deviceapp.Evidence{Carrier: &id, IDCard: &deviceapp.IDCard{Kind: string(d.card.Kind), Name: d.card.Name, RRN: d.card.RRN, IssueDate: d.card.IssueDate}}
	res, err := d.dd.inst.LoginStepUp(ctx, c.ID, ev)
	if err == nil && (len(res.Passed) < 2 || !slices.Contains(res.Lifted, deviceapp.MethodPIN) || !res.MustChange) {
		err = fmt.Errorf("passed %v, lifted %v, must change %v", res.Passed, res.Lifted, res.MustChange)
	}
	if err := d.l.check(err, "POST /v1/customers/…/login-step-up with the carrier identity and resident card %s passes %s: protection lifted, a new PIN required", mask.RRN(d.card.RRN), loginPassed(res)); err != nil {
		return err
	}
	err = app.SetCredential(ctx, deviceapp.MethodPIN, d.humanPIN)
	if _, err := d.l.refused(err, credential.ErrReused.Code, "the old PIN as the new one"); err != nil {
		return err
	}
	d.l.ok("the old PIN as the new one refused: %s", credential.ErrReused.Code)
	pin := randomPIN(c.BirthDate, d.humanPIN)
	if err := d.l.check(app.SetCredential(ctx, deviceapp.MethodPIN, pin), "a new PIN %s set", mask.All(pin)); err != nil {
		return err
	}
	d.humanPIN = pin
	_, err = d.loginOK(ctx, app, c, pin)
	return err
}

// pause waits like a person between two tries.
func (d *loginDemo) pause(ctx context.Context, p time.Duration) error {
	return sleepCtx(ctx, p)
}

// waitOut waits a Retry-After out, showing it.
func (d *loginDemo) waitOut(ctx context.Context, wait time.Duration) error {
	d.l.note("waiting the %s out…", wait)
	return sleepCtx(ctx, wait+300*time.Millisecond)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// randomPIN is a random six-digit PIN other than not, passing the weak-PIN
// rules when birthDate is set (the server's rules, checked here first so
// the demo never trips over them by chance).
func randomPIN(birthDate, not string) string {
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
		if err != nil {
			panic(err) // crypto/rand does not fail since Go 1.24
		}
		pin := fmt.Sprintf("%06d", n.Int64())
		if pin != not && credential.ValidatePIN(pin, birthDate) == nil {
			return pin
		}
	}
}

func retryAfter(p *deviceapp.Problem) string {
	if p.RetryAfter == 0 {
		return ""
	}
	if p.RetryAfter >= time.Minute {
		return fmt.Sprintf(", retry after %s", p.RetryAfter.Round(time.Minute))
	}
	return fmt.Sprintf(", Retry-After %s", p.RetryAfter)
}

func loginPassed(r *deviceapp.LoginStepUpResult) string {
	if r == nil {
		return "?"
	}
	return strings.Join(r.Passed, " + ")
}

func tokenType(t *deviceapp.Tokens) string {
	if t == nil {
		return "no"
	}
	return t.TokenType
}

func expiresIn(t *deviceapp.Tokens) string {
	if t == nil {
		return "?"
	}
	return (time.Duration(t.ExpiresIn) * time.Second).String()
}
