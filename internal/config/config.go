// Package config is haechi's typed configuration: defaults, environment
// variables (with *_FILE variants for secrets), flags, and Validate, which
// names the bad setting so start-up can stop with a clear message.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is every setting of haechi. Secrets (database URL, Redis URL, key
// material) are never printed.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	RedisURL    string
	TLSCert     string
	TLSKey      string
	Demo        bool
	Migrate     bool
	LogLevel    string

	TokenIssuer     string
	PublicURL       *url.URL // nil: DPoP htu from the request's Host
	TokenAudience   string
	TokenTTL        time.Duration
	CheckpointEvery int
	ShutdownTimeout time.Duration
	TrustedProxies  []netip.Prefix

	HashMemoryKiB int
	HashTime      int
	HashWorkers   int
	HashQueue     int

	RateIPPerSec     float64
	RateIPBurst      int
	RateClientPerSec float64
	RateClientBurst  int

	// Simulators turns on the built-in carrier, attestation and ID-check
	// simulators (serve --demo does too). Otherwise each authority is
	// reached over HTTP at its URL with its bearer token; an authority with
	// neither makes registration answer 503 provider_not_configured.
	Simulators   bool
	CarrierURL   string
	CarrierToken string
	AttestURL    string
	AttestToken  string
	IDCheckURL   string
	IDCheckToken string
	BankURL      string // bank-transfer network (1-won check)
	BankToken    string
	FaceURL      string // face engine (biometric method)
	FaceToken    string
	CardURL      string // card network (payment authorization)
	CardToken    string

	// PaymentAllowLegacy lets merchants be registered in legacy mode: no
	// server-to-server check of the order, the client's amount is charged
	// (the paper's vulnerable baseline, for the tamper demo and for
	// migrations). Off unless set; --demo turns it on. Logged loudly.
	PaymentAllowLegacy bool

	// EKYCRetention is how long verification evidence (ID images, RRNs,
	// account numbers, applicant PII) is kept; `haechi ekyc purge` and the
	// server's daily sweep delete what is older. EKYCFaceThreshold is the
	// similarity a selfie must reach against the ID photo.
	EKYCRetention     time.Duration
	EKYCFaceThreshold float64
	// GeoIPFile is an MMDB file (GeoLite2/DB-IP country or city layout)
	// the fraud engine reads IP countries from; unset or unreadable: every
	// country is unknown and the engine runs on.
	GeoIPFile string
	// WebhookAllowHTTP lets institutions register http:// webhook URLs
	// (the demo's local receiver); otherwise https only.
	WebhookAllowHTTP bool

	// DeviceAppDigests are the SHA-256 digests (hex) of the bank app's
	// genuine signing certificates and DeviceMinAppVersion the lowest app
	// version accepted. Without digests only the simulators' demo app
	// registers; with neither, registration answers 503.
	DeviceAppDigests    []string
	DeviceMinAppVersion string
	// DeviceMaxPatchAge is how old a device's security patch may be, and
	// DeviceKeepPrevious keeps earlier devices active on a new registration.
	DeviceMaxPatchAge  time.Duration
	DeviceKeepPrevious bool

	// WebAuthnRPID and WebAuthnOrigins are the passkey relying party.
	WebAuthnRPID    string
	WebAuthnOrigins []string
}

// Default returns the settings haechi runs with when nothing is set.
func Default() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		DataDir:           "./data",
		LogLevel:          "info",
		TokenIssuer:       "haechi",
		TokenAudience:     "haechi-api",
		TokenTTL:          10 * time.Minute,
		CheckpointEvery:   100,
		ShutdownTimeout:   20 * time.Second,
		HashMemoryKiB:     46 * 1024,
		HashTime:          1,
		HashWorkers:       2,
		HashQueue:         64,
		RateIPPerSec:      50,
		RateIPBurst:       100,
		RateClientPerSec:  200,
		RateClientBurst:   400,
		DeviceMaxPatchAge: 365 * 24 * time.Hour,
		EKYCRetention:     5 * 365 * 24 * time.Hour,
		EKYCFaceThreshold: 0.80,
		WebAuthnRPID:      "localhost",
		WebAuthnOrigins:   []string{"http://localhost:8080"},
	}
}

