package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/webhook"
)

var (
	signedAt = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	body     = []byte(`{"id":"evt_1","type":"verification.passed","status":"passed"}`)
	oldKey   = []byte("whsec_old-secret")
	newKey   = []byte("whsec_new-secret")
)

// hexMAC is the expected v1, computed here without the package's code.
func hexMAC(key []byte, t int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.FormatInt(t, 10) + "." + string(body)))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSign(t *testing.T) {
	ts := signedAt.Unix()
	got := webhook.Sign([][]byte{newKey, oldKey}, signedAt, body)
	want := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hexMAC(newKey, ts, body) + ",v1=" + hexMAC(oldKey, ts, body)
	if got != want {
		t.Fatalf("Sign =\n %s\nwant\n %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	ts := signedAt.Unix()
	good := webhook.Sign([][]byte{newKey}, signedAt, body)
	v1 := hexMAC(newKey, ts, body)
	at := func(d time.Duration) string { return webhook.Sign([][]byte{newKey}, signedAt.Add(d), body) }
	tests := []struct {
		name    string
		header  string
		body    []byte
		secrets [][]byte
		want    error
	}{
		{"ok", good, body, [][]byte{newKey}, nil},
		{"ok/second of two v1", webhook.Sign([][]byte{oldKey, newKey}, signedAt, body), body, [][]byte{newKey}, nil},
		{"ok/receiver holding old and new", good, body, [][]byte{oldKey, newKey}, nil},
		{"ok/upper-case hex", "t=" + strconv.FormatInt(ts, 10) + ",v1=" + strings.ToUpper(v1), body, [][]byte{newKey}, nil},
		{"ok/unknown scheme skipped", "t=" + strconv.FormatInt(ts, 10) + ",v2=later,v1=" + v1, body, [][]byte{newKey}, nil},
		{"ok/300 s old", at(-webhook.Tolerance), body, [][]byte{newKey}, nil},
		{"ok/300 s ahead", at(webhook.Tolerance), body, [][]byte{newKey}, nil},
		{"error/301 s old", at(-webhook.Tolerance - time.Second), body, [][]byte{newKey}, webhook.ErrTimestampOutOfTolerance},
		{"error/301 s ahead", at(webhook.Tolerance + time.Second), body, [][]byte{newKey}, webhook.ErrTimestampOutOfTolerance},
		{"error/wrong secret", good, body, [][]byte{oldKey}, webhook.ErrSignatureMismatch},
		{"error/leading zero", "t=0" + strconv.FormatInt(ts, 10) + ",v1=" + v1, body, [][]byte{newKey}, webhook.ErrBadTimestamp},
		{"error/no secret", good, body, nil, webhook.ErrSignatureMismatch},
		{"error/body changed", good, []byte(`{"id":"evt_1","status":"failed"}`), [][]byte{newKey}, webhook.ErrSignatureMismatch},
		{"error/timestamp changed", "t=" + strconv.FormatInt(ts+1, 10) + ",v1=" + v1, body, [][]byte{newKey}, webhook.ErrSignatureMismatch},
		{"error/missing t", "v1=" + v1, body, [][]byte{newKey}, webhook.ErrNoTimestamp},
		{"error/non-numeric t", "t=1e9,v1=" + v1, body, [][]byte{newKey}, webhook.ErrBadTimestamp},
		{"error/signed t", "t=+" + strconv.FormatInt(ts, 10) + ",v1=" + v1, body, [][]byte{newKey}, webhook.ErrBadTimestamp},
		{"error/t overflows", "t=99999999999999999999,v1=" + v1, body, [][]byte{newKey}, webhook.ErrBadTimestamp},
		{"error/no v1", "t=" + strconv.FormatInt(ts, 10), body, [][]byte{newKey}, webhook.ErrNoSignature},
		{"error/v1 not hex", "t=" + strconv.FormatInt(ts, 10) + ",v1=" + strings.Repeat("zz", 32), body, [][]byte{newKey}, webhook.ErrBadSignatureEncoding},
		{"error/v1 short", "t=" + strconv.FormatInt(ts, 10) + ",v1=" + v1[:62], body, [][]byte{newKey}, webhook.ErrBadSignatureEncoding},
		{"error/two t", good + ",t=" + strconv.FormatInt(ts, 10), body, [][]byte{newKey}, webhook.ErrHeaderMalformed},
		{"error/space after comma", strings.Replace(good, ",", ", ", 1), body, [][]byte{newKey}, webhook.ErrHeaderMalformed},
		{"error/empty part", good + ",", body, [][]byte{newKey}, webhook.ErrHeaderMalformed},
		{"error/part without =", good + ",v1", body, [][]byte{newKey}, webhook.ErrHeaderMalformed},
		{"error/too many parts", good + strings.Repeat(",v1="+v1, 7), body, [][]byte{newKey}, webhook.ErrHeaderTooLarge},
		{"error/oversized", good + ",v9=" + strings.Repeat("a", 1024), body, [][]byte{newKey}, webhook.ErrHeaderTooLarge},
		{"error/empty", "", body, [][]byte{newKey}, webhook.ErrHeaderMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.header, tc.body, tc.secrets, signedAt, webhook.Tolerance)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyErrorsDistinct: a receiver can tell each refusal apart.
func TestVerifyErrorsDistinct(t *testing.T) {
	all := []error{webhook.ErrHeaderTooLarge, webhook.ErrHeaderMalformed, webhook.ErrNoTimestamp, webhook.ErrBadTimestamp,
		webhook.ErrNoSignature, webhook.ErrBadSignatureEncoding, webhook.ErrTimestampOutOfTolerance, webhook.ErrSignatureMismatch}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Fatalf("%v and %v are the same error", a, b)
			}
		}
	}
}

func TestVerifyDefaultTolerance(t *testing.T) {
	h := webhook.Sign([][]byte{newKey}, signedAt, body)
	if err := webhook.Verify(h, body, [][]byte{newKey}, signedAt.Add(webhook.Tolerance), 0); err != nil {
		t.Fatalf("at the edge of the default tolerance: %v", err)
	}
	err := webhook.Verify(h, body, [][]byte{newKey}, signedAt.Add(webhook.Tolerance+time.Second), 0)
	if !errors.Is(err, webhook.ErrTimestampOutOfTolerance) {
		t.Fatalf("past the default tolerance: %v", err)
	}
}
