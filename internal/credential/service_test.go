package credential_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
)

// memStore is an in-memory credential.Store that keeps the audit entries it
// was given.
type memStore struct {
	mu      sync.Mutex
	creds   map[string]credential.Credential
	entries []audit.Entry
}

func newMemStore() *memStore { return &memStore{creds: map[string]credential.Credential{}} }

func key(id string, m credential.Method) string { return id + "/" + string(m) }

func (m *memStore) SetCredential(_ context.Context, c *credential.Credential, replaces string, e audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(c.History) > credential.MaxHistory {
		return fmt.Errorf("history of %d: %w", len(c.History), errs.ErrInvalid)
	}
	if m.creds[key(c.CustomerID, c.Method)].Hash != replaces {
		return credential.ErrChanged
	}
	cp := *c
	cp.History = slices.Clone(c.History)
	m.creds[key(c.CustomerID, c.Method)] = cp
	m.entries = append(m.entries, e)
	return nil
}

func (m *memStore) Credential(_ context.Context, id string, method credential.Method) (*credential.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[key(id, method)]
	if !ok {
		return nil, errs.ErrNotFound
	}
	c.History = slices.Clone(c.History)
	return &c, nil
}

func (m *memStore) MarkMustChange(_ context.Context, id string, method credential.Method, e audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[key(id, method)]
	if !ok {
		return errs.ErrNotFound
	}
	c.MustChange = true
	m.creds[key(id, method)] = c
	m.entries = append(m.entries, e)
	return nil
}

var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newService() (*credential.Service, *memStore) {
	st := newMemStore()
	h := crypto.NewHasher([]byte("credential test pepper, 32 bytes"), crypto.TestHashParams, 2, 8)
	return &credential.Service{Store: st, Hasher: h, Now: func() time.Time { return now }}, st
}

var kim = &customer.Customer{ID: "cus_1", InstitutionID: "cl_1", Name: "김민수", BirthDate: "1990-05-17", Phone: "01012345678"}

func TestSet(t *testing.T) {
	tests := []struct {
		name   string
		method credential.Method
		secret string
		want   error
	}{
		{"ok/pin", credential.MethodPIN, "384917", nil},
		{"ok/pattern", credential.MethodPattern, "[1,2,3,6]", nil},
		{"error/weak pin", credential.MethodPIN, "121212", credential.ErrPINBlocklisted},
		{"error/pin with birth date", credential.MethodPIN, "900517", credential.ErrPINBirthDate},
		{"error/pin too short", credential.MethodPIN, "1234", credential.ErrPINFormat},
		{"error/pattern skipping", credential.MethodPattern, "[1,3,6,9]", credential.ErrPatternInvalid},
		{"error/pattern too short", credential.MethodPattern, "[1,2,3]", credential.ErrPatternTooShort},
		{"error/biometric", credential.MethodBiometric, "", credential.ErrNoSecret},
		{"error/unknown method", "password", "hunter22", credential.ErrMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, st := newService()
			err := s.Set(t.Context(), "cus_1", kim, tc.method, tc.secret)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Set = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if len(st.creds) != 0 || len(st.entries) != 0 {
					t.Fatalf("a refused set stored %v, audited %v", st.creds, st.entries)
				}
				return
			}
			checkStored(t, s, st, tc.method, tc.secret)
		})
	}
}

// checkStored asserts the secret is stored hashed, verifies, and left no
// trace in the audit entry.
func checkStored(t *testing.T, s *credential.Service, st *memStore, m credential.Method, secret string) {
	t.Helper()
	c := st.creds[key("cus_1", m)]
	if !strings.HasPrefix(c.Hash, "$argon2id$") || c.UpdatedAt != now || c.MustChange || c.History != nil {
		t.Fatalf("stored %+v", c)
	}
	if ok, err := s.Verify(t.Context(), "cus_1", m, secret); !ok || err != nil {
		t.Fatalf("Verify after Set = %v, %v", ok, err)
	}
	e := st.entries[0]
	if e.Action != credential.ActionSet || e.Target != "cus_1" || e.Details["method"] != string(m) || e.Details["change"] != "first" {
		t.Fatalf("audit entry %+v", e)
	}
	if strings.Contains(fmt.Sprint(e), strings.Trim(secret, "[]")) {
		t.Fatalf("audit entry %+v holds the secret", e)
	}
}