// setting ties one field to its environment variable and, optionally, a flag.
type setting struct {
	env    string
	flag   string // "" when env-only
	secret bool   // also read from env+"_FILE"
	usage  string
	bind   func(fs *flag.FlagSet, c *Config, name, usage string)
	parse  func(c *Config, v string) error
}

// Extra env names that other packages read directly (key material).
var keyEnv = []string{"HAECHI_MASTER_KEYS", "HAECHI_BLIND_INDEX_KEY", "HAECHI_PEPPER", "HAECHI_AUDIT_SIGNING_KEY"}

// Load builds the config for a subcommand: defaults, then environment, then
// the flags in args. serve is true for `haechi serve`, which takes the server
// flags; every subcommand takes --data-dir. It returns the remaining args.
// extra registers a subcommand's own flags on the same flag set.
func Load(name string, args []string, serve bool, env Env, extra ...func(*flag.FlagSet)) (*Config, []string, error) {
	c := Default()
	if err := checkUnknownEnv(env); err != nil {
		return nil, nil, err
	}
	for _, s := range settings() {
		v, ok, err := env.lookup(s.env, s.secret)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			if err := s.parse(&c, v); err != nil {
				return nil, nil, fmt.Errorf("setting %s: %w", s.env, err)
			}
		}
	}
	rest, err := c.parseFlags(name, args, serve, extra)
	if err != nil {
		return nil, nil, err
	}
	return &c, rest, c.Validate()
}

func (c *Config) parseFlags(name string, args []string, serve bool, extra []func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	for _, s := range settings() {
		if s.flag == "" || (!serve && s.flag != "data-dir") {
			continue
		}
		s.bind(fs, c, s.flag, s.usage+" (env "+s.env+")")
	}
	if serve {
		fs.BoolVar(&c.Demo, "demo", c.Demo, "seed a demo institution and admin, turn on the built-in simulators")
		fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply pending database migrations before serving")
	}
	for _, register := range extra {
		register(fs)
	}
	return parseInterspersed(fs, args)
}

// parseInterspersed lets flags follow positional arguments
// (`clients revoke ID --data-dir D`): the flag package alone would stop at
// ID and silently act on the default data dir.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}

// Validate names the first bad setting.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("setting HAECHI_ADDR (--addr): %q is not host:port", c.Addr))
	}
	if c.DatabaseURL != "" && !isPostgresURL(c.DatabaseURL) {
		errs = append(errs, errors.New("setting HAECHI_DATABASE_URL: must start with postgres:// or postgresql:// (leave it unset for the embedded SQLite file)"))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, errors.New("setting HAECHI_REDIS_URL: must start with redis:// or rediss://"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("settings HAECHI_TLS_CERT and HAECHI_TLS_KEY: set both or neither"))
	}
	errs = append(errs, c.validateNumbers()...)
	errs = append(errs, c.validateProviders()...)
	return errors.Join(errs...)
}

