package ekyc

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/mask"
)

// Names under which sessions are sealed, indexed, MACed and audited. Table
// and column go into each sealed value's AAD, so a value copied to another
// column or row no longer opens.
const (
	sessionTable   = "ekyc_sessions"
	colName        = "name"
	colBirth       = "birth_date"
	colPhone       = "phone"
	idxPhone       = "ekyc.phone"
	macApplicant   = "ekyc.applicant_token"
	sessionPrefix  = "vs_"
	tokenBytes     = 32
	maxTokenLength = 128
	maxReference   = 64
	actOpen        = "ekyc.open"
)

// kst is Korea's time zone: "today" for a birth date is the Korean today.
var kst = time.FixedZone("KST", 9*60*60)

// scopeKey carries the institution a call acts for.
type scopeKey struct{}

// WithInstitution scopes the session calls made with ctx to one
// institution: a session of another institution is then errs.ErrNotFound,
// exactly like one that does not exist, and nothing is written. Calls an
// institution makes carry its id; applicant calls may carry the id
// Authenticate returned. Without it a call reaches any institution's
// session, as an operator's does.
func WithInstitution(ctx context.Context, institutionID string) context.Context {
	return context.WithValue(ctx, scopeKey{}, institutionID)
}

// institutionOf is the scope WithInstitution set, "" when none.
func institutionOf(ctx context.Context) string {
	id, _ := ctx.Value(scopeKey{}).(string)
	return id
}

// actorOf names who acts in an applicant-side call for the audit log.
func actorOf(ctx context.Context) string {
	if id := institutionOf(ctx); id != "" {
		return id
	}
	return "applicant"
}

func (s *Service) open(ctx context.Context, institutionID string, in Open) (*Opened, error) {
	if institutionID == "" {
		return nil, ErrInvalidActor
	}
	if !validReference(in.Reference) {
		return nil, ErrInvalidReference
	}
	policy, err := in.Policy.Normalize()
	if err != nil {
		return nil, err
	}
	now := s.now()
	app, err := s.expected(ctx, institutionID, in, now)
	if err != nil {
		return nil, err
	}
	r := &Record{Session: Session{ID: crypto.NewID(sessionPrefix), InstitutionID: institutionID,
		Reference: in.Reference, CustomerID: in.CustomerID, Applicant: app, Policy: policy,
		Status: StatusPending, Methods: []MethodState{}, CreatedAt: now, ExpiresAt: now.Add(s.ttl()), Version: 1}}
	token := crypto.Token(tokenBytes)
	r.TokenHash = s.mac(macApplicant, r.ID, token)
	if err := s.sealApplicant(r); err != nil {
		return nil, err
	}
	if err := s.Store.CreateEKYCSession(ctx, r, openEntry(r, now)); err != nil {
		return nil, err
	}
	return &Opened{Session: r.view(), ApplicantToken: token}, nil
}

func openEntry(r *Record, now time.Time) audit.Entry {
	d := map[string]string{"min": fmt.Sprint(r.Policy.Min), "required": joinMethods(r.Policy.Required),
		"phone": mask.Phone(r.Applicant.Phone)}
	if r.CustomerID != "" {
		d["customer"] = r.CustomerID
	}
	return audit.Entry{Time: now, Actor: r.InstitutionID, Action: actOpen, Target: r.ID,
		Result: audit.ResultSuccess, Details: d}
}

// expected is the identity the session verifies: the applicant as given,
// or for a step-up the customer's own record.
func (s *Service) expected(ctx context.Context, institutionID string, in Open, now time.Time) (Applicant, error) {
	given := in.Applicant != Applicant{}
	if given == (in.CustomerID != "") {
		return Applicant{}, ErrInvalidOpen
	}
	if !given {
		if s.Customers == nil {
			return Applicant{}, ErrMethodUnavailable
		}
		c, err := s.Customers.Get(ctx, institutionID, in.CustomerID)
		if err != nil {
			return Applicant{}, err
		}
		return Applicant{Name: c.Name, BirthDate: c.BirthDate, Phone: c.Phone}, nil
	}
	return normalizeApplicant(in.Applicant, now)
}

// normalizeApplicant applies the customer rules (NFC name, real birth date
// not in the future, Korean mobile number as digits).
func normalizeApplicant(a Applicant, now time.Time) (Applicant, error) {
	n := customer.New{Name: a.Name, BirthDate: a.BirthDate, Phone: a.Phone}
	if err := n.Validate(); err != nil {
		return Applicant{}, err
	}
	if n.BirthDate > now.In(kst).Format(time.DateOnly) {
		return Applicant{}, customer.ErrInvalidBirthDate
	}
	return Applicant{Name: n.Name, BirthDate: n.BirthDate, Phone: n.Phone}, nil
}

