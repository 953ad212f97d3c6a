package crypto

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

var testPepper = []byte("0123456789abcdef0123456789abcdef")

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testPepper, TestHashParams, 2, 4)
	encoded, err := h.Hash(ctx, []byte("123456"))
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("Hash = %q, want a PHC argon2id string with the hasher's parameters", encoded)
	}
	if again, _ := h.Hash(ctx, []byte("123456")); again == encoded {
		t.Fatal("two hashes of one secret are equal: salt not random")
	}
	otherParams := HashParams{Time: 2, MemKiB: 128, Threads: 2}
	tests := []struct {
		name   string
		hasher *Hasher
		secret string
		want   bool
	}{
		{"ok", h, "123456", true},
		{"ok/hasher with other parameters verifies with the stored ones", NewHasher(testPepper, otherParams, 1, 0), "123456", true},
		{"mismatch/wrong secret", h, "123457", false},
		{"mismatch/empty secret", h, "", false},
		{"mismatch/wrong pepper", NewHasher([]byte("another pepper, 32 bytes long..."), TestHashParams, 1, 0), "123456", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := tt.hasher.Verify(ctx, encoded, []byte(tt.secret))
			if err != nil || ok != tt.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
}

// TestHashIsPeppered: the stored hash is Argon2id of HMAC(pepper, secret),
// not of the secret, so the database alone cannot be brute-forced.
func TestHashIsPeppered(t *testing.T) {
	h := NewHasher(testPepper, TestHashParams, 1, 0)
	encoded, err := h.Hash(context.Background(), []byte("123456"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePHC(encoded)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.key) == string(deriveRaw([]byte("123456"), p)) {
		t.Fatal("hash is of the bare secret")
	}
	if string(p.key) != string(deriveRaw(MAC(testPepper, []byte("123456")), p)) {
		t.Fatal("hash is not Argon2id of HMAC-SHA256(pepper, secret)")
	}
}

func TestHasherRefuses(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testPepper, TestHashParams, 1, 0)
	tests := []struct {
		name    string
		encoded string
	}{
		{"error/empty", ""},
		{"error/argon2i", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/memory above 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/time above 10", "$argon2id$v=19$m=64,t=11,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/threads above 16", "$argon2id$v=19$m=4096,t=1,p=17$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/threads above 255", "$argon2id$v=19$m=4096,t=1,p=257$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/padded base64", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/newline inside base64", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRz\nYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/fields reordered", "$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/old version", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
		{"error/short hash", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tt.encoded, []byte("x"))
			if ok || !errors.Is(err, ErrHashFormat) {
				t.Fatalf("Verify = %v, %v; want false and ErrHashFormat", ok, err)
			}
		})
	}
	if _, err := NewHasher(nil, TestHashParams, 1, 0).Hash(ctx, []byte("x")); err == nil {
		t.Error("error/no pepper: Hash succeeded")
	}
	if _, err := NewHasher(testPepper, HashParams{}, 1, 0).Hash(ctx, []byte("x")); err == nil {
		t.Error("error/zero parameters: Hash succeeded")
	}
}

func TestHashParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    HashParams
		ok   bool
	}{
		{"ok/default", DefaultHashParams, true},
		{"ok/test", TestHashParams, true},
		{"ok/upper bounds", HashParams{Time: 10, MemKiB: 1 << 20, Threads: 16}, true},
		{"error/time 0", HashParams{Time: 0, MemKiB: 64, Threads: 1}, false},
		{"error/time 11", HashParams{Time: 11, MemKiB: 64, Threads: 1}, false},
		{"error/threads 0", HashParams{Time: 1, MemKiB: 64, Threads: 0}, false},
		{"error/threads 17", HashParams{Time: 1, MemKiB: 4096, Threads: 17}, false},
		{"error/memory below 8 per thread", HashParams{Time: 1, MemKiB: 15, Threads: 2}, false},
		{"error/memory above 1 GiB", HashParams{Time: 1, MemKiB: 1<<20 + 1, Threads: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h := NewHasher(testPepper, TestHashParams, 1, 0)
	encoded, err := h.Hash(context.Background(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if h.NeedsRehash(encoded) {
		t.Error("ok/same parameters: NeedsRehash = true")
	}
	if !NewHasher(testPepper, HashParams{Time: 2, MemKiB: 64, Threads: 1}, 1, 0).NeedsRehash(encoded) {
		t.Error("stronger parameters: NeedsRehash = false")
	}
	if !h.NeedsRehash("garbage") {
		t.Error("malformed: NeedsRehash = false")
	}
}

func TestDummyVerify(t *testing.T) {
	h := NewHasher(testPepper, TestHashParams, 1, 0)
	var runs atomic.Int32
	h.hook = func() { runs.Add(1) }
	if err := h.DummyVerify(context.Background(), []byte("123456")); err != nil {
		t.Fatalf("DummyVerify: %v", err)
	}
	if runs.Load() != 1 {
		t.Fatalf("DummyVerify ran %d hashes, want 1", runs.Load())
	}
	p, err := parsePHC(h.dummy)
	if err != nil || p.params != h.params || len(p.key) != hashKeySize {
		t.Fatalf("dummy hash %q does not use the hasher's parameters (%v)", h.dummy, err)
	}
}

// blockedHasher returns a hasher whose running hashes wait in the hook until
// release is closed; entered receives once per hash that got a slot.
func blockedHasher(workers, queue int) (h *Hasher, entered chan struct{}, release chan struct{}) {
	h = NewHasher(testPepper, TestHashParams, workers, queue)
	entered, release = make(chan struct{}, 16), make(chan struct{})
	h.hook = func() {
		entered <- struct{}{}
		<-release
	}
	return h, entered, release
}

// waitFor polls until cond holds; it does not depend on how long anything takes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		runtime.Gosched()
	}
}

func TestHasherPool(t *testing.T) {
	h, entered, release := blockedHasher(1, 1)
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, []byte("a")); first <- err }()
	<-entered // the only slot is taken

	if h.Full() {
		t.Fatal("Full = true with a queue place free")
	}
	waitCtx, cancel := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() { _, err := h.Verify(waitCtx, h.dummy, []byte("b")); second <- err }()
	waitFor(t, func() bool { return len(h.waiting) == 1 }) // the only queue place is taken

	t.Run("error/queue full: busy at once", func(t *testing.T) {
		if !h.Full() {
			t.Fatal("Full = false with the slot and the queue taken")
		}
		if _, err := h.Hash(ctx, []byte("c")); !errors.Is(err, ErrBusy) {
			t.Fatalf("Hash = %v, want ErrBusy", err)
		}
		if err := h.DummyVerify(ctx, []byte("c")); !errors.Is(err, ErrBusy) {
			t.Fatalf("DummyVerify = %v, want ErrBusy", err)
		}
	})
	t.Run("error/cancelled while waiting", func(t *testing.T) {
		cancel()
		if err := <-second; !errors.Is(err, context.Canceled) {
			t.Fatalf("waiting Verify = %v, want context.Canceled", err)
		}
		if n := len(h.waiting); n != 0 {
			t.Fatalf("%d callers still counted as waiting", n)
		}
	})
	t.Run("ok/waiter gets the slot when it frees", func(t *testing.T) {
		third := make(chan error, 1)
		go func() { _, err := h.Hash(ctx, []byte("d")); third <- err }()
		waitFor(t, func() bool { return len(h.waiting) == 1 })
		close(release)
		if err := <-first; err != nil {
			t.Fatalf("first Hash: %v", err)
		}
		if err := <-third; err != nil {
			t.Fatalf("queued Hash: %v", err)
		}
	})
}

func TestHasherNoQueue(t *testing.T) {
	h, entered, release := blockedHasher(1, 0)
	defer close(release)
	go h.Hash(context.Background(), []byte("a"))
	<-entered
	if _, err := h.Hash(context.Background(), []byte("b")); !errors.Is(err, ErrBusy) {
		t.Fatalf("with queue 0 and the slot taken: %v, want ErrBusy", err)
	}
}

func TestHasherCancelledContext(t *testing.T) {
	h := NewHasher(testPepper, TestHashParams, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, []byte("a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a cancelled context = %v, want context.Canceled", err)
	}
}

func deriveRaw(in []byte, p phc) []byte {
	return argon2.IDKey(in, p.salt, p.params.Time, p.params.MemKiB, p.params.Threads, uint32(len(p.key)))
}
