// Package customer is an institution's customers: the people whose phones
// become devices and who log in. Their personal data (name, birth date,
// phone, optional RRN) is sealed at rest, found through blind indexes and
// shown only masked.
package customer

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
)

// Customer is the plain form, held in memory only.
type Customer struct {
	ID            string
	InstitutionID string
	Name          string
	BirthDate     string // YYYY-MM-DD
	Phone         string // digits only, e.g. 01012345678
	RRN           string // 13 digits or ""
	CreatedAt     time.Time
}

// Record is the stored form: every PII field sealed (AAD = customers,
// column, id) and the phone and RRN findable by blind index.
type Record struct {
	ID            string
	InstitutionID string
	NameSealed    []byte
	BirthSealed   []byte
	PhoneSealed   []byte
	RRNSealed     []byte // nil when no RRN
	PhoneIndex    []byte
	RRNIndex      []byte // nil when no RRN
	CreatedAt     time.Time
}

// Store keeps customer records; every query is scoped by institution.
// (institution, phone index) is unique: a phone identifies one customer of
// an institution, which registration relies on.
type Store interface {
	CreateCustomer(ctx context.Context, r *Record, e audit.Entry) error
	Customer(ctx context.Context, institutionID, id string) (*Record, error)
	CustomerByPhone(ctx context.Context, institutionID string, phoneIndex []byte) (*Record, error)
}

// View is what responses show: masked PII only.
type View struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`       // 김*수
	BirthDate string    `json:"birth_date"` // 1990-**-**
	Phone     string    `json:"phone"`      // 010-****-5678
	RRN       string    `json:"rrn,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}
