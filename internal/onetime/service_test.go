package onetime_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

const (
	purpose = "device_registration.carrier"
	ttl     = 3 * time.Minute
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// engines open a fresh migrated database; PostgreSQL is skipped without
// HAECHI_TEST_POSTGRES_URL.
var engines = []struct {
	name string
	open func(testing.TB, sqlstore.Options) *sqlstore.DB
}{{"sqlite", storetest.MustOpenSQLite}, {"postgres", storetest.MustOpenPostgres}}

func newService(t *testing.T) (*onetime.Service, *clock, *sqlstore.DB) {
	t.Helper()
	return newServiceOn(t, storetest.MustOpenSQLite)
}

func newServiceOn(t *testing.T, open func(testing.TB, sqlstore.Options) *sqlstore.DB) (*onetime.Service, *clock, *sqlstore.DB) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	db := open(t, sqlstore.Options{Now: clk.Now})
	return &onetime.Service{Store: db, Pepper: []byte("test-pepper-32-bytes-long-......"), Now: clk.Now}, clk, db
}

func issue(t *testing.T, s *onetime.Service, subject string, maxAttempts int) (string, *onetime.Code) {
	t.Helper()
	code, c, err := s.Issue(t.Context(), purpose, subject, 6, ttl, maxAttempts)
	if err != nil {
		t.Fatal(err)
	}
	return code, c
}

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	if code[0] == '0' {
		return "1" + code[1:]
	}
	return "0" + code[1:]
}

func TestIssue(t *testing.T) {
	s, clk, _ := newService(t)
	code, c := issue(t, s, "reg_1", 5)
	t.Run("ok/six digits, only the MAC stored", func(t *testing.T) {
		if len(code) != 6 || strings.Trim(code, onetime.Digits) != "" {
			t.Fatalf("code %q", code)
		}
		if bytes.Contains(c.Hash, []byte(code)) || len(c.Hash) != 32 {
			t.Fatalf("hash %x", c.Hash)
		}
		if !c.ExpiresAt.Equal(clk.Now().Add(ttl)) || c.Attempts != 0 || c.MaxAttempts != 5 || c.UsedAt != nil ||
			c.Purpose != purpose || c.Subject != "reg_1" || !strings.HasPrefix(c.ID, "otc_") {
			t.Fatalf("code record %+v", c)
		}
	})
	t.Run("ok/alnum code", func(t *testing.T) {
		code, _, err := s.IssueAlnum(t.Context(), "ekyc.existing_account", "ses_1", 4, 10*time.Minute, 5)
		if err != nil || len(code) != 4 || strings.Trim(code, onetime.Alnum) != "" {
			t.Fatalf("alnum code %q, %v", code, err)
		}
	})
	tests := []struct {
		name             string
		purpose, subject string
		n                int
		ttl              time.Duration
		max              int
	}{
		{"error/no purpose", "", "reg_1", 6, ttl, 5},
		{"error/no subject", purpose, "", 6, ttl, 5},
		{"error/too short", purpose, "reg_1", 3, ttl, 5},
		{"error/too long", purpose, "reg_1", 13, ttl, 5},
		{"error/no ttl", purpose, "reg_1", 6, 0, 5},
		{"error/no attempts", purpose, "reg_1", 6, ttl, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.Issue(t.Context(), tc.purpose, tc.subject, tc.n, tc.ttl, tc.max)
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("error %v, want invalid", err)
			}
		})
	}
}

// step is one check and the result it must give.
type step struct {
	purpose, subject string
	right            bool // the issued code, else a wrong one
	advance          time.Duration
	want             onetime.Result
}