// validReference accepts up to 64 of A-Z a-z 0-9 . _ : -.
func validReference(s string) bool {
	if len(s) > maxReference {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// sealSpec pairs a plain applicant field with its sealed column.
type sealSpec struct {
	col    string
	plain  *string
	sealed *[]byte
}

func applicantFields(r *Record) []sealSpec {
	return []sealSpec{{colName, &r.Applicant.Name, &r.NameSealed},
		{colBirth, &r.Applicant.BirthDate, &r.BirthSealed}, {colPhone, &r.Applicant.Phone, &r.PhoneSealed}}
}

func (s *Service) sealApplicant(r *Record) error {
	for _, f := range applicantFields(r) {
		sealed, err := s.Ring.Seal([]byte(*f.plain), sessionAAD(r.ID, f.col))
		if err != nil {
			return fmt.Errorf("seal session %s %s: %w", r.ID, f.col, err)
		}
		*f.sealed = sealed
	}
	r.PhoneIndex = s.Ring.BlindIndex(idxPhone, []byte(r.Applicant.Phone))
	return nil
}

// openApplicant fills Applicant from the sealed columns; a purged session
// has none.
func (s *Service) openApplicant(r *Record) error {
	if r.PurgedAt != nil {
		return nil
	}
	for _, f := range applicantFields(r) {
		plain, err := s.Ring.Open(*f.sealed, sessionAAD(r.ID, f.col))
		if err != nil {
			return fmt.Errorf("open session %s %s: %w", r.ID, f.col, err)
		}
		*f.plain = string(plain)
	}
	return nil
}

func sessionAAD(id, col string) crypto.AAD {
	return crypto.AAD{Table: sessionTable, Column: col, RowID: id}
}

// PhoneIndex is the blind index sessions are found by phone with.
func (s *Service) PhoneIndex(digits string) []byte {
	return s.Ring.BlindIndex(idxPhone, []byte(digits))
}

// load reads a session within the call's scope and opens its applicant.
func (s *Service) load(ctx context.Context, id string) (*Record, error) {
	var r *Record
	var err error
	if inst := institutionOf(ctx); inst != "" {
		r, err = s.Store.EKYCSession(ctx, inst, id)
	} else {
		r, err = s.Store.EKYCSessionByID(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	return r, s.openApplicant(r)
}

func (s *Service) get(ctx context.Context, institutionID, id string) (*View, error) {
	if institutionID == "" {
		return nil, ErrInvalidActor
	}
	ctx = WithInstitution(ctx, institutionID)
	for range maxTries {
		r, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		err = s.expireIfDue(ctx, r, s.now())
		if isConflict(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		return r.view(), nil
	}
	return nil, ErrBusy
}

// authenticate compares the token's MAC in constant time. An unknown
// session costs the same MAC and gives the same answer as a wrong token.
func (s *Service) authenticate(ctx context.Context, sessionID, token string) (string, error) {
	if len(token) > maxTokenLength || len(sessionID) > maxTokenLength {
		return "", ErrApplicantToken
	}
	got := s.mac(macApplicant, sessionID, token)
	r, err := s.Store.EKYCSessionByID(ctx, sessionID)
	if isNotFound(err) {
		crypto.Equal(got, make([]byte, len(got)))
		return "", ErrApplicantToken
	} else if err != nil {
		return "", err
	}
	if !crypto.Equal(got, r.TokenHash) {
		return "", ErrApplicantToken
	}
	return r.InstitutionID, nil
}

// mac is HMAC(pepper, purpose, parts…), each length-prefixed so that no
// two different lists share an input.
func (s *Service) mac(purpose string, parts ...string) []byte {
	var msg []byte
	for _, p := range append([]string{purpose}, parts...) {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(p)))
		msg = append(msg, p...)
	}
	return crypto.MAC(s.Pepper, msg)
}

// view masks a session for the institution.
func (r *Record) view() *View {
	v := &View{ID: r.ID, Reference: r.Reference, CustomerID: r.CustomerID, Status: r.Status, Reason: r.Reason,
		Policy: r.Policy, Methods: slices.Clone(r.Methods), Passed: []Method{}, Failed: []Method{},
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, DecidedAt: r.DecidedAt, PurgedAt: r.PurgedAt,
		Applicant: ApplicantView{Name: mask.Name(r.Applicant.Name), BirthDate: mask.BirthDate(r.Applicant.BirthDate),
			Phone: mask.Phone(r.Applicant.Phone)}}
	if v.Methods == nil {
		v.Methods = []MethodState{}
	}
	if v.Policy.Required == nil {
		v.Policy.Required = []Method{}
	}
	for _, m := range r.Methods {
		switch m.Status {
		case MethodPassed:
			v.Passed = append(v.Passed, m.Method)
		case MethodFailed:
			v.Failed = append(v.Failed, m.Method)
		}
	}
	return v
}

// find returns m's state, nil when the method was never tried.
func (r *Record) find(m Method) *MethodState {
	for i := range r.Methods {
		if r.Methods[i].Method == m {
			return &r.Methods[i]
		}
	}
	return nil
}

// ensure returns m's state, adding it as started (in the order of Methods)
// when the method was never tried.
func (r *Record) ensure(m Method, now time.Time) *MethodState {
	if st := r.find(m); st != nil {
		return st
	}
	i := slices.IndexFunc(r.Methods, func(x MethodState) bool {
		return slices.Index(Methods, x.Method) > slices.Index(Methods, m)
	})
	if i < 0 {
		i = len(r.Methods)
	}
	r.Methods = slices.Insert(r.Methods, i, MethodState{Method: m, Status: MethodStarted, UpdatedAt: now})
	return &r.Methods[i]
}

func joinMethods(ms []Method) string {
	var b []byte
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m...)
	}
	return string(b)
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) ttl() time.Duration {
	if s.TTL <= 0 {
		return DefaultTTL
	}
	return s.TTL
}

func (s *Service) faceThreshold() float64 {
	if s.FaceThreshold <= 0 {
		return DefaultFaceThreshold
	}
	return s.FaceThreshold
}
