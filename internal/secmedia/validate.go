package secmedia

import (
	"encoding/base32"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
)

// Errors of registration and verification; each names the field it is
// about.
var (
	ErrInvalidSerial = errs.New(errs.Invalid, "invalid_serial",
		"The serial must be 8 to 20 characters of A-Z, 0-9 and hyphens.",
		"일련번호는 영문 대문자, 숫자, 하이픈으로 8~20자여야 합니다.").WithField("serial")
	ErrInvalidKind = errs.New(errs.Invalid, "invalid_media_kind",
		"The kind must be totp or hotp.",
		"보안매체 종류는 totp 또는 hotp여야 합니다.").WithField("kind")
	ErrInvalidSeed = errs.New(errs.Invalid, "invalid_seed",
		"The seed must be base32 encoding 16 to 64 bytes.",
		"시드는 16~64바이트를 인코딩한 base32여야 합니다.").WithField("seed")
	ErrInvalidDigits = errs.New(errs.Invalid, "invalid_digits",
		"The digits must be 6 or 8.",
		"자릿수는 6 또는 8이어야 합니다.").WithField("digits")
	ErrInvalidPeriod = errs.New(errs.Invalid, "invalid_period",
		"The period must be 30 or 60 seconds for totp and absent for hotp.",
		"주기는 totp에서 30초 또는 60초여야 하며 hotp에서는 지정하지 않습니다.").WithField("period")
	ErrInvalidAlgorithm = errs.New(errs.Invalid, "invalid_algorithm",
		"The algorithm must be SHA1, SHA256 or SHA512.",
		"알고리즘은 SHA1, SHA256, SHA512 중 하나여야 합니다.").WithField("algorithm")
	ErrCodeFormat = errs.New(errs.Invalid, "invalid_otp_code",
		"The code must be the 6 or 8 digits the security medium shows.",
		"보안매체에 표시된 6자리 또는 8자리 숫자를 입력하세요.").WithField("code")
)

const (
	minSerial, maxSerial = 8, 20
	minSeed, maxSeed     = 16, 64 // bytes; 64 is SHA-512's block, RFC 6238's longest seed
	// maxSeedInput bounds the text before it is looked at closely: 64
	// bytes are 103 base32 characters, spaces and padding aside.
	maxSeedInput = 256
	seedBytes    = 20 // NewSeed: RFC 4226 §4 asks for 160 bits
)

// b32 is RFC 4648 base32 without padding, the form authenticator apps and
// pquerna/otp read.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Registration is what an institution sends to register a medium it
// issued. Zero Digits, Period (TOTP) and Algorithm take the defaults.
// String, GoString, LogValue and MarshalJSON leave the seed out, so a
// Registration can be logged or dumped without leaking it.
type Registration struct {
	Serial     string
	Kind       Kind
	SeedBase32 string
	Digits     int
	Period     int
	Algorithm  Algorithm
	Holder     ekyc.Applicant
}

// NewSeed returns a fresh 160-bit seed as upper-case unpadded base32, for
// issuing a medium (and for the demo, which computes its codes).
func NewSeed() string {
	return strings.ToUpper(crypto.RandomBase32(seedBytes))
}

// validated is a Registration after normalisation: the seed decoded, the
// holder normalised, the defaults applied.
type validated struct {
	serial    string
	kind      Kind
	seed      []byte
	digits    int
	period    int
	algorithm Algorithm
	holder    ekyc.Applicant
}

// validate normalises and checks every field. Its errors never carry the
// seed or a decoder's message about it.
func (r Registration) validate() (*validated, error) {
	v := &validated{kind: r.Kind, digits: r.Digits, period: r.Period, algorithm: r.Algorithm}
	var err error
	if v.serial, err = NormalizeSerial(r.Serial); err != nil {
		return nil, err
	}
	if err := v.applyDefaults(); err != nil {
		return nil, err
	}
	if v.seed, err = decodeSeed(r.SeedBase32); err != nil {
		return nil, err
	}
	if v.holder, err = normalizeHolder(r.Holder); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *validated) applyDefaults() error {
	if v.kind != TOTP && v.kind != HOTP {
		return ErrInvalidKind
	}
	if v.digits == 0 {
		v.digits = DefaultDigits
	}
	if v.digits != 6 && v.digits != 8 {
		return ErrInvalidDigits
	}
	if v.algorithm == "" {
		v.algorithm = DefaultAlgorithm
	}
	if v.algorithm != SHA1 && v.algorithm != SHA256 && v.algorithm != SHA512 {
		return ErrInvalidAlgorithm
	}
	return v.checkPeriod()
}

