package passkey

import (
	"bytes"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// User is the customer a ceremony is for. ID is the user handle the
// authenticator stores (the customer id bytes, 1 to 64 of them). Name and
// DisplayName are shown by the authenticator and may be kept on it, so pass
// masked values, never raw PII.
type User struct {
	ID          []byte
	Name        string
	DisplayName string
	Existing    []Credential
}

// Credential is what the store keeps of a verified credential.
type Credential struct {
	ID            []byte
	PublicKeyCOSE []byte
	// AttestationFormat is the statement format ("none", "packed", "tpm",
	// "android-key", "apple", …) and AttestationType what it proved
	// ("none", "basic_surrogate" for self attestation, "basic_full",
	// "attca", …). Without FIDO metadata
	// trust anchors a statement shows the key was made by the authenticator
	// that signed it, not that the vendor is genuine: a signal for the device
	// policy, not proof.
	AttestationFormat string
	AttestationType   string
	AAGUID            []byte
	// SignCount is the authenticator's signature counter. Store a new value
	// only if it is still greater than the stored one (compare and set), so
	// that two racing logins cannot both move it.
	SignCount      uint32
	BackupEligible bool
}

func (u User) validate() error {
	if n := len(u.ID); n < protocol.MinimumUserHandleLength || n > protocol.MaximumUserHandleLength {
		return fmt.Errorf("passkey: user id is %d bytes, want 1 to 64", n)
	}
	return nil
}

// owns reports whether the user already holds a credential with this id.
func (u User) owns(id []byte) (Credential, bool) {
	for _, c := range u.Existing {
		if bytes.Equal(c.ID, id) {
			return c, true
		}
	}
	return Credential{}, false
}

// libraryUser shows a User to go-webauthn.
type libraryUser struct{ u User }

func (l libraryUser) WebAuthnID() []byte          { return l.u.ID }
func (l libraryUser) WebAuthnName() string        { return l.u.Name }
func (l libraryUser) WebAuthnDisplayName() string { return l.u.DisplayName }

func (l libraryUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(l.u.Existing))
	for i, c := range l.u.Existing {
		out[i] = c.library()
	}
	return out
}

// library is the record go-webauthn verifies an assertion against. The
// backup-eligible flag is restored because the library refuses an assertion
// whose flag differs from the one seen at registration.
func (c Credential) library() webauthn.Credential {
	var flags protocol.AuthenticatorFlags
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	return webauthn.Credential{
		ID:                c.ID,
		PublicKey:         c.PublicKeyCOSE,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator:     webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

func fromLibrary(c *webauthn.Credential) *Credential {
	return &Credential{
		ID:                bytes.Clone(c.ID),
		PublicKeyCOSE:     bytes.Clone(c.PublicKey),
		AttestationFormat: c.AttestationFormat,
		AttestationType:   c.AttestationType,
		AAGUID:            bytes.Clone(c.Authenticator.AAGUID),
		SignCount:         c.Authenticator.SignCount,
		BackupEligible:    c.Flags.BackupEligible,
	}
}

func descriptors(cs []Credential) []protocol.CredentialDescriptor {
	out := make([]protocol.CredentialDescriptor, len(cs))
	for i, c := range cs {
		out[i] = protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: c.ID}
	}
	return out
}
