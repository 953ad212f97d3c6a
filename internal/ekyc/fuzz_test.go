package ekyc

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPolicyNormalize: a policy that normalizes names known methods once
// each, needs 2–6 in all and at least its required ones, and normalizes
// to itself.
func FuzzPolicyNormalize(f *testing.F) {
	f.Add("id_card,existing_account", 0)
	f.Add("", 2)
	f.Add("otp,otp", 3)
	f.Add("biometric,video_call,carrier,otp,id_card,existing_account", 0)
	f.Add("access_media", 7)
	f.Fuzz(func(t *testing.T, required string, min int) {
		p := Policy{Min: min}
		if required != "" {
			for _, m := range strings.Split(required, ",") {
				p.Required = append(p.Required, Method(m))
			}
		}
		got, err := p.Normalize()
		if err != nil {
			return
		}
		if got.Min < MinMethods || got.Min > MaxMethods || got.Min < len(got.Required) {
			t.Fatalf("normalize(%+v) = %+v", p, got)
		}
		for i, m := range got.Required {
			if !m.Known() || slices.Contains(got.Required[i+1:], m) {
				t.Fatalf("normalize(%+v) kept %q", p, m)
			}
		}
		again, err := got.Normalize()
		if err != nil || again.Min != got.Min || !slices.Equal(again.Required, got.Required) {
			t.Fatalf("normalize is not idempotent: %+v then %+v (%v)", got, again, err)
		}
	})
}

// FuzzDecide: a session passes only with every required method and Min
// methods passed, and fails only when a required method cannot pass or
// too few methods can.
func FuzzDecide(f *testing.F) {
	f.Add(uint16(0b0101), uint8(0b11), 2)
	f.Add(uint16(0b10_00_00_00_00_01), uint8(0b1), 3)
	f.Add(uint16(0xFFFF), uint8(0xFF), 6)
	f.Fuzz(func(t *testing.T, states uint16, required uint8, min int) {
		p := Policy{Min: min}
		for i, m := range Methods {
			if required&(1<<i) != 0 {
				p.Required = append(p.Required, m)
			}
		}
		p, err := p.Normalize()
		if err != nil {
			return
		}
		var ms []MethodState
		for i, m := range Methods {
			switch (states >> (2 * i)) & 3 {
			case 1:
				ms = append(ms, MethodState{Method: m, Status: MethodStarted})
			case 2:
				ms = append(ms, MethodState{Method: m, Status: MethodPassed})
			case 3:
				ms = append(ms, MethodState{Method: m, Status: MethodFailed})
			}
		}
		st, reason := p.decide(ms)
		passed, alive := 0, 0
		reqOK, reqDead := true, false
		for _, m := range Methods {
			s := status(ms, m)
			ok := s != MethodFailed && !dead(ms, m)
			if s == MethodPassed {
				passed++
			}
			if ok {
				alive++
			}
			if slices.Contains(p.Required, m) {
				reqOK = reqOK && s == MethodPassed
				reqDead = reqDead || !ok
			}
		}
		switch st {
		case StatusPassed:
			if !reqOK || passed < p.Min {
				t.Fatalf("passed with %+v under %+v", ms, p)
			}
		case StatusFailed:
			if !reqDead && alive >= p.Min {
				t.Fatalf("failed (%s) with %+v under %+v", reason, ms, p)
			}
		case StatusPending:
			if (reqOK && passed >= p.Min) || reqDead || alive < p.Min {
				t.Fatalf("pending with %+v under %+v", ms, p)
			}
		}
	})
}

// FuzzInputs: the small validators accept only what they promise.
func FuzzInputs(f *testing.F) {
	for _, s := range []string{"", "ref-1:a.b_c", "a b", "code_wrong", "Face!", "rec/2026/1", " x", "한글", "\x00", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validReference(s) && (len(s) > maxReference || strings.ContainsFunc(s, func(r rune) bool {
			return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", r)
		})) {
			t.Fatalf("reference %q accepted", s)
		}
		if reasonCode(s) && (s == "" || len(s) > maxReasonCode || strings.ToLower(s) != s || strings.ContainsAny(s, " /")) {
			t.Fatalf("reason %q accepted", s)
		}
		if printable(s, maxRecordingRef) && (!utf8.ValidString(s) || utf8.RuneCountInString(s) > maxRecordingRef ||
			strings.TrimSpace(s) != s || strings.ContainsAny(s, "\x00\n\r\t")) {
			t.Fatalf("recording ref %q accepted", s)
		}
		if validCode(s) && (s == "" || len(s) > maxCodeInput) {
			t.Fatalf("code %q accepted", s)
		}
	})
}

// FuzzImageType: any non-empty image up to the limit is accepted, named
// by its magic bytes.
func FuzzImageType(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE0})
	f.Add([]byte("\x89PNG\r\n\x1a\nIHDR"))
	f.Add([]byte("face:kim:id"))
	f.Fuzz(func(t *testing.T, img []byte) {
		ct, err := ImageType(img)
		switch {
		case len(img) == 0:
			if err == nil {
				t.Fatal("empty image accepted")
			}
		case err != nil:
			t.Fatalf("image of %d bytes refused: %v", len(img), err)
		case bytes.HasPrefix(img, magicJPEG) != (ct == TypeJPEG), bytes.HasPrefix(img, magicPNG) != (ct == TypePNG):
			t.Fatalf("%q named %s", img, ct)
		}
	})
}