func TestSetHistory(t *testing.T) {
	s, st := newService()
	set := func(pin string) error { return s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, pin) }
	for _, pin := range []string{"384917", "472615", "639182"} {
		if err := set(pin); err != nil {
			t.Fatalf("Set(%s) = %v", pin, err)
		}
	}
	if h := st.creds[key("cus_1", credential.MethodPIN)].History; len(h) != credential.MaxHistory {
		t.Fatalf("history has %d hashes, want %d", len(h), credential.MaxHistory)
	}
	for _, pin := range []string{"639182", "472615", "384917"} {
		err := set(pin)
		checkCode(t, err, credential.ErrReused, "pin")
	}
	if n := len(st.entries); n != 3 {
		t.Fatalf("refused sets were audited: %d entries", n)
	}
	if err := set("805142"); err != nil {
		t.Fatalf("Set(new) = %v", err)
	}
	if err := set("384917"); err != nil {
		t.Fatalf("the fourth secret back is allowed again: %v", err)
	}
	if err := set("805142"); !errors.Is(err, credential.ErrReused) {
		t.Fatalf("Set(previous) = %v, want reuse refused", err)
	}
}

func TestHistoryIsPerMethod(t *testing.T) {
	s, _ := newService()
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPattern, "[1,2,3,6]"))
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPattern, "[7,8,9,6]"))
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "384917"))
	err := s.Set(t.Context(), "cus_1", kim, credential.MethodPattern, "[1, 2, 3, 6]")
	checkCode(t, err, credential.ErrReused, "pattern")
}

func TestVerify(t *testing.T) {
	s, st := newService()
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "384917"))
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPattern, "[1,6,7,2]"))
	tests := []struct {
		name     string
		customer string
		method   credential.Method
		secret   string
		ok       bool
		err      error
	}{
		{"ok/pin", "cus_1", credential.MethodPIN, "384917", true, nil},
		{"ok/pattern", "cus_1", credential.MethodPattern, "[1,6,7,2]", true, nil},
		{"ok/pattern spaced differently", "cus_1", credential.MethodPattern, " [1, 6, 7, 2]", true, nil},
		{"fail/wrong pin", "cus_1", credential.MethodPIN, "384918", false, nil},
		{"fail/pattern reversed", "cus_1", credential.MethodPattern, "[2,7,6,1]", false, nil},
		{"fail/no credential", "cus_2", credential.MethodPIN, "384917", false, nil},
		{"fail/no credential for method", "cus_2", credential.MethodPattern, "[1,6,7,2]", false, nil},
		{"error/pin malformed", "cus_1", credential.MethodPIN, "38491", false, credential.ErrPINFormat},
		{"error/pin malformed, unknown customer alike", "cus_2", credential.MethodPIN, "38491", false, credential.ErrPINFormat},
		{"error/pattern malformed", "cus_1", credential.MethodPattern, "[1,3,6,9]", false, credential.ErrPatternInvalid},
		{"error/biometric", "cus_1", credential.MethodBiometric, "", false, credential.ErrNoSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := s.Verify(t.Context(), tc.customer, tc.method, tc.secret)
			if ok != tc.ok || !errors.Is(err, tc.err) {
				t.Fatalf("Verify = %v, %v; want %v, %v", ok, err, tc.ok, tc.err)
			}
		})
	}
	t.Run("ok/weak pin set before the rules still logs in", func(t *testing.T) {
		h, err := s.Hasher.Hash(t.Context(), []byte("pin:121212"))
		must(t, err)
		st.creds[key("cus_9", credential.MethodPIN)] = credential.Credential{CustomerID: "cus_9", Method: credential.MethodPIN, Hash: h}
		if ok, err := s.Verify(t.Context(), "cus_9", credential.MethodPIN, "121212"); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
}

// TestVerifyUnknownCustomerHashes: with no credential Verify still asks the
// hasher for a hash (a cancelled context makes that visible), so an unknown
// customer costs what a wrong PIN costs.
func TestVerifyUnknownCustomerHashes(t *testing.T) {
	s, _ := newService()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Verify(ctx, "cus_nope", credential.MethodPIN, "384917")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify(unknown) = %v, want the hasher's context error", err)
	}
}

