package api

import (
	"net/http"

	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
)

// createCustomer adds a customer of the calling institution. The answer is
// the masked view: the caller already has the plain values it sent, and a
// response is one more place they could leak from.
func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	var in customer.New
	if err := decode(w, r, &in, s.BodyLimit); err != nil {
		return err
	}
	c, err := s.Customers.Create(r.Context(), p.ClientID, p.ClientID, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/customers/"+c.ID)
	respond(w, http.StatusCreated, c.View())
	return nil
}

// getCustomer shows one customer of the calling institution, masked; another
// institution's customer is not found, so ids reveal nothing across banks.
func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := s.Customers.Get(r.Context(), p.ClientID, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, c.View())
	return nil
}
