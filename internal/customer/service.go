package customer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/mask"
)

// Service creates and reads customers, sealing and opening their PII.
type Service struct {
	Store Store
	Ring  *crypto.Keyring
	Now   func() time.Time
}

// New is the input of Create; Validate normalises (phone to digits) and
// checks every field (name 1–50 chars, real birth date, Korean mobile
// number, RRN with a real date and a valid 7th digit; the RRN check digit
// is not a reject rule).
type New struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Phone     string `json:"phone"`
	RRN       string `json:"rrn,omitempty"`
}

// ErrExists is a second customer with the same phone at one institution:
// the phone is what registration identifies a customer by.
var ErrExists = errs.New(errs.Conflict, "customer_exists",
	"A customer with this phone number already exists.",
	"이 휴대폰 번호로 등록된 고객이 이미 있습니다.").WithField("phone")

// Names under which customers are sealed, indexed and audited. Table and
// column go into each sealed value's AAD, so a value copied to another
// column or row no longer opens; the index purposes keep a phone's index
// from matching an RRN's.
const (
	table     = "customers"
	colName   = "name"
	colBirth  = "birth_date"
	colPhone  = "phone"
	colRRN    = "rrn"
	idxPhone  = "customer.phone"
	idxRRN    = "customer.rrn"
	idPrefix  = "cus_"
	actCreate = "customer.create"
)

// Create stores a new customer of institutionID.
func (s *Service) Create(ctx context.Context, actor, institutionID string, in New) (*Customer, error) {
	if institutionID == "" {
		return nil, fmt.Errorf("customer without institution: %w", errs.ErrInvalid)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	if err := checkNotFuture(in.BirthDate, now); err != nil {
		return nil, err
	}
	c := &Customer{ID: crypto.NewID(idPrefix), InstitutionID: institutionID, Name: in.Name,
		BirthDate: in.BirthDate, Phone: in.Phone, RRN: in.RRN, CreatedAt: now.UTC()}
	rec, err := s.seal(c)
	if err != nil {
		return nil, err
	}
	err = s.Store.CreateCustomer(ctx, rec, s.createEntry(actor, c, now))
	if errors.Is(err, errs.ErrConflict) {
		return nil, ErrExists.WithCause(err)
	} else if err != nil {
		return nil, err
	}
	return c, nil
}

// createEntry records the creation with the phone masked: audit details
// are kept for years and read by many, so they hold no PII in the clear.
func (s *Service) createEntry(actor string, c *Customer, now time.Time) audit.Entry {
	return audit.Entry{Time: now.UTC(), Actor: actor, Action: actCreate, Target: c.ID,
		Result: audit.ResultSuccess, Details: map[string]string{"phone": mask.Phone(c.Phone)}}
}

// Get returns a customer of institutionID (errs.ErrNotFound for another
// institution's customer).
func (s *Service) Get(ctx context.Context, institutionID, id string) (*Customer, error) {
	rec, err := s.Store.Customer(ctx, institutionID, id)
	if err != nil {
		return nil, err
	}
	return s.open(rec)
}

// FindByPhone returns the customer of institutionID with this phone.
func (s *Service) FindByPhone(ctx context.Context, institutionID, phone string) (*Customer, error) {
	digits, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	rec, err := s.Store.CustomerByPhone(ctx, institutionID, s.PhoneIndex(digits))
	if err != nil {
		return nil, err
	}
	return s.open(rec)
}

// PhoneIndex is the blind index of a normalised phone number.
func (s *Service) PhoneIndex(digits string) []byte {
	return s.Ring.BlindIndex(idxPhone, []byte(digits))
}

// RRNIndex is the blind index of a normalised RRN (13 digits).
func (s *Service) RRNIndex(digits string) []byte {
	return s.Ring.BlindIndex(idxRRN, []byte(digits))
}

// sealSpec is one PII field on its way into or out of a record.
type sealSpec struct {
	col    string
	plain  *string
	sealed *[]byte
}

// fields lists the PII fields of c and r, pairing plain and sealed forms.
func fields(c *Customer, r *Record) []sealSpec {
	return []sealSpec{{colName, &c.Name, &r.NameSealed}, {colBirth, &c.BirthDate, &r.BirthSealed},
		{colPhone, &c.Phone, &r.PhoneSealed}, {colRRN, &c.RRN, &r.RRNSealed}}
}

// seal turns a customer into its stored form; an absent RRN stays nil.
func (s *Service) seal(c *Customer) (*Record, error) {
	r := &Record{ID: c.ID, InstitutionID: c.InstitutionID, PhoneIndex: s.PhoneIndex(c.Phone), CreatedAt: c.CreatedAt}
	if c.RRN != "" {
		r.RRNIndex = s.RRNIndex(c.RRN)
	}
	for _, f := range fields(c, r) {
		if *f.plain == "" && f.col == colRRN {
			continue
		}
		sealed, err := s.Ring.Seal([]byte(*f.plain), aad(c.ID, f.col))
		if err != nil {
			return nil, fmt.Errorf("seal customer %s %s: %w", c.ID, f.col, err)
		}
		*f.sealed = sealed
	}
	return r, nil
}

// open turns a stored record back into a customer.
func (s *Service) open(r *Record) (*Customer, error) {
	c := &Customer{ID: r.ID, InstitutionID: r.InstitutionID, CreatedAt: r.CreatedAt}
	for _, f := range fields(c, r) {
		if *f.sealed == nil && f.col == colRRN {
			continue
		}
		plain, err := s.Ring.Open(*f.sealed, aad(r.ID, f.col))
		if err != nil {
			return nil, fmt.Errorf("open customer %s %s: %w", r.ID, f.col, err)
		}
		*f.plain = string(plain)
	}
	return c, nil
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

// View masks a customer for responses. The RRN shows only its birth date
// and 7th digit, never in full.
func (c *Customer) View() View {
	v := View{ID: c.ID, Name: mask.Name(c.Name), BirthDate: mask.BirthDate(c.BirthDate),
		Phone: mask.Phone(c.Phone), CreatedAt: c.CreatedAt}
	if c.RRN != "" {
		v.RRN = mask.RRN(c.RRN)
	}
	return v
}