func (v *validated) checkPeriod() error {
	if v.kind == HOTP {
		if v.period != 0 {
			return ErrInvalidPeriod
		}
		return nil
	}
	if v.period == 0 {
		v.period = DefaultPeriod
	}
	if v.period != 30 && v.period != 60 {
		return ErrInvalidPeriod
	}
	return nil
}

// NormalizeSerial upper-cases a serial (people type what is printed on the
// back of a token in either case) and checks it: 8–20 of A-Z, 0-9, '-'.
func NormalizeSerial(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) < minSerial || len(s) > maxSerial {
		return "", ErrInvalidSerial
	}
	s = strings.ToUpper(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", ErrInvalidSerial
		}
	}
	return s, nil
}

// decodeSeed reads base32 in either case, with or without padding, with
// the spaces seeds are often printed in groups with. Only the canonical
// encoding is accepted: Go's unpadded decoder silently drops a stray
// trailing character and ignores non-zero trailing bits, which would let a
// mistyped seed through as another one.
func decodeSeed(s string) ([]byte, error) {
	if len(s) > maxSeedInput {
		return nil, ErrInvalidSeed
	}
	s = strings.TrimRight(strings.ToUpper(strings.ReplaceAll(s, " ", "")), "=")
	seed, err := b32.DecodeString(s)
	if err != nil || b32.EncodeToString(seed) != s || len(seed) < minSeed || len(seed) > maxSeed {
		return nil, ErrInvalidSeed // the decoder's message is not passed on
	}
	return seed, nil
}

// normalizeHolder checks and normalises the holder as customers are (name
// NFC, real birth date, phone digits), so the same person typed two ways
// gets one blind index.
func normalizeHolder(a ekyc.Applicant) (ekyc.Applicant, error) {
	n := customer.New{Name: a.Name, BirthDate: a.BirthDate, Phone: a.Phone}
	if err := n.Validate(); err != nil {
		if e := errs.As(err); e != nil {
			return ekyc.Applicant{}, e.WithField("holder." + e.Field)
		}
		return ekyc.Applicant{}, err
	}
	return ekyc.Applicant{Name: n.Name, BirthDate: n.BirthDate, Phone: n.Phone}, nil
}

// redacted is a Registration with the seed replaced and the holder left
// out, for every way of printing one.
type redacted struct {
	Serial    string    `json:"serial"`
	Kind      Kind      `json:"kind"`
	Seed      string    `json:"seed"`
	Digits    int       `json:"digits"`
	Period    int       `json:"period"`
	Algorithm Algorithm `json:"algorithm"`
}

const seedRedacted = "[redacted]"

func (r Registration) redacted() redacted {
	return redacted{Serial: r.Serial, Kind: r.Kind, Seed: seedRedacted, Digits: r.Digits, Period: r.Period,
		Algorithm: r.Algorithm}
}

// String leaves the seed and the holder out.
func (r Registration) String() string {
	return fmt.Sprintf("secmedia.Registration{Serial:%q Kind:%s Seed:%s Digits:%d Period:%d Algorithm:%s}",
		r.Serial, r.Kind, seedRedacted, r.Digits, r.Period, r.Algorithm)
}

// GoString is String, so %#v does not print the seed either.
func (r Registration) GoString() string { return r.String() }

// LogValue keeps the seed out of structured logs.
func (r Registration) LogValue() slog.Value {
	return slog.GroupValue(slog.String("serial", r.Serial), slog.String("kind", string(r.Kind)),
		slog.String("seed", seedRedacted), slog.Int("digits", r.Digits), slog.Int("period", r.Period),
		slog.String("algorithm", string(r.Algorithm)))
}

// MarshalJSON writes the redacted form: a Registration is input, never
// output, and a dump of one must not carry the seed.
func (r Registration) MarshalJSON() ([]byte, error) { return json.Marshal(r.redacted()) }
