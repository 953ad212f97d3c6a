package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "dburl")
	if err := os.WriteFile(secretFile, []byte("postgres://u:p@db/haechi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		serve   bool
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "ok/defaults", serve: true, check: func(t *testing.T, c *Config) {
			if c.Addr != "127.0.0.1:8080" || c.DataDir != "./data" || c.Postgres() || c.TLS() {
				t.Fatalf("unexpected defaults: %+v", c)
			}
		}},
		{name: "ok/env then flags", env: map[string]string{"HAECHI_ADDR": "0.0.0.0:9000", "HAECHI_DATA_DIR": "/env"}, args: []string{"--data-dir", "/flag"}, serve: true,
			check: func(t *testing.T, c *Config) {
				if c.Addr != "0.0.0.0:9000" || c.DataDir != "/flag" {
					t.Fatalf("got addr %q dir %q", c.Addr, c.DataDir)
				}
			}},
		{name: "ok/secret from file", env: map[string]string{"HAECHI_DATABASE_URL_FILE": secretFile}, check: func(t *testing.T, c *Config) {
			if c.DatabaseURL != "postgres://u:p@db/haechi" {
				t.Fatalf("got %q", c.DatabaseURL)
			}
		}},
		{name: "ok/durations and proxies", env: map[string]string{"HAECHI_TOKEN_TTL": "5m", "HAECHI_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1/32"}, check: func(t *testing.T, c *Config) {
			if c.TokenTTL != 5*time.Minute || len(c.TrustedProxies) != 2 {
				t.Fatalf("got ttl %v proxies %v", c.TokenTTL, c.TrustedProxies)
			}
		}},
		{name: "ok/flags after positional arguments", args: []string{"ID", "--data-dir", "/late"}, check: func(t *testing.T, c *Config) {
			if c.DataDir != "/late" {
				t.Fatalf("data dir %q: a flag after an argument was ignored", c.DataDir)
			}
		}},
		{name: "ok/device policy", env: map[string]string{"HAECHI_DEVICE_MAX_PATCH_AGE": "4380h", "HAECHI_DEVICE_KEEP_PREVIOUS": "true"}, check: func(t *testing.T, c *Config) {
			if c.DeviceMaxPatchAge != 4380*time.Hour || !c.DeviceKeepPrevious {
				t.Fatalf("patch age %v keep %v", c.DeviceMaxPatchAge, c.DeviceKeepPrevious)
			}
		}},
		{name: "ok/public url", env: map[string]string{"HAECHI_PUBLIC_URL": "https://bank.example:8443/haechi/"}, check: func(t *testing.T, c *Config) {
			if c.PublicURL == nil || c.PublicURL.String() != "https://bank.example:8443/haechi" {
				t.Fatalf("public url %v", c.PublicURL)
			}
		}},
		{name: "error/public url with query", env: map[string]string{"HAECHI_PUBLIC_URL": "https://bank.example/?a=1"}, wantErr: "HAECHI_PUBLIC_URL"},
		{name: "error/public url not absolute", env: map[string]string{"HAECHI_PUBLIC_URL": "bank.example/haechi"}, wantErr: "HAECHI_PUBLIC_URL"},
		{name: "error/public url with user", env: map[string]string{"HAECHI_PUBLIC_URL": "https://u:p@bank.example"}, wantErr: "HAECHI_PUBLIC_URL"},
		{name: "error/patch age too short", env: map[string]string{"HAECHI_DEVICE_MAX_PATCH_AGE": "24h"}, wantErr: "HAECHI_DEVICE_MAX_PATCH_AGE"},
		{name: "error/keep previous not a bool", env: map[string]string{"HAECHI_DEVICE_KEEP_PREVIOUS": "maybe"}, wantErr: "HAECHI_DEVICE_KEEP_PREVIOUS"},
		{name: "ok/test variables ignored", env: map[string]string{"HAECHI_TEST_POSTGRES_URL": "x"}},
		{name: "error/unknown variable", env: map[string]string{"HAECHI_ADRR": "x"}, wantErr: "HAECHI_ADRR"},
		{name: "error/bad addr", env: map[string]string{"HAECHI_ADDR": "nope"}, wantErr: "HAECHI_ADDR"},
		{name: "error/mysql url", env: map[string]string{"HAECHI_DATABASE_URL": "mysql://x"}, wantErr: "HAECHI_DATABASE_URL"},
		{name: "error/both value and file", env: map[string]string{"HAECHI_DATABASE_URL": "postgres://x", "HAECHI_DATABASE_URL_FILE": secretFile}, wantErr: "set only one"},
		{name: "error/missing secret file", env: map[string]string{"HAECHI_REDIS_URL_FILE": filepath.Join(dir, "none")}, wantErr: "HAECHI_REDIS_URL_FILE"},
		{name: "error/tls half set", env: map[string]string{"HAECHI_TLS_CERT": "c.pem"}, wantErr: "HAECHI_TLS_KEY"},
		{name: "error/not a number", env: map[string]string{"HAECHI_HASH_WORKERS": "many"}, wantErr: "HAECHI_HASH_WORKERS"},
		{name: "error/out of range", env: map[string]string{"HAECHI_ARGON2_MEMORY_KIB": "1024"}, wantErr: "HAECHI_ARGON2_MEMORY_KIB"},
		{name: "error/bad duration", env: map[string]string{"HAECHI_TOKEN_TTL": "10"}, wantErr: "HAECHI_TOKEN_TTL"},
		{name: "error/bad cidr", env: map[string]string{"HAECHI_TRUSTED_PROXIES": "10.0.0.1"}, wantErr: "HAECHI_TRUSTED_PROXIES"},
		{name: "ok/providers over HTTP", env: map[string]string{"HAECHI_CARRIER_URL": "https://carrier.example", "HAECHI_CARRIER_TOKEN_FILE": secretFile,
			"HAECHI_WEBAUTHN_RP_ID": "bank.example", "HAECHI_WEBAUTHN_ORIGINS": "https://bank.example, https://app.bank.example"},
			check: func(t *testing.T, c *Config) {
				if c.Carrier().URL() != "https://carrier.example" || c.Carrier().Token() == "" || c.Attest().URL() != "" || c.SimulatorsOn() {
					t.Fatalf("providers %+v %+v", c.Carrier(), c.Attest())
				}
				if c.WebAuthnRPID != "bank.example" || len(c.WebAuthnOrigins) != 2 || c.WebAuthnOrigins[1] != "https://app.bank.example" {
					t.Fatalf("webauthn %q %v", c.WebAuthnRPID, c.WebAuthnOrigins)
				}
			}},
		{name: "ok/simulators by env or --demo", env: map[string]string{"HAECHI_SIMULATORS": "true"}, check: func(t *testing.T, c *Config) {
			if !c.SimulatorsOn() {
				t.Fatal("simulators off")
			}
		}},
		{name: "error/provider URL without token", env: map[string]string{"HAECHI_ATTEST_URL": "https://attest.example"}, wantErr: "HAECHI_ATTEST_TOKEN"},
		{name: "error/provider URL not http", env: map[string]string{"HAECHI_IDCHECK_URL": "ftp://x", "HAECHI_IDCHECK_TOKEN": "t"}, wantErr: "HAECHI_IDCHECK_URL"},
		{name: "error/simulators and a provider", env: map[string]string{"HAECHI_CARRIER_URL": "https://c.example", "HAECHI_CARRIER_TOKEN": "t"},
			args: []string{"--demo"}, serve: true, wantErr: "HAECHI_CARRIER_URL"},
		{name: "error/simulators not a bool", env: map[string]string{"HAECHI_SIMULATORS": "yes please"}, wantErr: "HAECHI_SIMULATORS"},
		{name: "error/serve flag on data command", args: []string{"--addr", ":1"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load("test", tt.args, tt.serve, MapEnv(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want mention of %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestErrorsNeverPrintSecrets(t *testing.T) {
	_, _, err := Load("test", nil, false, MapEnv(map[string]string{"HAECHI_DATABASE_URL": "mysql://user:hunter2@db"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v; must fail without echoing the URL", err)
	}
}
