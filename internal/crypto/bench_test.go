package crypto_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/haechi/haechi/internal/crypto"
)

func BenchmarkSealOpen1KiB(b *testing.B) {
	ring := mustRing(b, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	plain := bytes.Repeat([]byte{'x'}, 1024)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		sealed, err := ring.Seal(plain, rowAAD)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ring.Open(sealed, rowAAD); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	ring := mustRing(b, crypto.NewKeyMaterial(), &memStore{}, newClock().now)
	value := []byte("9001011234567")
	for b.Loop() {
		ring.BlindIndex("customer.rrn", value)
	}
}

func BenchmarkArgon2idVerify(b *testing.B) {
	ctx := context.Background()
	h := crypto.NewHasher(bytes.Repeat([]byte{3}, 32), crypto.DefaultHashParams, 1, 0)
	encoded, err := h.Hash(ctx, []byte("123456"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := h.Verify(ctx, encoded, []byte("123456")); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkMAC(b *testing.B) {
	key := bytes.Repeat([]byte{1}, 32)
	msg := []byte("hk_0123456789abcdefghijklmnopq_secretsecretsecretsecret")
	for b.Loop() {
		crypto.MAC(key, msg)
	}
}
