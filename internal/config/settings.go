package config

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// settings is the table of every setting; the README's configuration table
// mirrors it.
func settings() []setting {
	return []setting{
		str("HAECHI_ADDR", "addr", false, "listen address", func(c *Config) *string { return &c.Addr }),
		str("HAECHI_DATA_DIR", "data-dir", false, "directory of the SQLite file and key file", func(c *Config) *string { return &c.DataDir }),
		str("HAECHI_DATABASE_URL", "", true, "postgres:// URL; unset = embedded SQLite", func(c *Config) *string { return &c.DatabaseURL }),
		str("HAECHI_REDIS_URL", "", true, "redis:// URL for shared rate limits", func(c *Config) *string { return &c.RedisURL }),
		str("HAECHI_TLS_CERT", "", false, "TLS certificate file (PEM)", func(c *Config) *string { return &c.TLSCert }),
		str("HAECHI_TLS_KEY", "", true, "TLS private key file (PEM)", func(c *Config) *string { return &c.TLSKey }),
		str("HAECHI_LOG_LEVEL", "log-level", false, "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
		str("HAECHI_TOKEN_ISSUER", "", false, "iss of issued JWTs", func(c *Config) *string { return &c.TokenIssuer }),
		str("HAECHI_TOKEN_AUDIENCE", "", false, "aud of issued JWTs", func(c *Config) *string { return &c.TokenAudience }),
		dur("HAECHI_TOKEN_TTL", "access token lifetime", func(c *Config) *time.Duration { return &c.TokenTTL }),
		dur("HAECHI_SHUTDOWN_TIMEOUT", "time to drain requests on SIGTERM", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		integer("HAECHI_AUDIT_CHECKPOINT_EVERY", "audit events between signed checkpoints", func(c *Config) *int { return &c.CheckpointEvery }),
		integer("HAECHI_ARGON2_MEMORY_KIB", "Argon2id memory per hash", func(c *Config) *int { return &c.HashMemoryKiB }),
		integer("HAECHI_ARGON2_TIME", "Argon2id passes", func(c *Config) *int { return &c.HashTime }),
		integer("HAECHI_HASH_WORKERS", "hashes computed at once", func(c *Config) *int { return &c.HashWorkers }),
		integer("HAECHI_HASH_QUEUE", "hash requests allowed to wait", func(c *Config) *int { return &c.HashQueue }),
		float("HAECHI_RATE_IP_PER_SEC", "requests per second per client IP", func(c *Config) *float64 { return &c.RateIPPerSec }),
		integer("HAECHI_RATE_IP_BURST", "burst per client IP", func(c *Config) *int { return &c.RateIPBurst }),
		float("HAECHI_RATE_CLIENT_PER_SEC", "requests per second per institution", func(c *Config) *float64 { return &c.RateClientPerSec }),
		integer("HAECHI_RATE_CLIENT_BURST", "burst per institution", func(c *Config) *int { return &c.RateClientBurst }),
		{env: "HAECHI_PUBLIC_URL", usage: "https://host[:port][/prefix] clients address; DPoP proofs are checked against it (unset: the request's own Host)", parse: parsePublicURL},
		{env: "HAECHI_TRUSTED_PROXIES", usage: "comma-separated CIDRs whose X-Forwarded-For is believed", parse: parseProxies},
		boolean("HAECHI_SIMULATORS", "true: built-in carrier, attestation and ID-check simulators (never in production)", func(c *Config) *bool { return &c.Simulators }),
		str("HAECHI_CARRIER_URL", "", false, "carrier identity service base URL", func(c *Config) *string { return &c.CarrierURL }),
		str("HAECHI_CARRIER_TOKEN", "", true, "carrier identity service bearer token", func(c *Config) *string { return &c.CarrierToken }),
		str("HAECHI_ATTEST_URL", "", false, "app attestation service base URL", func(c *Config) *string { return &c.AttestURL }),
		str("HAECHI_ATTEST_TOKEN", "", true, "app attestation service bearer token", func(c *Config) *string { return &c.AttestToken }),
		str("HAECHI_IDCHECK_URL", "", false, "ID authenticity service base URL", func(c *Config) *string { return &c.IDCheckURL }),
		str("HAECHI_IDCHECK_TOKEN", "", true, "ID authenticity service bearer token", func(c *Config) *string { return &c.IDCheckToken }),
		str("HAECHI_BANK_URL", "", false, "bank-transfer network base URL (1-won check)", func(c *Config) *string { return &c.BankURL }),
		str("HAECHI_BANK_TOKEN", "", true, "bank-transfer network bearer token", func(c *Config) *string { return &c.BankToken }),
		str("HAECHI_FACE_URL", "", false, "face engine base URL (biometric method)", func(c *Config) *string { return &c.FaceURL }),
		str("HAECHI_FACE_TOKEN", "", true, "face engine bearer token", func(c *Config) *string { return &c.FaceToken }),
		str("HAECHI_CARD_URL", "", false, "card network base URL (payment authorization)", func(c *Config) *string { return &c.CardURL }),
		str("HAECHI_CARD_TOKEN", "", true, "card network bearer token", func(c *Config) *string { return &c.CardToken }),
		boolean("HAECHI_PAYMENT_ALLOW_LEGACY", "true: merchants may use legacy mode, charging the client's amount unverified (demos and migrations only)", func(c *Config) *bool { return &c.PaymentAllowLegacy }),
		dur("HAECHI_EKYC_RETENTION", "how long verification evidence is kept", func(c *Config) *time.Duration { return &c.EKYCRetention }),
		float("HAECHI_EKYC_FACE_THRESHOLD", "selfie-to-ID-photo similarity needed (0.5-1)", func(c *Config) *float64 { return &c.EKYCFaceThreshold }),
		str("HAECHI_GEOIP_FILE", "", false, "MMDB file of IP countries for the fraud engine (unset: country unknown)", func(c *Config) *string { return &c.GeoIPFile }),
		boolean("HAECHI_WEBHOOK_ALLOW_HTTP", "true: institutions may register http:// webhook URLs (local testing only)", func(c *Config) *bool { return &c.WebhookAllowHTTP }),
		{env: "HAECHI_DEVICE_APP_DIGESTS", usage: "comma-separated SHA-256 (hex) of the app's signing certificates", parse: func(c *Config, v string) error {
			c.DeviceAppDigests = splitList(v)
			return nil
		}},
		dur("HAECHI_DEVICE_MAX_PATCH_AGE", "oldest OS security patch allowed to register", func(c *Config) *time.Duration { return &c.DeviceMaxPatchAge }),
		{env: "HAECHI_DEVICE_KEEP_PREVIOUS", usage: "true: a new device does not revoke the customer's earlier ones", parse: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			c.DeviceKeepPrevious = b
			return nil
		}},
		str("HAECHI_DEVICE_MIN_APP_VERSION", "", false, "lowest app version allowed to register", func(c *Config) *string { return &c.DeviceMinAppVersion }),
		str("HAECHI_WEBAUTHN_RP_ID", "", false, "passkey relying party id (a domain)", func(c *Config) *string { return &c.WebAuthnRPID }),
		{env: "HAECHI_WEBAUTHN_ORIGINS", usage: "comma-separated origins passkeys are made on", parse: parseOrigins},
	}
}

func boolean(env, usage string, field func(*Config) *bool) setting {
	return setting{env: env, usage: usage, parse: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}}
}

