package merchant

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/haechi/haechi/internal/webhook"
)

// maxLookupBody bounds a lookup request; the real one is under 200 bytes.
const maxLookupBody = 4 << 10

// errMalformed is a request body that is not exactly what the contract
// says; it never reaches a client in detail.
var errMalformed = errors.New("merchant: malformed request body")

// lookupRequest is the gateway's question of steps 7–8.
type lookupRequest struct {
	MerchantID string
	OrderNo    string
}

// LookupHandler is the order-lookup endpoint the gateway calls (steps
// 7–8): POST {"merchant_id","order_no"} signed with Haechi-Signature under
// the webhook secrets. It answers 200 with S and TID_S exactly as stored,
// 404 for an order it does not have (or another merchant's id), 401 for a
// request the gateway did not sign within webhook.Tolerance, and 400 for a
// body that is too large or not exactly the contract's. The signature is
// checked before the body is parsed, so nobody without a secret reaches
// the parser or learns which orders exist.
func (m *Merchant) LookupHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed")
			return
		}
		body, ok := readBody(w, r, maxLookupBody)
		if !ok {
			return
		}
		if webhook.Verify(r.Header.Get(webhook.HeaderSignature), body, m.WebhookSecrets, m.now(), webhook.Tolerance) != nil {
			writeProblem(w, http.StatusUnauthorized, "invalid_signature")
			return
		}
		req, err := decodeLookup(body)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "invalid_request")
			return
		}
		m.answerLookup(w, r, req)
	})
}

// answerLookup writes S for the request. Another merchant's id gets the
// same 404 as an unknown order: this endpoint speaks for one merchant.
func (m *Merchant) answerLookup(w http.ResponseWriter, r *http.Request, req lookupRequest) {
	if req.MerchantID != m.ID || m.Orders == nil {
		writeProblem(w, http.StatusNotFound, "unknown_order")
		return
	}
	o, err := m.Orders.Get(r.Context(), req.OrderNo)
	switch {
	case errors.Is(err, ErrOrderNotFound):
		writeProblem(w, http.StatusNotFound, "unknown_order")
	case err != nil:
		// The gateway treats this as merchant_unreachable, which is right:
		// an order that cannot be read cannot be vouched for.
		writeProblem(w, http.StatusInternalServerError, "internal_error")
	default:
		writeJSON(w, http.StatusOK, o.S)
	}
}

// decodeLookup reads exactly {"merchant_id":"…","order_no":"…"}: one JSON
// object, both members once, with these exact names (encoding/json alone
// would also take "ORDER_NO" or a repeated key), non-empty strings, and
// nothing after it.
func decodeLookup(body []byte) (lookupRequest, error) {
	var req lookupRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return req, errMalformed
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok || seen[key] {
			return req, errMalformed
		}
		seen[key] = true
		var dst *string
		switch key {
		case "merchant_id":
			dst = &req.MerchantID
		case "order_no":
			dst = &req.OrderNo
		default:
			return req, errMalformed
		}
		if err := dec.Decode(dst); err != nil {
			return req, errMalformed
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return req, errMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, errMalformed
	}
	if req.MerchantID == "" || req.OrderNo == "" {
		return req, errMalformed
	}
	return req, nil
}

// readBody reads at most limit bytes; a larger or unreadable body is
// answered 400 here.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "unreadable_body")
		return nil, false
	case int64(len(body)) > limit:
		writeProblem(w, http.StatusBadRequest, "body_too_large")
		return nil, false
	}
	return body, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal_error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// writeProblem answers with a minimal problem+json: a status and a stable
// code, nothing about what was looked up.
func writeProblem(w http.ResponseWriter, status int, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(`{"status":` + strconv.Itoa(status) + `,"code":"` + code + `"}`))
}
