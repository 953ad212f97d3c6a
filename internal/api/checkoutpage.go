package api

import (
	"net/http"

	"github.com/haechi/haechi/internal/checkout"
)

// checkoutAssets serves the buyer's checkout page (internal/checkout) with
// its own Content-Security-Policy, which replaces the API's default-src
// 'none' for these responses only.
var checkoutAssets = checkout.Handler()

// checkoutPage serves GET /checkout and its assets. An unknown asset is
// the API's own 404 problem, as for any other path.
func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request) error {
	if !checkout.Serves(r.URL.Path) {
		return errRouteNotFound
	}
	checkoutAssets.ServeHTTP(w, r)
	return nil
}
