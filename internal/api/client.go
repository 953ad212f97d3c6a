package api

import (
	"net/http"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
)

// maxScopes bounds scope lists; there are only a handful of scopes.
const maxScopes = 16

// clientView is what the API shows of a client: never its secret hash.
type clientView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func viewClient(c *institution.Client) clientView {
	v := clientView{ID: c.ID, Name: c.Name, Scopes: c.Scopes, CreatedAt: c.CreatedAt, RevokedAt: c.RevokedAt}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.Institutions.Clients(r.Context())
	if err != nil {
		return err
	}
	views := make([]clientView, len(cs))
	for i, c := range cs {
		views[i] = viewClient(c)
	}
	respond(w, http.StatusOK, map[string]any{"clients": views})
	return nil
}

type createClientRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// Validate checks the shape; the service checks names and scope values.
func (q *createClientRequest) Validate() error {
	if q.Name == "" {
		return errs.ErrInvalid.WithField("name")
	}
	if len(q.Scopes) == 0 || len(q.Scopes) > maxScopes {
		return errs.ErrInvalid.WithField("scopes")
	}
	return nil
}

func (s *Server) createClient(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	var req createClientRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	c, secret, err := s.Institutions.CreateClient(r.Context(), actorOf(a), req.Name, req.Scopes)
	if err != nil {
		return err
	}
	// The secret is shown this once; only its MAC is stored.
	respond(w, http.StatusCreated, map[string]any{"client": viewClient(c), "client_secret": secret})
	return nil
}

func (s *Server) revokeClient(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Institutions.RevokeClient(r.Context(), actorOf(a), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// issueKeyRequest: empty scopes mean all of the client's; ttl_days 0 means
// the default lifetime.
type issueKeyRequest struct {
	Scopes  []string `json:"scopes"`
	TTLDays int      `json:"ttl_days"`
}

func (q *issueKeyRequest) Validate() error {
	if len(q.Scopes) > maxScopes {
		return errs.ErrInvalid.WithField("scopes")
	}
	if q.TTLDays < 0 || q.TTLDays > int(institution.MaxAPIKeyTTL/(24*time.Hour)) {
		return errs.ErrInvalid.WithField("ttl_days")
	}
	return nil
}

func (s *Server) issueAPIKey(w http.ResponseWriter, r *http.Request) error {
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req issueKeyRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	ttl := time.Duration(req.TTLDays) * 24 * time.Hour
	raw, k, err := s.Institutions.IssueAPIKey(r.Context(), actorOf(a), id, req.Scopes, ttl)
	if err != nil {
		return err
	}
	// The raw key is shown this once; only its MAC is stored.
	respond(w, http.StatusCreated, map[string]any{
		"api_key": raw, "id": k.ID, "client_id": k.ClientID, "scopes": k.Scopes, "expires_at": k.ExpiresAt,
	})
	return nil
}