func TestCheck(t *testing.T) {
	right := func(w onetime.Result) step { return step{purpose, "reg_1", true, 0, w} }
	wrong := func(w onetime.Result) step { return step{purpose, "reg_1", false, 0, w} }
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"ok/right code once", 5, []step{right(onetime.Accepted), right(onetime.Used)}},
		{"ok/right after wrong ones", 3, []step{wrong(onetime.Wrong), wrong(onetime.Wrong), right(onetime.Accepted)}},
		{"error/last wrong try exhausts", 3, []step{wrong(onetime.Wrong), wrong(onetime.Wrong), wrong(onetime.Exhausted), right(onetime.Exhausted)}},
		{"error/single try", 1, []step{wrong(onetime.Exhausted), right(onetime.Exhausted)}},
		{"error/expired code", 5, []step{{purpose, "reg_1", true, ttl, onetime.Expired}}},
		{"ok/just before expiry", 5, []step{{purpose, "reg_1", true, ttl - time.Nanosecond, onetime.Accepted}}},
		{"error/used code stays used after expiry", 5, []step{right(onetime.Accepted), {purpose, "reg_1", true, ttl, onetime.Used}}},
		{"error/another session's subject is wrong and counted", 2, []step{
			{purpose, "reg_2", true, 0, onetime.Wrong}, {purpose, "reg_2", true, 0, onetime.Exhausted}, right(onetime.Exhausted)}},
		{"error/another purpose is wrong", 5, []step{{"ekyc.existing_account", "reg_1", true, 0, onetime.Wrong}, right(onetime.Accepted)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clk, _ := newService(t)
			code, c := issue(t, s, "reg_1", tc.max)
			for i, st := range tc.steps {
				clk.Add(st.advance)
				try := code
				if !st.right {
					try = wrongCode(code)
				}
				got, err := s.Check(t.Context(), c.ID, st.purpose, st.subject, try)
				if err != nil || got != st.want {
					t.Fatalf("step %d: %v, %v; want %v", i, got, err, st.want)
				}
			}
		})
	}
}

// TestCheckOtherSessionsCode: the SMS code sent for one registration does
// not complete another, even one of the same customer at the same moment.
func TestCheckOtherSessionsCode(t *testing.T) {
	s, _, db := newService(t)
	codeA, _ := issue(t, s, "reg_A", 5)
	codeB, b := issue(t, s, "reg_B", 5)
	if codeA == codeB {
		codeA = wrongCode(codeB) // one in a million; keep the test meaningful
	}
	got, err := s.Check(t.Context(), b.ID, purpose, "reg_B", codeA)
	if err != nil || got != onetime.Wrong {
		t.Fatalf("A's code on B: %v, %v; want wrong", got, err)
	}
	got, err = s.Check(t.Context(), b.ID, purpose, "reg_A", codeB)
	if err != nil || got != onetime.Wrong {
		t.Fatalf("B's code presented as A's: %v, %v; want wrong", got, err)
	}
	if c, _ := db.ConsumeAttempt(t.Context(), b.ID, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)); c.Attempts != 3 {
		t.Fatalf("B counted %d attempts, want 2 + this one", c.Attempts)
	}
}

func TestCheckAlnumIgnoresCase(t *testing.T) {
	s, _, _ := newService(t)
	code, c, err := s.IssueAlnum(t.Context(), "ekyc.existing_account", "ses_1", 4, time.Minute, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Check(t.Context(), c.ID, "ekyc.existing_account", "ses_1", strings.ToLower(code)); err != nil || got != onetime.Accepted {
		t.Fatalf("lower-case %q: %v, %v", strings.ToLower(code), got, err)
	}
}

func TestCheckUnknownCode(t *testing.T) {
	s, _, _ := newService(t)
	if _, err := s.Check(t.Context(), "otc_nope", purpose, "reg_1", "123456"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("unknown code: %v, want not found", err)
	}
}

func TestCheckParallel(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { testCheckParallel(t, eng.open) })
	}
}

func testCheckParallel(t *testing.T, open func(testing.TB, sqlstore.Options) *sqlstore.DB) {
	t.Run("ok/30 wrong guesses on a cap of 5: four wrong, the rest exhausted", func(t *testing.T) {
		s, _, _ := newServiceOn(t, open)
		code, c := issue(t, s, "reg_1", 5)
		results := checkAll(t, s, c.ID, wrongCode(code), 30)
		if results[onetime.Wrong] != 4 || results[onetime.Exhausted] != 26 {
			t.Fatalf("results %v", results)
		}
		if got, _ := s.Check(t.Context(), c.ID, purpose, "reg_1", code); got != onetime.Exhausted {
			t.Fatalf("right code after the cap: %v", got)
		}
	})
	t.Run("ok/right code in parallel is accepted once", func(t *testing.T) {
		s, _, _ := newServiceOn(t, open)
		code, c := issue(t, s, "reg_1", 20)
		results := checkAll(t, s, c.ID, code, 10)
		if results[onetime.Accepted] != 1 || results[onetime.Used] != 9 {
			t.Fatalf("results %v", results)
		}
	})
}

func checkAll(t *testing.T, s *onetime.Service, id, code string, n int) map[onetime.Result]int {
	var mu sync.Mutex
	results := map[onetime.Result]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := s.Check(t.Context(), id, purpose, "reg_1", code)
			if err != nil {
				t.Errorf("check: %v", err)
			}
			mu.Lock()
			results[r]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}
