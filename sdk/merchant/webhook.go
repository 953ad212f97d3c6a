package merchant

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/haechi/haechi/internal/webhook"
	"github.com/haechi/haechi/sdk/internal/gateway"
)

// Limits of the webhook receiver.
const (
	maxWebhookBody = 64 << 10 // a payment event is about 1 KiB
	maxEventID     = 128
	maxEventType   = 64
	maxRemembered  = 10_000 // event ids (and deliveries) kept for deduplication
)

// Event is one webhook from the gateway: ID (header Haechi-Event-Id, to
// deduplicate by), Type ("payment.approved", …) and the transaction as it
// is after the event.
type Event struct {
	ID          string
	Type        string
	Transaction Payment
}

// eventBody is the signed payload.
type eventBody struct {
	Type        string   `json:"type"`
	Transaction *Payment `json:"transaction"`
}

// WebhookHandler receives the gateway's webhooks: POST, signed with
// Haechi-Signature under WebhookSecrets within webhook.Tolerance (401
// otherwise), a body of {"type","transaction":{…}} (400 otherwise). fn
// runs at most once per event id, since delivery is at least once; a
// repeat is answered 200 without calling fn. A captured delivery replayed
// under a fresh event id (the id header is not signed) is recognised by
// its signed timestamp and body, and dropped the same way.
//
// Deduplication is in memory, per handler, for the last 10,000 events: a
// merchant running several instances must make fn idempotent anyway
// (Confirm is). Unknown members of the payload are ignored, so that a
// newer gateway's additions do not break this receiver.
func (m *Merchant) WebhookHandler(fn func(Event)) http.Handler {
	if fn == nil {
		fn = func(Event) {}
	}
	return &webhookHandler{m: m, fn: fn, ids: newRecent(maxRemembered), deliveries: newRecent(maxRemembered)}
}

type webhookHandler struct {
	m  *Merchant
	fn func(Event)

	mu         sync.Mutex
	ids        *recent
	deliveries *recent
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	body, ok := readBody(w, r, maxWebhookBody)
	if !ok {
		return
	}
	sig := r.Header.Get(webhook.HeaderSignature)
	if webhook.Verify(sig, body, h.m.WebhookSecrets, h.m.now(), webhook.Tolerance) != nil {
		writeProblem(w, http.StatusUnauthorized, "invalid_signature")
		return
	}
	id := r.Header.Get(webhook.HeaderEventID)
	ev, err := decodeEvent(body)
	if err != nil || !validEventID(id) {
		writeProblem(w, http.StatusBadRequest, "invalid_event")
		return
	}
	ev.ID = id
	if h.first(id, deliveryKey(sig, body)) {
		h.fn(ev)
	}
	w.WriteHeader(http.StatusNoContent)
}

// first records the event and the delivery and reports whether neither
// was seen before; one lock, so two concurrent copies cannot both pass.
func (h *webhookHandler) first(id, delivery string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids.has(id) || h.deliveries.has(delivery) {
		return false
	}
	h.ids.add(id)
	h.deliveries.add(delivery)
	return true
}

// deliveryKey is the signed timestamp with a digest of the body: the same
// for a replay of one delivery, different for the gateway's own
// redeliveries, which are signed anew.
func deliveryKey(sig string, body []byte) string {
	var t string
	for part := range strings.SplitSeq(sig, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			t = v
			break
		}
	}
	sum := sha256.Sum256(body)
	return t + ":" + string(sum[:])
}

// decodeEvent reads one JSON object with a type and a transaction that has
// an id, and nothing after it.
func decodeEvent(body []byte) (Event, error) {
	var b eventBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return Event{}, errMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, errMalformed
	}
	if !validEventType(b.Type) || b.Transaction == nil || !gateway.ValidTransactionID(b.Transaction.ID) {
		return Event{}, errMalformed
	}
	return Event{Type: b.Type, Transaction: *b.Transaction}, nil
}

// validEventType is a dotted lower-case name such as payment.approved.
func validEventType(s string) bool {
	if s == "" || len(s) > maxEventType {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// validEventID is what the gateway sends ("evt_…"), bounded.
func validEventID(s string) bool {
	return len(s) <= maxEventID && gateway.ValidTransactionID(s)
}

// recent is a bounded set that forgets its oldest member first.
type recent struct {
	set   map[string]struct{}
	order []string
	next  int
}

func newRecent(n int) *recent {
	return &recent{set: make(map[string]struct{}, n), order: make([]string, 0, n)}
}

func (r *recent) has(k string) bool {
	_, ok := r.set[k]
	return ok
}

func (r *recent) add(k string) {
	if len(r.order) < cap(r.order) {
		r.order = append(r.order, k)
	} else {
		delete(r.set, r.order[r.next])
		r.order[r.next] = k
		r.next = (r.next + 1) % len(r.order)
	}
	r.set[k] = struct{}{}
}
