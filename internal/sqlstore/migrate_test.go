package sqlstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseMigrationName(t *testing.T) {
	tests := []struct {
		name string
		file string
		want int
		ok   bool
	}{
		{"ok", "0001_audit.sql", 1, true},
		{"ok/two digits", "0012_lockout_counters.sql", 12, true},
		{"error/version zero", "0000_init.sql", 0, false},
		{"error/short number", "001_audit.sql", 0, false},
		{"error/no name", "0001.sql", 0, false},
		{"error/upper case", "0001_Audit.sql", 0, false},
		{"error/other extension", "0001_audit.sql.bak", 0, false},
		{"error/path", "../0001_audit.sql", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := parseMigrationName(tc.file)
			if v != tc.want || ok != tc.ok {
				t.Fatalf("parse(%q) = %d, %v; want %d, %v", tc.file, v, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseMigrationName(f *testing.F) {
	for _, s := range []string{"0001_audit.sql", "9999_x.sql", "0000_a.sql", "12_a.sql", "0001_a.sql\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v, ok := parseMigrationName(name)
		if !ok {
			return
		}
		if v < 1 || v > 9999 || !strings.HasPrefix(name, fmt.Sprintf("%04d_", v)) || !strings.HasSuffix(name, ".sql") {
			t.Fatalf("parse(%q) accepted version %d", name, v)
		}
	})
}

func TestLoadMigrations(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string // error text, or "" for success
	}{
		{"ok", fstest.MapFS{"0002_b.sql": file, "0001_a.sql": file}, ""},
		{"error/gap in files", fstest.MapFS{"0001_a.sql": file, "0003_c.sql": file}, "expected version 0002"},
		{"error/two files, one version", fstest.MapFS{"0001_a.sql": file, "0001_b.sql": file}, "expected version 0002"},
		{"error/stray file", fstest.MapFS{"0001_a.sql": file, "README.md": file}, "not named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := &DB{migrations: tc.files}
			ms, err := db.loadMigrations()
			if tc.want == "" {
				if err != nil || len(ms) != 2 || ms[0].name != "0001_a.sql" || ms[1].name != "0002_b.sql" {
					t.Fatalf("load = %v, %v", ms, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load error = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestCheckKnown(t *testing.T) {
	ms := []migration{{1, "0001_a.sql"}, {2, "0002_b.sql"}, {3, "0003_c.sql"}}
	tests := []struct {
		name string
		have map[int]string
		want error
	}{
		{"ok/fresh", map[int]string{}, nil},
		{"ok/prefix", map[int]string{1: "0001_a.sql", 2: "0002_b.sql"}, nil},
		{"ok/all", map[int]string{1: "0001_a.sql", 2: "0002_b.sql", 3: "0003_c.sql"}, nil},
		{"error/newer", map[int]string{1: "0001_a.sql", 2: "0002_b.sql", 3: "0003_c.sql", 4: "0004_d.sql"}, ErrSchemaUnknown},
		{"error/gap", map[int]string{1: "0001_a.sql", 3: "0003_c.sql"}, ErrSchemaUnknown},
		{"error/missing first", map[int]string{2: "0002_b.sql"}, ErrSchemaUnknown},
		{"error/renamed", map[int]string{1: "0001_other.sql"}, ErrSchemaUnknown},
		{"error/version zero", map[int]string{0: "0000_x.sql", 1: "0001_a.sql"}, ErrSchemaUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkKnown(tc.have, ms); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("checkKnown = %v, want %v", err, tc.want)
			}
		})
	}
}