// validateProviders checks each authority's URL and token: a URL needs its
// token, a token its URL, and simulators exclude real providers, so that a
// half-configured authority is not silently replaced by a simulator.
func (c *Config) validateProviders() []error {
	var errs []error
	for _, p := range c.providers() {
		switch {
		case p.url != "" && !strings.HasPrefix(p.url, "https://") && !strings.HasPrefix(p.url, "http://"):
			errs = append(errs, fmt.Errorf("setting %s_URL: must start with https:// (or http:// for a local sidecar)", p.env))
		case (p.url == "") != (p.token == ""):
			errs = append(errs, fmt.Errorf("settings %s_URL and %s_TOKEN: set both or neither", p.env, p.env))
		case p.url != "" && c.SimulatorsOn():
			errs = append(errs, fmt.Errorf("setting %s_URL: the simulators are on (--demo or HAECHI_SIMULATORS); unset one", p.env))
		}
	}
	if strings.TrimSpace(c.WebAuthnRPID) == "" || len(c.WebAuthnOrigins) == 0 {
		errs = append(errs, errors.New("settings HAECHI_WEBAUTHN_RP_ID and HAECHI_WEBAUTHN_ORIGINS: must not be empty"))
	}
	return errs
}

// Provider is one external authority's settings.
type Provider struct {
	env        string
	url, token string
}

// URL and Token of the provider; both empty when it is not configured.
func (p Provider) URL() string   { return p.url }
func (p Provider) Token() string { return p.token }

// Setting names the provider's variables, for messages.
func (p Provider) Setting() string { return p.env + "_URL" }

func (c *Config) providers() []Provider {
	return []Provider{c.Carrier(), c.Attest(), c.IDCheck(), c.Bank(), c.Face(), c.Card()}
}

// Carrier, Attest and IDCheck are the authorities' settings.
func (c *Config) Carrier() Provider { return Provider{"HAECHI_CARRIER", c.CarrierURL, c.CarrierToken} }
func (c *Config) Attest() Provider  { return Provider{"HAECHI_ATTEST", c.AttestURL, c.AttestToken} }
func (c *Config) IDCheck() Provider { return Provider{"HAECHI_IDCHECK", c.IDCheckURL, c.IDCheckToken} }
func (c *Config) Bank() Provider    { return Provider{"HAECHI_BANK", c.BankURL, c.BankToken} }
func (c *Config) Face() Provider    { return Provider{"HAECHI_FACE", c.FaceURL, c.FaceToken} }
func (c *Config) Card() Provider    { return Provider{"HAECHI_CARD", c.CardURL, c.CardToken} }

// LegacyPaymentsAllowed reports whether legacy-mode merchants may exist:
// explicitly configured, or the demo (whose tamper experiment needs one).
func (c *Config) LegacyPaymentsAllowed() bool { return c.PaymentAllowLegacy || c.Demo }

// SimulatorsOn reports whether the built-in simulators replace the
// external authorities.
func (c *Config) SimulatorsOn() bool { return c.Simulators || c.Demo }

func (c *Config) validateNumbers() []error {
	var errs []error
	check := func(ok bool, name, msg string) {
		if !ok {
			errs = append(errs, fmt.Errorf("setting %s: %s", name, msg))
		}
	}
	check(c.TokenTTL >= time.Minute && c.TokenTTL <= time.Hour, "HAECHI_TOKEN_TTL", "must be between 1m and 1h")
	check(c.CheckpointEvery >= 1 && c.CheckpointEvery <= 100000, "HAECHI_AUDIT_CHECKPOINT_EVERY", "must be between 1 and 100000")
	check(c.HashMemoryKiB >= 19*1024 && c.HashMemoryKiB <= 1024*1024, "HAECHI_ARGON2_MEMORY_KIB", "must be between 19456 and 1048576")
	check(c.HashTime >= 1 && c.HashTime <= 10, "HAECHI_ARGON2_TIME", "must be between 1 and 10")
	check(c.HashWorkers >= 1 && c.HashWorkers <= 256, "HAECHI_HASH_WORKERS", "must be between 1 and 256")
	check(c.HashQueue >= 0 && c.HashQueue <= 100000, "HAECHI_HASH_QUEUE", "must be between 0 and 100000")
	check(c.RateIPPerSec > 0 && c.RateIPBurst >= 1, "HAECHI_RATE_IP_PER_SEC/HAECHI_RATE_IP_BURST", "must be positive")
	check(c.RateClientPerSec > 0 && c.RateClientBurst >= 1, "HAECHI_RATE_CLIENT_PER_SEC/HAECHI_RATE_CLIENT_BURST", "must be positive")
	check(c.ShutdownTimeout > 0, "HAECHI_SHUTDOWN_TIMEOUT", "must be positive")
	check(c.DeviceMaxPatchAge >= 30*24*time.Hour && c.DeviceMaxPatchAge <= 5*365*24*time.Hour, "HAECHI_DEVICE_MAX_PATCH_AGE", "must be between 720h (30 days) and 43800h (5 years)")
	check(c.EKYCRetention >= 24*time.Hour && c.EKYCRetention <= 20*365*24*time.Hour, "HAECHI_EKYC_RETENTION", "must be between 24h and 175200h (20 years)")
	check(c.EKYCFaceThreshold >= 0.5 && c.EKYCFaceThreshold <= 1, "HAECHI_EKYC_FACE_THRESHOLD", "must be between 0.5 and 1")
	check(validLevel(c.LogLevel), "HAECHI_LOG_LEVEL", "must be debug, info, warn or error")
	return errs
}