func parseOrigins(c *Config, v string) error {
	c.WebAuthnOrigins = splitList(v)
	return nil
}

// splitList splits a comma-separated value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func str(env, flagName string, secret bool, usage string, field func(*Config) *string) setting {
	return setting{
		env: env, flag: flagName, secret: secret, usage: usage,
		bind:  func(fs *flag.FlagSet, c *Config, n, u string) { fs.StringVar(field(c), n, *field(c), u) },
		parse: func(c *Config, v string) error { *field(c) = v; return nil },
	}
}

func integer(env, usage string, field func(*Config) *int) setting {
	return setting{env: env, usage: usage, parse: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}}
}

func float(env, usage string, field func(*Config) *float64) setting {
	return setting{env: env, usage: usage, parse: func(c *Config, v string) error {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*field(c) = n
		return nil
	}}
}

func dur(env, usage string, field func(*Config) *time.Duration) setting {
	return setting{env: env, usage: usage, parse: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 10m or 30s", v)
		}
		*field(c) = d
		return nil
	}}
}

func parseProxies(c *Config, v string) error {
	c.TrustedProxies = nil
	for _, p := range strings.Split(v, ",") {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("%q is not a CIDR prefix", p)
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx)
	}
	return nil
}

// parsePublicURL accepts an absolute http(s) URL with no query, fragment
// or user info: the base every DPoP proof's htu must start with when a
// proxy terminates TLS or rewrites the Host.
func parsePublicURL(c *Config, v string) error {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an http(s) base URL without query or fragment", v)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	c.PublicURL = u
	return nil
}
