package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/crypto"
)

func b64(fill byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32)) }

func TestKeyMaterialFromEnv(t *testing.T) {
	full := map[string]string{
		"HAECHI_MASTER_KEYS":       "1:" + b64(1) + ", 2:" + b64(2),
		"HAECHI_BLIND_INDEX_KEY":   b64(3),
		"HAECHI_PEPPER":            b64(4),
		"HAECHI_AUDIT_SIGNING_KEY": b64(5) + "\n",
	}
	with := func(name, value string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		m[name] = value
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr string // substring; "" means no error
	}{
		{"ok/none set", map[string]string{}, false, ""},
		{"ok/all set", full, true, ""},
		{"error/only some set", map[string]string{"HAECHI_PEPPER": b64(4)}, false, "HAECHI_MASTER_KEYS, HAECHI_BLIND_INDEX_KEY, HAECHI_AUDIT_SIGNING_KEY not set"},
		{"error/one missing", with("HAECHI_PEPPER", ""), false, "HAECHI_PEPPER not set"},
		{"error/blind key not base64", with("HAECHI_BLIND_INDEX_KEY", "not*base64!"), false, "HAECHI_BLIND_INDEX_KEY"},
		{"error/pepper too short", with("HAECHI_PEPPER", base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))), false, "HAECHI_PEPPER"},
		{"error/audit seed unpadded", with("HAECHI_AUDIT_SIGNING_KEY", strings.TrimRight(b64(5), "=")), false, "HAECHI_AUDIT_SIGNING_KEY"},
		{"error/master entry without version", with("HAECHI_MASTER_KEYS", b64(1)), false, "HAECHI_MASTER_KEYS entry 1"},
		{"error/master version 0", with("HAECHI_MASTER_KEYS", "0:"+b64(1)), false, "HAECHI_MASTER_KEYS entry 1"},
		{"error/master version with sign", with("HAECHI_MASTER_KEYS", "+1:"+b64(1)), false, "HAECHI_MASTER_KEYS entry 1"},
		{"error/master version with leading zero", with("HAECHI_MASTER_KEYS", "01:"+b64(1)), false, "HAECHI_MASTER_KEYS entry 1"},
		{"error/master key short", with("HAECHI_MASTER_KEYS", "1:"+b64(1)+",2:AAAA"), false, "HAECHI_MASTER_KEYS entry 2"},
		{"error/master version twice", with("HAECHI_MASTER_KEYS", "1:"+b64(1)+",1:"+b64(2)), false, "version 1 appears twice"},
		{"error/empty master entry", with("HAECHI_MASTER_KEYS", "1:"+b64(1)+","), false, "HAECHI_MASTER_KEYS entry 2"},
		{"error/one value for two secrets", with("HAECHI_PEPPER", b64(3)), false, "reuses one value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			km, ok, err := crypto.KeyMaterialFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				for name, v := range tt.env {
					if v = strings.TrimSpace(v); len(v) > 4 && strings.Contains(err.Error(), v) {
						t.Fatalf("error echoes the value of %s: %v", name, err)
					}
				}
				return
			}
			if err != nil || ok != tt.ok {
				t.Fatalf("KeyMaterialFromEnv = ok %v, err %v; want ok %v", ok, err, tt.ok)
			}
			if ok && (km.ActiveMaster != 2 || !bytes.Equal(km.MasterKeys[1], bytes.Repeat([]byte{1}, 32)) ||
				!bytes.Equal(km.AuditSeed, bytes.Repeat([]byte{5}, 32))) {
				t.Fatalf("parsed key material is wrong: active %d", km.ActiveMaster)
			}
		})
	}
}

func TestKeyMaterialValidate(t *testing.T) {
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	valid := func() *crypto.KeyMaterial {
		return &crypto.KeyMaterial{MasterKeys: map[int][]byte{1: key(1)}, ActiveMaster: 1,
			BlindKey: key(2), Pepper: key(3), AuditSeed: key(4)}
	}
	tests := []struct {
		name   string
		change func(*crypto.KeyMaterial)
		ok     bool
	}{
		{"ok", func(*crypto.KeyMaterial) {}, true},
		{"ok/older active version", func(km *crypto.KeyMaterial) { km.MasterKeys[2] = key(5) }, true},
		{"error/no master key", func(km *crypto.KeyMaterial) { km.MasterKeys = nil }, false},
		{"error/active version missing", func(km *crypto.KeyMaterial) { km.ActiveMaster = 2 }, false},
		{"error/version 0", func(km *crypto.KeyMaterial) { km.MasterKeys[0] = key(5) }, false},
		{"error/short master key", func(km *crypto.KeyMaterial) { km.MasterKeys[1] = key(1)[:16] }, false},
		{"error/no pepper", func(km *crypto.KeyMaterial) { km.Pepper = nil }, false},
		{"error/long blind key", func(km *crypto.KeyMaterial) { km.BlindKey = append(key(2), 0) }, false},
		{"error/short audit seed", func(km *crypto.KeyMaterial) { km.AuditSeed = key(4)[:31] }, false},
		{"error/blind key equals master key", func(km *crypto.KeyMaterial) { km.BlindKey = key(1) }, false},
		{"error/two master versions equal", func(km *crypto.KeyMaterial) { km.MasterKeys[2] = key(1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			km := valid()
			tt.change(km)
			if err := km.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewKeyMaterial(t *testing.T) {
	a, b := crypto.NewKeyMaterial(), crypto.NewKeyMaterial()
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if bytes.Equal(a.MasterKeys[1], b.MasterKeys[1]) || bytes.Equal(a.Pepper, b.Pepper) {
		t.Fatal("two calls returned the same secrets")
	}
	want := ed25519.NewKeyFromSeed(a.AuditSeed)
	if !want.Equal(a.AuditKey()) {
		t.Fatal("AuditKey does not derive from AuditSeed")
	}
}

func TestAddMasterKey(t *testing.T) {
	km := crypto.NewKeyMaterial()
	km.MasterKeys[5] = bytes.Repeat([]byte{9}, 32) // versions need not be contiguous
	v, err := crypto.AddMasterKey(km)
	if err != nil || v != 6 || km.ActiveMaster != 6 || len(km.MasterKeys) != 3 {
		t.Fatalf("AddMasterKey = %d, %v; active %d, %d versions", v, err, km.ActiveMaster, len(km.MasterKeys))
	}
	if err := km.Validate(); err != nil {
		t.Fatalf("Validate after AddMasterKey: %v", err)
	}
}
