package crypto_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/crypto"
)

// memStore is an in-memory crypto.DataKeyStore with failure switches.
type memStore struct {
	mu          sync.Mutex
	keys        []crypto.WrappedKey
	rewrapCalls int
	reads       int
	failAdd     error
	failRewrap  error
	// stale, when set, makes the next DataKeys call see an empty store, as a
	// node that read before another node's insert.
	stale bool
}

func (m *memStore) DataKeys(context.Context) ([]crypto.WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.stale {
		m.stale = false
		return nil, nil
	}
	out := slices.Clone(m.keys)
	for i := range out {
		out[i].Wrapped = slices.Clone(out[i].Wrapped)
	}
	return out, nil
}

func (m *memStore) AddDataKey(_ context.Context, k crypto.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAdd != nil {
		return m.failAdd
	}
	m.keys = append(m.keys, k)
	return nil
}

// RewrapDataKeys is all or nothing, as the contract requires.
func (m *memStore) RewrapDataKeys(_ context.Context, keys []crypto.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rewrapCalls++
	if m.failRewrap != nil {
		return m.failRewrap
	}
	next := slices.Clone(m.keys)
	for _, k := range keys {
		i := slices.IndexFunc(next, func(s crypto.WrappedKey) bool { return s.ID == k.ID })
		if i < 0 {
			return errors.New("unknown data key " + k.ID)
		}
		next[i] = k
	}
	m.keys = next
	return nil
}

func (m *memStore) snapshot() []crypto.WrappedKey {
	keys, _ := m.DataKeys(context.Background())
	return keys
}

// clock is a fixed time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustRing(t testing.TB, km *crypto.KeyMaterial, store crypto.DataKeyStore, now func() time.Time) *crypto.Keyring {
	t.Helper()
	ring, err := crypto.LoadKeyring(context.Background(), km, store, now)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	return ring
}

