package cardnet

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/haechi/haechi/internal/errs"
)

// maxRequest bounds a request body; real ones are under 300 bytes.
const maxRequest = 16 << 10

// reasonExpired is how Handler declines an expired card, as an acquirer
// would: the issuer judges expiry, so it is an answer, not a fault.
const reasonExpired = "expired_card"

// Handler serves the JSON API that HTTP speaks (see HTTP) from sim, so the
// adapter can be tested end to end and the demo can point HAECHI_CARD_URL
// at a simulated acquirer. Like the simulator it charges nothing, and it
// checks no bearer token: it holds nothing worth protecting. A malformed
// request is 400, a reused key 409, a simulated timeout or lost answer
// 503; the adapter takes each of those for an unavailable network. It
// never logs or echoes a request.
func Handler(sim *Simulator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/authorizations", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		a, err := parseAuthRequest(body)
		if err != nil {
			fail(w, http.StatusBadRequest)
			return
		}
		res, err := sim.Authorize(r.Context(), a)
		if err != nil {
			if errors.Is(err, ErrCardExpired) {
				reason := reasonExpired
				writeJSON(w, authAnswer{Status: string(Declined), Reason: &reason})
				return
			}
			fail(w, statusOf(err))
			return
		}
		writeJSON(w, answerOf(res))
	})
	mux.HandleFunc("POST /v1/cancellations", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		c, err := parseCancelRequest(body)
		if err != nil {
			fail(w, http.StatusBadRequest)
			return
		}
		ref, err := sim.Cancel(r.Context(), c)
		switch {
		case errors.Is(err, ErrNotCancellable):
			writeJSON(w, cancelAnswer{Result: resultNotCancellable})
		case err != nil:
			fail(w, statusOf(err))
		default:
			writeJSON(w, cancelAnswer{Result: resultOK, Ref: &ref})
		}
	})
	return mux
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

// answerOf writes a Result as the API does: only the fields its status has.
func answerOf(res Result) authAnswer {
	a := authAnswer{Status: string(res.Status)}
	if res.Status == Approved {
		a.ApprovalCode = &res.ApprovalCode
	} else if res.Reason != "" {
		a.Reason = &res.Reason
	}
	return a
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, errs.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrKeyReused):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// fail answers with a status and no detail: the cause may name the key.
func fail(w http.ResponseWriter, status int) {
	http.Error(w, http.StatusText(status), status)
}
