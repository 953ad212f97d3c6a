package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

const testOrigin = "https://bank.example"

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{RPID: "bank.example", RPName: "Haechi Bank", Origins: []string{testOrigin}}
}

// fixture is a service on a memStore with a clock the test moves.
type fixture struct {
	svc   *Service
	store *memStore
	now   time.Time
	auth  *softAuthenticator
	user  User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), now: t0,
		auth: &softAuthenticator{origin: testOrigin, rpID: "bank.example", format: "none", aaguid: make([]byte, 16)},
		user: User{ID: []byte("cus_abcdefghijklmnopqrstuvwxyz"), Name: "010-****-5678", DisplayName: "김*수"}}
	svc, err := New(testConfig(), f.store, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *fixture) beginRegistration(t *testing.T) (json.RawMessage, string) {
	t.Helper()
	opts, id, err := f.svc.BeginRegistration(t.Context(), f.user)
	if err != nil {
		t.Fatalf("begin registration: %v", err)
	}
	return opts, id
}

// register runs a whole registration of k and adds it to the user.
func (f *fixture) register(t *testing.T, k *softKey) *Credential {
	t.Helper()
	opts, id := f.beginRegistration(t)
	c, err := f.svc.FinishRegistration(t.Context(), id, f.user, f.auth.create(t, opts, k))
	if err != nil {
		t.Fatalf("finish registration: %v", err)
	}
	f.user.Existing = append(f.user.Existing, *c)
	return c
}

func (f *fixture) beginLogin(t *testing.T) (json.RawMessage, string) {
	t.Helper()
	opts, id, err := f.svc.BeginLogin(t.Context(), f.user)
	if err != nil {
		t.Fatalf("begin login: %v", err)
	}
	return opts, id
}