func mustSeal(t testing.TB, ring *crypto.Keyring, plain []byte, aad crypto.AAD) []byte {
	t.Helper()
	sealed, err := ring.Seal(plain, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

// sealedKeyID reads the data key id out of a sealed value's header.
func sealedKeyID(sealed []byte) string { return string(sealed[2 : 2+int(sealed[1])]) }

var rowAAD = crypto.AAD{Table: "customers", Column: "rrn", RowID: "cus_1"}

func TestSealOpen(t *testing.T) {
	ring := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	tests := []struct {
		name  string
		plain []byte
	}{
		{"ok/empty", []byte{}},
		{"ok/short", []byte("900101-1234567")},
		{"ok/binary", []byte{0, 1, 2, 0xff, 0}},
		{"ok/1 KiB", bytes.Repeat([]byte("x"), 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := mustSeal(t, ring, tt.plain, rowAAD)
			if bytes.Contains(sealed, tt.plain) && len(tt.plain) > 4 {
				t.Fatal("sealed value contains the plaintext")
			}
			got, err := ring.Open(sealed, rowAAD)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plain) {
				t.Fatalf("Open = %q, want %q", got, tt.plain)
			}
		})
	}
}

func TestSealIsRandomised(t *testing.T) {
	ring := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	a := mustSeal(t, ring, []byte("same"), rowAAD)
	b := mustSeal(t, ring, []byte("same"), rowAAD)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	if a[0] != 1 || sealedKeyID(a) != ring.ActiveKeyID() {
		t.Fatalf("header = format %d key %q, want format 1 key %q", a[0], sealedKeyID(a), ring.ActiveKeyID())
	}
}

func TestOpenRejectsOtherRecord(t *testing.T) {
	ring := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	tests := []struct {
		name    string
		sealFor crypto.AAD
		openFor crypto.AAD
	}{
		{"error/other row", rowAAD, crypto.AAD{Table: "customers", Column: "rrn", RowID: "cus_2"}},
		{"error/other column", rowAAD, crypto.AAD{Table: "customers", Column: "phone", RowID: "cus_1"}},
		{"error/other table", rowAAD, crypto.AAD{Table: "operators", Column: "rrn", RowID: "cus_1"}},
		{"error/separator shifted between fields",
			crypto.AAD{Table: "a|b", Column: "c", RowID: "d"}, crypto.AAD{Table: "a", Column: "b|c", RowID: "d"}},
		{"error/boundary moved across zero bytes",
			crypto.AAD{Table: "a\x00\x00\x00\x00b", Column: "c", RowID: "d"}, crypto.AAD{Table: "a", Column: "b\x00\x00\x00\x00c", RowID: "d"}},
		{"error/bytes shifted between fields",
			crypto.AAD{Table: "ab", Column: "c", RowID: "d"}, crypto.AAD{Table: "a", Column: "bc", RowID: "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := mustSeal(t, ring, []byte("secret"), tt.sealFor)
			if _, err := ring.Open(sealed, tt.openFor); !errors.Is(err, crypto.ErrOpen) {
				t.Fatalf("Open with another record's AAD: err = %v, want ErrOpen", err)
			}
			if _, err := ring.Open(sealed, tt.sealFor); err != nil {
				t.Fatalf("Open with the right AAD: %v", err)
			}
		})
	}
}

func TestOpenRejectsDamage(t *testing.T) {
	ring := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	sealed := mustSeal(t, ring, []byte("900101-1234567"), rowAAD)
	for i := range sealed {
		damaged := slices.Clone(sealed)
		damaged[i] ^= 0x01
		if _, err := ring.Open(damaged, rowAAD); err == nil {
			t.Errorf("error/flipped bit in byte %d: Open succeeded", i)
		}
	}
	for n := range len(sealed) {
		if _, err := ring.Open(sealed[:n], rowAAD); !errors.Is(err, crypto.ErrOpen) {
			t.Errorf("error/truncated to %d bytes: err = %v, want ErrOpen", n, err)
		}
	}
	if _, err := ring.Open(append(slices.Clone(sealed), 0), rowAAD); err == nil {
		t.Error("error/extra byte: Open succeeded")
	}
	other := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	if _, err := other.Open(sealed, rowAAD); !errors.Is(err, crypto.ErrOpen) {
		t.Errorf("error/unknown data key: err = %v, want ErrOpen", err)
	}
}

func TestAADMustBeComplete(t *testing.T) {
	ring := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	sealed := mustSeal(t, ring, []byte("x"), rowAAD)
	for _, aad := range []crypto.AAD{{}, {Table: "t", Column: "c"}, {Table: "t", RowID: "r"}, {Column: "c", RowID: "r"}} {
		if _, err := ring.Seal([]byte("x"), aad); err == nil {
			t.Errorf("Seal with %+v succeeded", aad)
		}
		if _, err := ring.Open(sealed, aad); err == nil {
			t.Errorf("Open with %+v succeeded", aad)
		}
	}
}

func TestLoadKeyring(t *testing.T) {
	ctx := context.Background()
	km := crypto.NewKeyMaterial()
	store := &memStore{}
	first := mustRing(t, km, store, newClock().now)
	sealed := mustSeal(t, first, []byte("kept"), rowAAD)

	t.Run("ok/reuses the stored data key", func(t *testing.T) {
		again := mustRing(t, km, store, newClock().now)
		if n := len(store.snapshot()); n != 1 {
			t.Fatalf("store holds %d data keys, want 1", n)
		}
		if again.ActiveKeyID() != first.ActiveKeyID() {
			t.Fatalf("active key %s, want %s", again.ActiveKeyID(), first.ActiveKeyID())
		}
		if got, err := again.Open(sealed, rowAAD); err != nil || string(got) != "kept" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("error/wrong master key", func(t *testing.T) {
		wrong := *km
		wrong.MasterKeys = map[int][]byte{1: bytes.Repeat([]byte{9}, 32)}
		_, err := crypto.LoadKeyring(ctx, &wrong, store, newClock().now)
		if !errors.Is(err, crypto.ErrMasterKeyMismatch) {
			t.Fatalf("err = %v, want ErrMasterKeyMismatch", err)
		}
		if msg := err.Error(); !strings.Contains(msg, first.ActiveKeyID()) || !strings.Contains(msg, "master key does not match") {
			t.Fatalf("error %q does not name the data key and the mismatch", msg)
		}
	})
	t.Run("error/master key version missing", func(t *testing.T) {
		other := *km
		other.MasterKeys = map[int][]byte{2: bytes.Repeat([]byte{9}, 32)}
		other.ActiveMaster = 2
		_, err := crypto.LoadKeyring(ctx, &other, store, newClock().now)
		if err == nil || !strings.Contains(err.Error(), first.ActiveKeyID()) || !strings.Contains(err.Error(), "version 1") {
			t.Fatalf("err = %v, want one naming the data key and version 1", err)
		}
	})
	t.Run("error/invalid key material", func(t *testing.T) {
		bad := *km
		bad.BlindKey = []byte("short")
		if _, err := crypto.LoadKeyring(ctx, &bad, &memStore{}, newClock().now); err == nil {
			t.Fatal("LoadKeyring accepted a 5-byte blind key")
		}
	})
	t.Run("error/store refuses the first data key", func(t *testing.T) {
		_, err := crypto.LoadKeyring(ctx, crypto.NewKeyMaterial(), &memStore{failAdd: errors.New("disk full")}, newClock().now)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v, want the store's error", err)
		}
	})
}

// TestKeyringCopiesKeyMaterial: Rotate changes km in place while a loaded
// keyring may be in use; the keyring must not share its maps.
func TestKeyringCopiesKeyMaterial(t *testing.T) {
	km := crypto.NewKeyMaterial()
	ring := mustRing(t, km, &memStore{}, newClock().now)
	sealed := mustSeal(t, ring, []byte("x"), rowAAD)
	clear(km.MasterKeys[1])
	if _, err := ring.Open(sealed, rowAAD); err != nil {
		t.Fatalf("Open after the caller zeroed its copy of the master key: %v", err)
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	clk := newClock() // never moves: rotation must not depend on a ticking clock
	km := crypto.NewKeyMaterial()
	oldMaster := slices.Clone(km.MasterKeys[1])
	store := &memStore{}
	ring1 := mustRing(t, km, store, clk.now)
	oldSealed := mustSeal(t, ring1, []byte("before rotation"), rowAAD)
	before := store.snapshot()

	v, err := crypto.Rotate(ctx, km, store, clk.now)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if v != 2 || km.ActiveMaster != 2 || len(km.MasterKeys[2]) != 32 || bytes.Equal(km.MasterKeys[2], oldMaster) {
		t.Fatalf("after Rotate: v=%d active=%d, want a fresh 32-byte version 2", v, km.ActiveMaster)
	}
	if !bytes.Equal(km.MasterKeys[1], oldMaster) {
		t.Fatal("Rotate changed master key version 1")
	}
	after := store.snapshot()
	if store.rewrapCalls != 1 || len(after) != len(before)+1 {
		t.Fatalf("rewrap calls %d, data keys %d -> %d; want 1 call and one new key", store.rewrapCalls, len(before), len(after))
	}
	for _, wk := range after {
		if wk.KEKVersion != 2 {
			t.Fatalf("data key %s still wrapped under version %d", wk.ID, wk.KEKVersion)
		}
	}
	if bytes.Equal(after[0].Wrapped, before[0].Wrapped) {
		t.Fatal("old data key's wrapping did not change")
	}

	delete(km.MasterKeys, 1) // safe after rotation: no data key needs it
	ring2 := mustRing(t, km, store, clk.now)
	if got, err := ring2.Open(oldSealed, rowAAD); err != nil || string(got) != "before rotation" {
		t.Fatalf("old data after rotation: Open = %q, %v", got, err)
	}
	if ring2.ActiveKeyID() == ring1.ActiveKeyID() || ring2.ActiveKeyID() != after[len(after)-1].ID {
		t.Fatalf("active key %s; want the fresh key %s", ring2.ActiveKeyID(), after[len(after)-1].ID)
	}
	newSealed := mustSeal(t, ring2, []byte("after"), rowAAD)
	if id := sealedKeyID(newSealed); id != ring2.ActiveKeyID() {
		t.Fatalf("new seal uses key %s, want %s", id, ring2.ActiveKeyID())
	}
	if n := len(store.snapshot()); n != len(after) {
		t.Fatalf("reload added a data key: %d keys, want %d", n, len(after))
	}
}

func TestRotateTwice(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	km := crypto.NewKeyMaterial()
	store := &memStore{}
	sealed := mustSeal(t, mustRing(t, km, store, clk.now), []byte("x"), rowAAD)
	for want := 2; want <= 3; want++ {
		if v, err := crypto.Rotate(ctx, km, store, clk.now); err != nil || v != want {
			t.Fatalf("Rotate = %d, %v; want %d", v, err, want)
		}
	}
	km.MasterKeys = map[int][]byte{3: km.MasterKeys[3]}
	if _, err := mustRing(t, km, store, clk.now).Open(sealed, rowAAD); err != nil {
		t.Fatalf("Open after two rotations with only version 3: %v", err)
	}
}

func TestRotateFailure(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*crypto.KeyMaterial, *memStore) {
		km := crypto.NewKeyMaterial()
		store := &memStore{}
		mustRing(t, km, store, newClock().now)
		return km, store
	}
	t.Run("error/nothing stored: key material unchanged", func(t *testing.T) {
		km, store := setup(t)
		store.failAdd = errors.New("db down")
		before := store.snapshot()
		v, err := crypto.Rotate(ctx, km, store, newClock().now)
		if err == nil || v != 0 {
			t.Fatalf("Rotate = %d, %v; want 0 and an error", v, err)
		}
		if km.ActiveMaster != 1 || len(km.MasterKeys) != 1 {
			t.Fatalf("key material changed: active %d, %d versions", km.ActiveMaster, len(km.MasterKeys))
		}
		if store.rewrapCalls != 0 || !slices.EqualFunc(before, store.snapshot(), sameKey) {
			t.Fatal("store changed")
		}
	})
	t.Run("error/re-wrap fails: version kept and reported", func(t *testing.T) {
		km, store := setup(t)
		store.failRewrap = errors.New("serialization failure")
		v, err := crypto.Rotate(ctx, km, store, newClock().now)
		if err == nil || v != 2 || km.ActiveMaster != 2 || !strings.Contains(err.Error(), "save the key material") {
			t.Fatalf("Rotate = %d, %v (active %d); want 2, an error asking to save, active 2", v, err, km.ActiveMaster)
		}
		store.failRewrap = nil
		if err := crypto.Rewrap(ctx, km, store, newClock().now); err != nil {
			t.Fatalf("Rewrap to finish: %v", err)
		}
		for _, wk := range store.snapshot() {
			if wk.KEKVersion != 2 {
				t.Fatalf("data key %s under version %d after Rewrap", wk.ID, wk.KEKVersion)
			}
		}
	})
	t.Run("error/wrong master key: nothing changes", func(t *testing.T) {
		_, store := setup(t)
		km := crypto.NewKeyMaterial()
		if _, err := crypto.Rotate(ctx, km, store, newClock().now); !errors.Is(err, crypto.ErrMasterKeyMismatch) {
			t.Fatalf("err = %v, want ErrMasterKeyMismatch", err)
		}
		if len(km.MasterKeys) != 1 || len(store.snapshot()) != 1 || store.rewrapCalls != 0 {
			t.Fatal("a failed rotation changed the key material or the store")
		}
	})
}

func sameKey(a, b crypto.WrappedKey) bool {
	return a.ID == b.ID && a.KEKVersion == b.KEKVersion && bytes.Equal(a.Wrapped, b.Wrapped)
}

// TestTwoStepRotation is the crash-safe order: add the version, save the key
// file, then re-wrap.
func TestTwoStepRotation(t *testing.T) {
	ctx := context.Background()
	km := crypto.NewKeyMaterial()
	store := &memStore{}
	sealed := mustSeal(t, mustRing(t, km, store, newClock().now), []byte("x"), rowAAD)
	v, err := crypto.AddMasterKey(km)
	if err != nil || v != 2 || km.ActiveMaster != 2 {
		t.Fatalf("AddMasterKey = %d, %v (active %d)", v, err, km.ActiveMaster)
	}
	if store.rewrapCalls != 0 || len(store.snapshot()) != 1 {
		t.Fatal("AddMasterKey touched the store")
	}
	if err := crypto.Rewrap(ctx, km, store, newClock().now); err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	delete(km.MasterKeys, 1)
	if _, err := mustRing(t, km, store, newClock().now).Open(sealed, rowAAD); err != nil {
		t.Fatalf("Open: %v", err)
	}
}

// TestOpenFindsKeyOfAnotherNode: two nodes starting on an empty database
// each create a data key; each must open what the other sealed.
func TestOpenFindsKeyOfAnotherNode(t *testing.T) {
	km := crypto.NewKeyMaterial()
	clk := newClock()
	store := &memStore{}
	nodeA := mustRing(t, km, store, clk.now)
	store.stale = true // node B read the store before node A's insert
	nodeB := mustRing(t, km, store, clk.now)
	if nodeA.ActiveKeyID() == nodeB.ActiveKeyID() {
		t.Fatal("test setup: both nodes share a data key")
	}
	fromB := mustSeal(t, nodeB, []byte("from b"), rowAAD)
	if got, err := nodeA.Open(fromB, rowAAD); err != nil || string(got) != "from b" {
		t.Fatalf("node A opening node B's value: %q, %v", got, err)
	}

	// A made-up key id triggers at most one store read per second.
	bogus := slices.Clone(fromB)
	copy(bogus[2:], "dek_zzzz")
	if _, err := nodeB.Open(bogus, rowAAD); !errors.Is(err, crypto.ErrOpen) {
		t.Fatalf("bogus key id: err = %v, want ErrOpen", err)
	}
	fromA := mustSeal(t, nodeA, []byte("from a"), rowAAD)
	reads := store.reads
	if _, err := nodeB.Open(fromA, rowAAD); err == nil || store.reads != reads {
		t.Fatalf("within a second of its last reload node B read the store again (err %v)", err)
	}
	clk.add(time.Second)
	if got, err := nodeB.Open(fromA, rowAAD); err != nil || string(got) != "from a" {
		t.Fatalf("node B opening node A's value a second later: %q, %v", got, err)
	}
}

func TestBlindIndex(t *testing.T) {
	km := crypto.NewKeyMaterial()
	ring := mustRing(t, km, &memStore{}, newClock().now)
	base := ring.BlindIndex("customer.rrn", []byte("9001011234567"))
	if len(base) != 32 {
		t.Fatalf("index is %d bytes, want 32", len(base))
	}
	otherMaster := *km
	otherMaster.MasterKeys = map[int][]byte{1: bytes.Repeat([]byte{7}, 32)}
	otherBlind := *km
	otherBlind.BlindKey = bytes.Repeat([]byte{8}, 32)
	tests := []struct {
		name  string
		got   []byte
		equal bool
	}{
		{"ok/deterministic", ring.BlindIndex("customer.rrn", []byte("9001011234567")), true},
		{"ok/independent of the master key", mustRing(t, &otherMaster, &memStore{}, newClock().now).BlindIndex("customer.rrn", []byte("9001011234567")), true},
		{"differs/other value", ring.BlindIndex("customer.rrn", []byte("9001011234568")), false},
		{"differs/other purpose", ring.BlindIndex("account.number", []byte("9001011234567")), false},
		{"differs/bytes shifted from purpose to value", ring.BlindIndex("customer.rr", []byte("n9001011234567")), false},
		{"differs/other blind key", mustRing(t, &otherBlind, &memStore{}, newClock().now).BlindIndex("customer.rrn", []byte("9001011234567")), false},
		{"differs/plain HMAC of the value", crypto.MAC(km.BlindKey, []byte("9001011234567")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.got, base) != tt.equal {
				t.Fatalf("equal = %v, want %v", !tt.equal, tt.equal)
			}
		})
	}
}

func TestKeyringConcurrentUse(t *testing.T) {
	ring := mustRing(t, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			aad := crypto.AAD{Table: "t", Column: "c", RowID: string(rune('a' + g))}
			for range 100 {
				sealed, err := ring.Seal([]byte("v"), aad)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := ring.Open(sealed, aad); err != nil {
					t.Error(err)
					return
				}
				ring.BlindIndex("p", []byte("v"))
			}
		})
	}
	wg.Wait()
}

