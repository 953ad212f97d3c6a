package passkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// The ceremony a session was begun for: a registration challenge must not
// finish a login, nor the reverse.
const (
	ceremonyRegistration = "registration"
	ceremonyLogin        = "login"
)

// maxSessionID bounds the id before it reaches the store; ours are 30
// characters.
const maxSessionID = 64

var (
	errBodySize   = fmt.Errorf("passkey: body is empty or larger than %d bytes", MaxBody)
	errCeremony   = errors.New("passkey: session was begun for another ceremony")
	errOtherUser  = errors.New("passkey: session was begun for another user")
	errDuplicate  = errors.New("passkey: credential is already registered to this user")
	errNoExisting = errors.New("passkey: user has no credential to log in with")
)

// storedSession is what the session store keeps: the library's session data
// and the ceremony it belongs to.
type storedSession struct {
	Ceremony string               `json:"ceremony"`
	Session  webauthn.SessionData `json:"session"`
}

// BeginRegistration returns the options for navigator.credentials.create()
// (the {"publicKey": …} object, binary fields in base64url) and the id of
// the session FinishRegistration needs. The user's existing credentials are
// excluded so one authenticator is not registered twice.
func (s *Service) BeginRegistration(ctx context.Context, user User) (json.RawMessage, string, error) {
	if err := user.validate(); err != nil {
		return nil, "", err
	}
	creation, session, err := s.wa.BeginRegistration(libraryUser{user}, webauthn.WithExclusions(descriptors(user.Existing)))
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin registration: %w", err)
	}
	return s.begin(ctx, ceremonyRegistration, creation, session)
}

// FinishRegistration verifies the browser's PublicKeyCredential JSON against
// the session, which is consumed whatever the outcome: a failed answer
// cannot be retried against the same challenge.
func (s *Service) FinishRegistration(ctx context.Context, sessionID string, user User, body []byte) (*Credential, error) {
	session, err := s.take(ctx, sessionID, ceremonyRegistration, user)
	if err != nil {
		return nil, err
	}
	parsed, err := parseCreation(body)
	if err != nil {
		return nil, err
	}
	c, err := s.wa.CreateCredential(libraryUser{user}, *session, parsed)
	if err != nil {
		return nil, ErrInvalid.WithCause(err)
	}
	if _, dup := user.owns(c.ID); dup {
		return nil, ErrInvalid.WithCause(errDuplicate)
	}
	return fromLibrary(c), nil
}

// BeginLogin returns the options for navigator.credentials.get(), allowing
// only the user's own credentials, and the session id.
func (s *Service) BeginLogin(ctx context.Context, user User) (json.RawMessage, string, error) {
	if err := user.validate(); err != nil {
		return nil, "", err
	}
	if len(user.Existing) == 0 {
		return nil, "", ErrInvalid.WithCause(errNoExisting)
	}
	assertion, session, err := s.wa.BeginLogin(libraryUser{user})
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin login: %w", err)
	}
	return s.begin(ctx, ceremonyLogin, assertion, session)
}

// FinishLogin verifies an assertion and returns the credential used with its
// new signature counter. A counter that did not move forward (while either
// side counts) fails with ErrInvalid caused by ErrSignCount.
func (s *Service) FinishLogin(ctx context.Context, sessionID string, user User, body []byte) (*Credential, error) {
	session, err := s.take(ctx, sessionID, ceremonyLogin, user)
	if err != nil {
		return nil, err
	}
	parsed, err := parseAssertion(body)
	if err != nil {
		return nil, err
	}
	c, err := s.wa.ValidateLogin(libraryUser{user}, *session, parsed)
	if err != nil {
		return nil, ErrInvalid.WithCause(err)
	}
	if c.Authenticator.CloneWarning {
		return nil, ErrInvalid.WithCause(ErrSignCount)
	}
	used, _ := user.owns(c.ID) // ValidateLogin found it among the user's credentials
	used.SignCount = c.Authenticator.SignCount
	return &used, nil
}

// begin stores the session under a fresh random id and returns the options.
func (s *Service) begin(ctx context.Context, ceremony string, options any, session *webauthn.SessionData) (json.RawMessage, string, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, "", fmt.Errorf("passkey: encode options: %w", err)
	}
	data, err := json.Marshal(storedSession{Ceremony: ceremony, Session: *session})
	if err != nil {
		return nil, "", fmt.Errorf("passkey: encode session: %w", err)
	}
	id := crypto.NewID("pks_")
	if err := s.store.SavePasskeySession(ctx, id, data, s.now().Add(s.timeout)); err != nil {
		return nil, "", fmt.Errorf("passkey: save session: %w", err)
	}
	return opts, id, nil
}

// take consumes the session and checks it was begun for this ceremony and
// this user, so a challenge issued to one customer cannot finish another's.
func (s *Service) take(ctx context.Context, id, ceremony string, user User) (*webauthn.SessionData, error) {
	if id == "" || len(id) > maxSessionID {
		return nil, ErrSessionInvalid.WithField("session_id")
	}
	data, err := s.store.TakePasskeySession(ctx, id, s.now())
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrSessionInvalid.WithCause(err)
	} else if err != nil {
		return nil, fmt.Errorf("passkey: take session: %w", err)
	}
	var st storedSession
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("passkey: decode session: %w", err)
	}
	if st.Ceremony != ceremony {
		return nil, ErrSessionInvalid.WithCause(errCeremony)
	}
	if !bytes.Equal(st.Session.UserID, user.ID) {
		return nil, ErrSessionInvalid.WithCause(errOtherUser)
	}
	return &st.Session, nil
}

func parseCreation(body []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(body) == 0 || len(body) > MaxBody {
		return nil, ErrInvalid.WithCause(errBodySize)
	}
	p, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, ErrInvalid.WithCause(err)
	}
	return p, nil
}

func parseAssertion(body []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(body) == 0 || len(body) > MaxBody {
		return nil, ErrInvalid.WithCause(errBodySize)
	}
	p, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, ErrInvalid.WithCause(err)
	}
	return p, nil
}