// wantCode fails unless err is the *errs.Error want (matched by code).
func wantCode(t *testing.T, err error, want *errs.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %s", err, want.Code)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		bend func(*Config)
		want string // substring of the error, "" for ok
	}{
		{"ok", func(*Config) {}, ""},
		{"ok/subdomain origin", func(c *Config) { c.Origins = []string{"https://app.bank.example:8443"} }, ""},
		{"ok/http localhost", func(c *Config) { c.RPID, c.Origins = "localhost", []string{"http://localhost:8080"} }, ""},
		{"error/no RPID", func(c *Config) { c.RPID = "" }, "RPID"},
		{"error/RPID with scheme", func(c *Config) { c.RPID = "https://bank.example" }, "RPID"},
		{"error/no name", func(c *Config) { c.RPName = " " }, "RPName"},
		{"error/no origin", func(c *Config) { c.Origins = nil }, "origin"},
		{"error/plain http", func(c *Config) { c.Origins = []string{"http://bank.example"} }, "https"},
		{"error/origin outside RPID", func(c *Config) { c.Origins = []string{"https://bank.example.evil.test"} }, "not inside"},
		{"error/look-alike suffix", func(c *Config) { c.Origins = []string{"https://evilbank.example"} }, "not inside"},
		{"error/origin with path", func(c *Config) { c.Origins = []string{"https://bank.example/app"} }, "scheme://host"},
		{"error/timeout too short", func(c *Config) { c.Timeout = time.Second }, "Timeout"},
		{"error/timeout too long", func(c *Config) { c.Timeout = time.Hour }, "Timeout"},
		{"error/enterprise attestation", func(c *Config) { c.Attestation = "enterprise" }, "Attestation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.bend(&cfg)
			_, err := New(cfg, newMemStore(), time.Now)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New error = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestBeginRegistrationOptions(t *testing.T) {
	f := newFixture(t)
	k := newSoftKey(t)
	f.register(t, k)
	opts, id := f.beginRegistration(t)
	o := decodeJSON[creationOptions](t, opts)
	t.Run("ok/defaults reach the browser", func(t *testing.T) {
		if o.PublicKey.Attestation != "direct" || o.PublicKey.Selection.UserVerification != "required" {
			t.Fatalf("attestation %q, user verification %q", o.PublicKey.Attestation, o.PublicKey.Selection.UserVerification)
		}
		if o.PublicKey.Timeout != int(defaultTimeout/time.Millisecond) {
			t.Fatalf("timeout = %d ms", o.PublicKey.Timeout)
		}
		if got, _ := b64.DecodeString(o.PublicKey.User.ID); !bytes.Equal(got, f.user.ID) {
			t.Fatalf("user id = %q", got)
		}
	})
	t.Run("ok/existing credential excluded", func(t *testing.T) {
		if len(o.PublicKey.Exclude) != 1 || o.PublicKey.Exclude[0].ID != b64.EncodeToString(k.id) {
			t.Fatalf("exclude = %+v", o.PublicKey.Exclude)
		}
	})
	t.Run("ok/session expires after the timeout", func(t *testing.T) {
		if exp := f.store.rows[id].expires; !exp.Equal(t0.Add(defaultTimeout)) {
			t.Fatalf("session expires %s", exp)
		}
	})
	t.Run("error/user id too long", func(t *testing.T) {
		u := f.user
		u.ID = bytes.Repeat([]byte("x"), 65)
		if _, _, err := f.svc.BeginRegistration(t.Context(), u); err == nil {
			t.Fatal("a 65-byte user handle was accepted")
		}
	})
}

func TestFinishRegistration(t *testing.T) {
	other := User{ID: []byte("cus_someoneelse"), Name: "010-****-0000", DisplayName: "이*영"}
	tests := []struct {
		name string
		bend func(*softAuthenticator)
		// alter changes what reaches FinishRegistration; nil sends it as is.
		alter      func(t *testing.T, f *fixture, id string, body []byte) (string, User, []byte)
		want       *errs.Error
		wantFormat string
		wantType   string
	}{
		{name: "ok/none attestation", wantFormat: "none", wantType: "none"},
		{name: "ok/packed self attestation", bend: func(a *softAuthenticator) { a.format = "packed" }, wantFormat: "packed", wantType: "basic_surrogate"},
		{name: "ok/synced passkey is backup eligible", bend: func(a *softAuthenticator) { a.be = true }, wantFormat: "none", wantType: "none"},
		{name: "error/foreign origin", bend: func(a *softAuthenticator) { a.origin = "https://bank-example.evil.test" }, want: ErrInvalid},
		{name: "error/foreign RP ID", bend: func(a *softAuthenticator) { a.rpID = "evil.test" }, want: ErrInvalid},
		{name: "error/user not verified", bend: func(a *softAuthenticator) { a.noUV = true }, want: ErrInvalid},
		{name: "error/bad attestation signature", bend: func(a *softAuthenticator) { a.format = "packed" },
			alter: func(t *testing.T, f *fixture, id string, body []byte) (string, User, []byte) {
				return id, f.user, breakPackedSignature(t, body)
			}, want: ErrInvalid},
		{name: "error/answer to another challenge",
			alter: func(t *testing.T, f *fixture, _ string, body []byte) (string, User, []byte) {
				_, id2 := f.beginRegistration(t)
				return id2, f.user, body
			}, want: ErrInvalid},
		{name: "error/session of another customer",
			alter: func(t *testing.T, f *fixture, id string, body []byte) (string, User, []byte) { return id, other, body },
			want:  ErrSessionInvalid},
		{name: "error/expired session",
			alter: func(t *testing.T, f *fixture, id string, body []byte) (string, User, []byte) {
				f.now = f.now.Add(defaultTimeout)
				return id, f.user, body
			}, want: ErrSessionInvalid},
		{name: "error/unknown session",
			alter: func(t *testing.T, f *fixture, _ string, body []byte) (string, User, []byte) {
				return "pks_doesnotexist", f.user, body
			}, want: ErrSessionInvalid},
		{name: "error/empty session id",
			alter: func(t *testing.T, f *fixture, _ string, body []byte) (string, User, []byte) { return "", f.user, body },
			want:  ErrSessionInvalid},
		{name: "error/not json",
			alter: func(t *testing.T, f *fixture, id string, _ []byte) (string, User, []byte) {
				return id, f.user, []byte("<credential/>")
			}, want: ErrInvalid},
		{name: "error/oversized body",
			alter: func(t *testing.T, f *fixture, id string, body []byte) (string, User, []byte) {
				return id, f.user, append(body, bytes.Repeat([]byte(" "), MaxBody)...)
			}, want: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.bend != nil {
				tc.bend(f.auth)
			}
			opts, id := f.beginRegistration(t)
			user, body := f.user, f.auth.create(t, opts, newSoftKey(t))
			if tc.alter != nil {
				id, user, body = tc.alter(t, f, id, body)
			}
			c, err := f.svc.FinishRegistration(t.Context(), id, user, body)
			if tc.want != nil {
				wantCode(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("finish: %v", err)
			}
			if c.AttestationFormat != tc.wantFormat || c.AttestationType != tc.wantType {
				t.Fatalf("attestation %s/%s, want %s/%s", c.AttestationFormat, c.AttestationType, tc.wantFormat, tc.wantType)
			}
			if c.BackupEligible != f.auth.be || len(c.PublicKeyCOSE) == 0 || len(c.AAGUID) != 16 || c.SignCount != 0 {
				t.Fatalf("credential = %+v", c)
			}
		})
	}
}

// breakPackedSignature flips a bit of the attestation object near its end,
// inside the packed statement's signature or the key it covers.
func breakPackedSignature(t *testing.T, body []byte) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	resp := v["response"].(map[string]any)
	att, err := b64.DecodeString(resp["attestationObject"].(string))
	if err != nil {
		t.Fatal(err)
	}
	att[len(att)-3] ^= 0x01
	resp["attestationObject"] = b64.EncodeToString(att)
	return marshal(t, v)
}

func TestFinishRegistrationSingleUse(t *testing.T) {
	f := newFixture(t)
	opts, id := f.beginRegistration(t)
	body := f.auth.create(t, opts, newSoftKey(t))
	t.Run("error/a failed answer burns the session", func(t *testing.T) {
		_, err := f.svc.FinishRegistration(t.Context(), id, f.user, []byte("{}"))
		wantCode(t, err, ErrInvalid)
		_, err = f.svc.FinishRegistration(t.Context(), id, f.user, body)
		wantCode(t, err, ErrSessionInvalid)
	})
	t.Run("error/replay of a good answer", func(t *testing.T) {
		opts, id := f.beginRegistration(t)
		body := f.auth.create(t, opts, newSoftKey(t))
		if _, err := f.svc.FinishRegistration(t.Context(), id, f.user, body); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.FinishRegistration(t.Context(), id, f.user, body)
		wantCode(t, err, ErrSessionInvalid)
	})
	t.Run("error/same authenticator key registered twice", func(t *testing.T) {
		k := newSoftKey(t)
		f.register(t, k)
		opts, id := f.beginRegistration(t)
		_, err := f.svc.FinishRegistration(t.Context(), id, f.user, f.auth.create(t, opts, k))
		wantCode(t, err, ErrInvalid)
	})
}

func TestFinishLogin(t *testing.T) {
	tests := []struct {
		name string
		// bend prepares the key or authenticator before it answers.
		bend      func(f *fixture, k *softKey)
		alter     func(t *testing.T, f *fixture, id string, body []byte) (string, []byte)
		want      *errs.Error
		wantCause error
		wantCount uint32
	}{
		{name: "ok/counter moves forward", wantCount: 6},
		{name: "ok/authenticator without counter", bend: func(f *fixture, k *softKey) {
			f.user.Existing[0].SignCount, k.count, k.counts = 0, 0, false
		}, wantCount: 0},
		{name: "error/counter repeated", bend: func(f *fixture, k *softKey) { k.count = 4 },
			want: ErrInvalid, wantCause: ErrSignCount},
		{name: "error/counter went backwards", bend: func(f *fixture, k *softKey) { k.count = 1 },
			want: ErrInvalid, wantCause: ErrSignCount},
		{name: "error/counter dropped to zero", bend: func(f *fixture, k *softKey) { k.count, k.counts = 0, false },
			want: ErrInvalid, wantCause: ErrSignCount},
		{name: "error/user not verified", bend: func(f *fixture, k *softKey) { f.auth.noUV = true }, want: ErrInvalid},
		{name: "error/foreign origin", bend: func(f *fixture, k *softKey) { f.auth.origin = "https://evil.test" }, want: ErrInvalid},
		{name: "error/unregistered key", bend: func(f *fixture, k *softKey) { *k = *newSoftKey(t) }, want: ErrInvalid},
		{name: "error/forged signature",
			bend: func(f *fixture, k *softKey) { k.priv = newSoftKey(t).priv }, want: ErrInvalid},
		{name: "error/registration session used for login",
			alter: func(t *testing.T, f *fixture, _ string, body []byte) (string, []byte) {
				_, id := f.beginRegistration(t)
				return id, body
			}, want: ErrSessionInvalid},
		{name: "error/expired session",
			alter: func(t *testing.T, f *fixture, id string, body []byte) (string, []byte) {
				f.now = f.now.Add(defaultTimeout + time.Second)
				return id, body
			}, want: ErrSessionInvalid},
		{name: "error/garbage", alter: func(t *testing.T, f *fixture, id string, _ []byte) (string, []byte) {
			return id, []byte(`{"id":"AA","type":"public-key"}`)
		}, want: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			k := newSoftKey(t)
			f.register(t, k)
			f.user.Existing[0].SignCount, k.count = 5, 5 // as after earlier logins
			if tc.bend != nil {
				tc.bend(f, k)
			}
			opts, id := f.beginLogin(t)
			body := f.auth.get(t, opts, k)
			if tc.alter != nil {
				id, body = tc.alter(t, f, id, body)
			}
			c, err := f.svc.FinishLogin(t.Context(), id, f.user, body)
			if tc.want != nil {
				wantCode(t, err, tc.want)
				if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
					t.Fatalf("error %v does not carry %v", err, tc.wantCause)
				}
				return
			}
			if err != nil {
				t.Fatalf("finish login: %v", err)
			}
			if !bytes.Equal(c.ID, k.id) || c.SignCount != tc.wantCount {
				t.Fatalf("credential %x count %d, want %x count %d", c.ID, c.SignCount, k.id, tc.wantCount)
			}
		})
	}
}