func FuzzOpen(f *testing.F) {
	km := &crypto.KeyMaterial{
		MasterKeys: map[int][]byte{1: bytes.Repeat([]byte{1}, 32)}, ActiveMaster: 1,
		BlindKey: bytes.Repeat([]byte{2}, 32), Pepper: bytes.Repeat([]byte{3}, 32), AuditSeed: bytes.Repeat([]byte{4}, 32),
	}
	ring := mustRing(f, km, &memStore{}, newClock().now)
	valid := mustSeal(f, ring, []byte("900101-1234567"), rowAAD)
	f.Add(valid, "customers", "rrn", "cus_1")
	f.Add(valid[:len(valid)-1], "customers", "rrn", "cus_1")
	f.Add(valid, "customers", "rrn", "cus_2")
	f.Add([]byte{}, "t", "c", "r")
	f.Add([]byte{1}, "t", "c", "r")
	f.Add([]byte{1, 255, 'd'}, "t", "c", "r")
	f.Add([]byte{2, 4, 'd', 'e', 'k', '_'}, "t", "c", "r")
	f.Add(append([]byte{1, 0}, make([]byte, 40)...), "t", "c", "r")
	f.Fuzz(func(t *testing.T, sealed []byte, table, column, row string) {
		aad := crypto.AAD{Table: table, Column: column, RowID: row}
		plain, err := ring.Open(sealed, aad)
		if err != nil {
			return
		}
		if !bytes.Equal(sealed, valid) || aad != rowAAD || string(plain) != "900101-1234567" {
			t.Fatalf("Open accepted a value it never sealed: %x with %+v", sealed, aad)
		}
	})
}