// TLS reports whether the server terminates TLS itself.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// Postgres reports whether the database is PostgreSQL rather than SQLite.
func (c *Config) Postgres() bool { return c.DatabaseURL != "" }

// SQLitePath is the embedded database file inside the data dir.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "haechi.db") }

// KeyFilePath is the key file inside the data dir.
func (c *Config) KeyFilePath() string { return filepath.Join(c.DataDir, "keys.json") }

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

func validLevel(l string) bool {
	switch l {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// Env reads the process environment; tests pass a map.
type Env struct {
	Getenv  func(string) string
	Environ func() []string
	// ReadFile reads *_FILE secrets; os.ReadFile by default.
	ReadFile func(string) ([]byte, error)
}

// OSEnv is the real process environment.
func OSEnv() Env { return Env{Getenv: os.Getenv, Environ: os.Environ, ReadFile: os.ReadFile} }

// MapEnv is an environment made of a map, for tests.
func MapEnv(m map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return m[k] },
		Environ: func() []string {
			out := make([]string, 0, len(m))
			for k, v := range m {
				out = append(out, k+"="+v)
			}
			return out
		},
		ReadFile: os.ReadFile,
	}
}

// lookup returns name's value, or for secrets the trimmed content of the file
// named by name_FILE. Setting both is an error: one of them would be ignored.
func (e Env) lookup(name string, secret bool) (string, bool, error) {
	v := e.Getenv(name)
	if !secret {
		return v, v != "", nil
	}
	file := e.Getenv(name + "_FILE")
	if file == "" {
		return v, v != "", nil
	}
	if v != "" {
		return "", false, fmt.Errorf("settings %s and %s_FILE: set only one", name, name)
	}
	b, err := e.ReadFile(file)
	if err != nil {
		return "", false, fmt.Errorf("setting %s_FILE: cannot read %s: %w", name, file, errors.Unwrap(err))
	}
	return strings.TrimSpace(string(b)), true, nil
}

// Resolve returns a secret by name, honouring its _FILE variant; other
// packages use it for key material.
func (e Env) Resolve(name string) (string, error) {
	v, _, err := e.lookup(name, true)
	return v, err
}

// checkUnknownEnv refuses HAECHI_* variables that haechi does not know, so a
// typo does not silently fall back to a default.
func checkUnknownEnv(env Env) error {
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.env] = true
		if s.secret {
			known[s.env+"_FILE"] = true
		}
	}
	for _, k := range keyEnv {
		known[k], known[k+"_FILE"] = true, true
	}
	for _, kv := range env.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HAECHI_") && !strings.HasPrefix(k, "HAECHI_TEST_") && !known[k] {
			return fmt.Errorf("setting %s: unknown variable (typo?); see the configuration table in the README", k)
		}
	}
	return nil
}
