package secmedia

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/mask"
)

var _ ekyc.SecurityMedia = (*Service)(nil)

// Service registers media and checks their codes. Store and Ring are
// required; MaxFailures is DefaultMaxFailures when 0; Now is time.Now when
// nil.
type Service struct {
	Store       Store
	Ring        *crypto.Keyring
	MaxFailures int
	Now         func() time.Time
}

// Errors of the registry beyond input validation.
var (
	ErrExists = errs.New(errs.Conflict, "security_medium_exists",
		"A security medium with this serial is already registered.",
		"이 일련번호의 보안매체가 이미 등록되어 있습니다.").WithField("serial")
	ErrLocked = errs.New(errs.Locked, "security_medium_locked",
		"The security medium is locked after too many wrong codes; ask the institution to unlock it.",
		"오류 횟수를 초과하여 보안매체가 잠겼습니다. 발급 기관에 잠금 해제를 요청하세요.")
)

// Names under which media are sealed, indexed and audited. Table and
// column go into each sealed value's AAD, so a seed copied to another row
// no longer opens.
const (
	table     = "security_media"
	colSeed   = "seed"
	colName   = "holder_name"
	colBirth  = "holder_birth_date"
	colPhone  = "holder_phone"
	idxHolder = "secmedia.holder"
	idPrefix  = "sm_"

	actRegister = "secmedia.register"
	actLock     = "secmedia.lock"
	actUnlock   = "secmedia.unlock"
)

// Register stores a medium institutionID issued. The seed is sealed at
// once and never returned.
func (s *Service) Register(ctx context.Context, actor, institutionID string, in Registration) (*View, error) {
	if institutionID == "" {
		return nil, fmt.Errorf("security medium without institution: %w", errs.ErrInvalid)
	}
	v, err := in.validate()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	rec, err := s.seal(crypto.NewID(idPrefix), institutionID, v, now)
	if err != nil {
		return nil, err
	}
	err = s.Store.CreateMedium(ctx, rec, registerEntry(actor, rec, v.holder, now))
	if errors.Is(err, errs.ErrConflict) {
		return nil, ErrExists.WithCause(err)
	} else if err != nil {
		return nil, err
	}
	return view(rec, v.holder), nil
}

// registerEntry holds no seed and the phone only masked: audit details are
// kept for years and read by many.
func registerEntry(actor string, r *Record, holder ekyc.Applicant, now time.Time) audit.Entry {
	return audit.Entry{Time: now, Actor: actor, Action: actRegister, Target: r.ID, Result: audit.ResultSuccess,
		Details: map[string]string{"institution": r.InstitutionID, "serial": r.Serial, "kind": string(r.Kind),
			"holder_phone": mask.Phone(holder.Phone)}}
}

// Get returns the institution's medium with serial, masked.
func (s *Service) Get(ctx context.Context, institutionID, serial string) (*View, error) {
	rec, err := s.find(ctx, institutionID, serial)
	if err != nil {
		return nil, err
	}
	holder, err := s.openHolder(rec)
	if err != nil {
		return nil, err
	}
	v := view(rec, holder)
	v.Locked = rec.Failures >= s.maxFailures()
	return v, nil
}

// Unlock clears a medium's wrong-code count, after the holder proved who
// they are to the institution (at a branch, say).
func (s *Service) Unlock(ctx context.Context, actor, institutionID, serial string) error {
	rec, err := s.find(ctx, institutionID, serial)
	if err != nil {
		return err
	}
	e := audit.Entry{Time: s.now().UTC(), Actor: actor, Action: actUnlock, Target: rec.ID, Result: audit.ResultSuccess,
		Details: map[string]string{"serial": rec.Serial, "failures": fmt.Sprint(rec.Failures)}}
	return s.Store.ResetMediumFailures(ctx, rec.ID, e)
}

func (s *Service) find(ctx context.Context, institutionID, serial string) (*Record, error) {
	serial, err := NormalizeSerial(serial)
	if err != nil {
		return nil, err
	}
	return s.Store.Medium(ctx, institutionID, serial)
}

// seal turns a validated registration into its stored form.
func (s *Service) seal(id, institutionID string, v *validated, now time.Time) (*Record, error) {
	r := &Record{ID: id, InstitutionID: institutionID, Serial: v.serial, Kind: v.kind, Digits: v.digits,
		Period: v.period, Algorithm: v.algorithm, HolderIndex: s.holderIndex(v.holder), RegisteredAt: now}
	for _, f := range []struct {
		col   string
		plain []byte
		out   *[]byte
	}{{colSeed, v.seed, &r.SeedSealed}, {colName, []byte(v.holder.Name), &r.NameSealed},
		{colBirth, []byte(v.holder.BirthDate), &r.BirthSealed}, {colPhone, []byte(v.holder.Phone), &r.PhoneSealed}} {
		sealed, err := s.Ring.Seal(f.plain, aad(id, f.col))
		if err != nil {
			return nil, fmt.Errorf("seal security medium %s %s: %w", id, f.col, err)
		}
		*f.out = sealed
	}
	return r, nil
}

// openHolder opens the holder's sealed fields.
func (s *Service) openHolder(r *Record) (ekyc.Applicant, error) {
	var a ekyc.Applicant
	for _, f := range []struct {
		col    string
		sealed []byte
		out    *string
	}{{colName, r.NameSealed, &a.Name}, {colBirth, r.BirthSealed, &a.BirthDate}, {colPhone, r.PhoneSealed, &a.Phone}} {
		plain, err := s.Ring.Open(f.sealed, aad(r.ID, f.col))
		if err != nil {
			return ekyc.Applicant{}, fmt.Errorf("open security medium %s %s: %w", r.ID, f.col, err)
		}
		*f.out = string(plain)
	}
	return a, nil
}

// holderIndex is the blind index of a normalised holder. NUL separates the
// fields: a name cannot hold one (control characters are refused), so no
// two holders join alike.
func (s *Service) holderIndex(h ekyc.Applicant) []byte {
	return s.Ring.BlindIndex(idxHolder, []byte(h.Name+"\x00"+h.BirthDate+"\x00"+h.Phone))
}

func view(r *Record, holder ekyc.Applicant) *View {
	return &View{ID: r.ID, Serial: r.Serial, Kind: r.Kind, Digits: r.Digits, Period: r.Period,
		Algorithm: r.Algorithm, RegisteredAt: r.RegisteredAt,
		Holder: ekyc.ApplicantView{Name: mask.Name(holder.Name), BirthDate: mask.BirthDate(holder.BirthDate),
			Phone: mask.Phone(holder.Phone)}}
}

func aad(id, column string) crypto.AAD {
	return crypto.AAD{Table: table, Column: column, RowID: id}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) maxFailures() int {
	if s.MaxFailures <= 0 {
		return DefaultMaxFailures
	}
	return s.MaxFailures
}