func TestRequireChange(t *testing.T) {
	s, st := newService()
	err := s.RequireChange(t.Context(), "lockout", "cus_1", credential.MethodPIN)
	if !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("RequireChange without credential = %v", err)
	}
	if err := s.RequireChange(t.Context(), "lockout", "cus_1", credential.MethodBiometric); !errors.Is(err, credential.ErrNoSecret) {
		t.Fatalf("RequireChange(biometric) = %v", err)
	}
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "384917"))
	must(t, s.RequireChange(t.Context(), "lockout", "cus_1", credential.MethodPIN))
	for _, pin := range []string{"384917", "111112"} {
		if ok, err := s.Verify(t.Context(), "cus_1", credential.MethodPIN, pin); ok || !errors.Is(err, credential.ErrMustChange) {
			t.Fatalf("Verify(%s) while a change is due = %v, %v", pin, ok, err)
		}
	}
	if err := s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "384917"); !errors.Is(err, credential.ErrReused) {
		t.Fatalf("forced change to the same PIN = %v", err)
	}
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "472615"))
	if ok, err := s.Verify(t.Context(), "cus_1", credential.MethodPIN, "472615"); !ok || err != nil {
		t.Fatalf("Verify after the forced change = %v, %v", ok, err)
	}
	if last := st.entries[len(st.entries)-1]; last.Details["change"] != "forced" {
		t.Fatalf("forced change audited as %+v", last)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// racingStore lets another set land between the service's read and its
// write, as a second node would.
type racingStore struct {
	*memStore
	race func()
}

func (r *racingStore) SetCredential(ctx context.Context, c *credential.Credential, replaces string, e audit.Entry) error {
	if r.race != nil {
		race := r.race
		r.race = nil
		race()
	}
	return r.memStore.SetCredential(ctx, c, replaces, e)
}

// TestSetRaceKeepsHistory: of two changes that read the same credential,
// the later write is refused, so the winner's history still holds the
// replaced PIN and neither write was lost silently.
func TestSetRaceKeepsHistory(t *testing.T) {
	s, st := newService()
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "482915"))
	rs := &racingStore{memStore: st}
	s.Store = rs
	rs.race = func() { must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "739164")) }
	err := s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "615283")
	if !errors.Is(err, credential.ErrChanged) {
		t.Fatalf("racing set: %v, want ErrChanged", err)
	}
	if ok, err := s.Verify(t.Context(), "cus_1", credential.MethodPIN, "739164"); !ok || err != nil {
		t.Fatalf("the race's PIN does not verify: %v %v", ok, err)
	}
	if n := len(st.entries); n != 2 {
		t.Fatalf("%d sets audited, want 2 (the refused one writes nothing)", n)
	}
	// The PIN the race replaced is still in the history: reuse is refused.
	if err := s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "482915"); !errors.Is(err, credential.ErrReused) {
		t.Fatalf("reuse after race: %v", err)
	}
}

// TestReplaceOverStaleCredential: a set allowed on a credential read
// earlier (a forced change) cannot overwrite the one the customer set
// since; it is refused and the customer's secret stands.
func TestReplaceOverStaleCredential(t *testing.T) {
	s, st := newService()
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "482915"))
	stale, err := st.Credential(t.Context(), "cus_1", credential.MethodPIN)
	must(t, err)
	must(t, s.Set(t.Context(), "cus_1", kim, credential.MethodPIN, "739164"))
	if err := s.Replace(t.Context(), "cus_1", kim, credential.MethodPIN, "615283", stale); !errors.Is(err, credential.ErrChanged) {
		t.Fatalf("replace over a stale credential: %v, want ErrChanged", err)
	}
	if ok, err := s.Verify(t.Context(), "cus_1", credential.MethodPIN, "739164"); !ok || err != nil {
		t.Fatalf("the customer's PIN no longer verifies: %v %v", ok, err)
	}
}
