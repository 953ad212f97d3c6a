package crypto_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/haechi/haechi/internal/crypto"
)

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "keys.json")
	km, created, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKeyFile = created %v, %v", created, err)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, path, 0o600)
	if err := km.Validate(); err != nil {
		t.Fatalf("created key material: %v", err)
	}

	again, created, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateKeyFile = created %v, %v", created, err)
	}
	if !reflect.DeepEqual(km, again) {
		t.Fatal("reloaded key material differs from the created one")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".haechi-keys-*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %04o, want %04o", path, got, want)
	}
}

func TestKeyFileRefusesOpenMode(t *testing.T) {
	tests := []struct {
		name string
		mode os.FileMode
	}{
		{"error/world readable", 0o644},
		{"error/group readable", 0o640},
		{"error/others readable only", 0o604},
		{"error/group writable", 0o620},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if _, _, err := crypto.LoadOrCreateKeyFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := crypto.LoadOrCreateKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", tt.mode)) {
				t.Fatalf("err = %v, want one naming the file and mode %04o", err, tt.mode)
			}
		})
	}
}

func TestKeyFileRejectsBadContent(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"error/not JSON", "master=1"},
		{"error/unknown field", `{"format":1,"extra":true}`},
		{"error/unknown format", `{"format":2}`},
		{"error/trailing data", `{"format":1} {}`},
		{"error/short keys", `{"format":1,"master_keys":{"1":"AAAA"},"active_master":1,"blind_index_key":"AAAA","pepper":"AAAA","audit_signing_seed":"AAAA"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := crypto.LoadOrCreateKeyFile(path); err == nil {
				t.Fatal("bad key file accepted")
			}
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Fatal("a bad key file was overwritten")
			}
		})
	}
}

func TestSaveKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	km, _, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.AddMasterKey(km); err != nil {
		t.Fatal(err)
	}
	if err := crypto.SaveKeyFile(path, km); err != nil {
		t.Fatalf("SaveKeyFile: %v", err)
	}
	assertMode(t, path, 0o600)
	got, created, err := crypto.LoadOrCreateKeyFile(path)
	if err != nil || created || !reflect.DeepEqual(got, km) {
		t.Fatalf("reloaded after save: created %v, err %v, equal %v", created, err, reflect.DeepEqual(got, km))
	}
	km.Pepper = nil
	if err := crypto.SaveKeyFile(path, km); err == nil {
		t.Fatal("SaveKeyFile wrote invalid key material")
	}
}

// TestKeyFileCreateRace: nodes starting together must end up with one key
// file and the same keys, never each with their own.
func TestKeyFileCreateRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	const n = 8
	var wg sync.WaitGroup
	results := make([]*crypto.KeyMaterial, n)
	createdCount := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			km, created, err := crypto.LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
			}
			results[i], createdCount[i] = km, created
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if createdCount[i] {
			creators++
		}
		if !reflect.DeepEqual(results[i], results[0]) {
			t.Fatalf("caller %d got different key material", i)
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers report creating the file, want 1", creators)
	}
}