func TestLoginSessionRules(t *testing.T) {
	f := newFixture(t)
	k := newSoftKey(t)
	f.register(t, k)
	t.Run("ok/allow list names the user's credentials", func(t *testing.T) {
		opts, _ := f.beginLogin(t)
		o := decodeJSON[requestOptions](t, opts)
		if o.PublicKey.RPID != "bank.example" || len(o.PublicKey.Allow) != 1 || o.PublicKey.Allow[0].ID != b64.EncodeToString(k.id) {
			t.Fatalf("options = %s", opts)
		}
	})
	t.Run("error/replayed assertion", func(t *testing.T) {
		opts, id := f.beginLogin(t)
		body := f.auth.get(t, opts, k)
		if _, err := f.svc.FinishLogin(t.Context(), id, f.user, body); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.FinishLogin(t.Context(), id, f.user, body)
		wantCode(t, err, ErrSessionInvalid)
	})
	t.Run("error/login session used for registration", func(t *testing.T) {
		_, id := f.beginLogin(t)
		opts, _ := f.beginRegistration(t)
		_, err := f.svc.FinishRegistration(t.Context(), id, f.user, f.auth.create(t, opts, newSoftKey(t)))
		wantCode(t, err, ErrSessionInvalid)
	})
	t.Run("error/no credential to log in with", func(t *testing.T) {
		u := f.user
		u.Existing = nil
		_, _, err := f.svc.BeginLogin(t.Context(), u)
		wantCode(t, err, ErrInvalid)
	})
}
