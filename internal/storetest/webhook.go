package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/webhook"
)

func testWebhooks(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("due", func(t *testing.T) { testWebhooksDue(t, open(t)) })
	t.Run("claim", func(t *testing.T) { testWebhooksClaim(t, open(t)) })
	t.Run("marks", func(t *testing.T) { testWebhookMarks(t, open(t)) })
	t.Run("enqueue refused", func(t *testing.T) { testWebhooksRefused(t, open(t)) })
	t.Run("two dispatchers claim disjoint rows", func(t *testing.T) { testWebhooksConcurrent(t, open(t)) })
	t.Run("endpoints", func(t *testing.T) { testWebhookEndpoints(t, open(t)) })
}

// newWebhookEvent is due at base+due, created at base+created.
func newWebhookEvent(id string, created, due time.Duration) webhook.Event {
	return webhook.Event{ID: id, Owner: "cl_1", Type: "verification.passed",
		Payload:   json.RawMessage(`{"id":"` + id + `","status":"passed"}`),
		CreatedAt: base.Add(created), NextAttemptAt: base.Add(due)}
}

func enqueueWebhooks(t *testing.T, db *sqlstore.DB, evs ...webhook.Event) {
	t.Helper()
	must(t, db.EnqueueWebhookEvents(t.Context(), evs))
}

func dueWebhooks(t *testing.T, db *sqlstore.DB, now time.Time, limit int) []webhook.Event {
	t.Helper()
	evs, err := db.DueWebhookEvents(t.Context(), now, limit)
	must(t, err)
	return evs
}

func eventIDs(evs []webhook.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func testWebhooksDue(t *testing.T, db *sqlstore.DB) {
	delivered := base.Add(-time.Minute)
	done := newWebhookEvent("evt_done", -time.Hour, 0)
	done.DeliveredAt = &delivered
	later := newWebhookEvent("evt_later", -3*time.Hour, time.Second)
	// Receivers verify the signature over the bytes they get, so the
	// payload must come back exactly as written: spacing, key order, UTF-8.
	spaced := newWebhookEvent("evt_spaced", -time.Minute, 0)
	spaced.Payload = json.RawMessage("{ \"z\": 1,\n  \"a\": \"확인 완료\" }")
	enqueueWebhooks(t, db, newWebhookEvent("evt_b", -2*time.Hour, 0), done, later, spaced,
		newWebhookEvent("evt_a", -2*time.Hour, -time.Minute))

	t.Run("ok/oldest first, limited, claimed", func(t *testing.T) {
		got := dueWebhooks(t, db, base, 2)
		want := []webhook.Event{newWebhookEvent("evt_a", -2*time.Hour, webhook.Lease), newWebhookEvent("evt_b", -2*time.Hour, webhook.Lease)}
		sameJSON(t, "due", got, want)
	})
	t.Run("ok/the rest, without delivered or future ones, payload byte for byte", func(t *testing.T) {
		got := dueWebhooks(t, db, base, 10)
		if !slices.Equal(eventIDs(got), []string{"evt_spaced"}) {
			t.Fatalf("due = %v, want [evt_spaced]", eventIDs(got))
		}
		if !bytes.Equal(got[0].Payload, spaced.Payload) {
			t.Fatalf("payload = %q, want %q", got[0].Payload, spaced.Payload)
		}
	})
	t.Run("ok/a future one once its time comes", func(t *testing.T) {
		if got := eventIDs(dueWebhooks(t, db, base.Add(time.Second), 10)); !slices.Equal(got, []string{"evt_later"}) {
			t.Fatalf("due = %v, want [evt_later]", got)
		}
	})
	t.Run("error/limit", func(t *testing.T) {
		_, err := db.DueWebhookEvents(t.Context(), base, 0)
		wantErr(t, err, errs.ErrInvalid)
	})
}

// testWebhooksClaim: what one dispatcher took is not handed to another
// until the claim runs out.
func testWebhooksClaim(t *testing.T, db *sqlstore.DB) {
	enqueueWebhooks(t, db, newWebhookEvent("evt_1", 0, 0))
	if got := eventIDs(dueWebhooks(t, db, base, 10)); !slices.Equal(got, []string{"evt_1"}) {
		t.Fatalf("first claim = %v", got)
	}
	if got := dueWebhooks(t, db, base.Add(webhook.Lease-time.Nanosecond), 10); len(got) != 0 {
		t.Fatalf("claimed event handed out again: %v", eventIDs(got))
	}
	if got := eventIDs(dueWebhooks(t, db, base.Add(webhook.Lease), 10)); !slices.Equal(got, []string{"evt_1"}) {
		t.Fatalf("after the claim ran out = %v, want [evt_1]", got)
	}
}

func testWebhookMarks(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	enqueueWebhooks(t, db, newWebhookEvent("evt_1", 0, 0), newWebhookEvent("evt_2", 0, 0))
	t.Run("ok/failed counts and reschedules", func(t *testing.T) {
		must(t, db.MarkWebhookFailed(ctx, "evt_1", base.Add(time.Hour)))
		must(t, db.MarkWebhookFailed(ctx, "evt_1", base.Add(2*time.Hour)))
		if got := eventIDs(dueWebhooks(t, db, base.Add(2*time.Hour-time.Nanosecond), 10)); !slices.Equal(got, []string{"evt_2"}) {
			t.Fatalf("due before the retry = %v, want [evt_2]", got)
		}
		want := newWebhookEvent("evt_1", 0, 2*time.Hour+webhook.Lease)
		want.Attempts = 2
		sameJSON(t, "retried", dueWebhooks(t, db, base.Add(2*time.Hour), 10), []webhook.Event{want})
	})
	t.Run("ok/delivered is never due again", func(t *testing.T) {
		must(t, db.MarkWebhookDelivered(ctx, "evt_2", base))
		if got := dueWebhooks(t, db, base.Add(1000*time.Hour), 10); slices.Contains(eventIDs(got), "evt_2") {
			t.Fatal("a delivered event was due again")
		}
	})
	tests := []struct {
		name string
		mark func(id string) error
	}{
		{"delivered", func(id string) error { return db.MarkWebhookDelivered(ctx, id, base) }},
		{"failed", func(id string) error { return db.MarkWebhookFailed(ctx, id, base) }},
	}
	for _, tc := range tests {
		t.Run("error/mark "+tc.name+" after delivered", func(t *testing.T) { wantErr(t, tc.mark("evt_2"), errs.ErrConflict) })
		t.Run("error/mark "+tc.name+" unknown", func(t *testing.T) { wantErr(t, tc.mark("evt_nope"), errs.ErrNotFound) })
	}
}

func testWebhooksRefused(t *testing.T, db *sqlstore.DB) {
	enqueueWebhooks(t, db, newWebhookEvent("evt_1", 0, 0))
	noOwner := newWebhookEvent("evt_3", 0, 0)
	noOwner.Owner = ""
	notJSON := newWebhookEvent("evt_4", 0, 0)
	notJSON.Payload = json.RawMessage(`{"status":`)
	tooLate := newWebhookEvent("evt_5", 0, 0)
	tooLate.NextAttemptAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		evs  []webhook.Event
		want error
	}{
		{"error/duplicate id", []webhook.Event{newWebhookEvent("evt_2", 0, 0), newWebhookEvent("evt_1", 0, 0)}, errs.ErrConflict},
		{"error/no owner", []webhook.Event{newWebhookEvent("evt_2", 0, 0), noOwner}, errs.ErrInvalid},
		{"error/payload not JSON", []webhook.Event{notJSON}, errs.ErrInvalid},
		{"error/time out of range", []webhook.Event{tooLate}, errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			wantErr(t, db.EnqueueWebhookEvents(t.Context(), tc.evs), tc.want)
			if got := eventIDs(dueWebhooks(t, db, base.Add(time.Hour), 10)); !slices.Equal(got, []string{"evt_1"}) {
				t.Fatalf("outbox = %v, want only evt_1", got)
			}
			must(t, db.MarkWebhookFailed(t.Context(), "evt_1", base)) // due again for the next case
		})
	}
}

// testWebhooksConcurrent: dispatchers claiming at once get disjoint sets
// that together cover the outbox, so no event is delivered twice by two
// live dispatchers.
func testWebhooksConcurrent(t *testing.T, db *sqlstore.DB) {
	const total = 40
	var evs []webhook.Event
	for i := range total {
		evs = append(evs, newWebhookEvent(fmt.Sprintf("evt_%02d", i), time.Duration(i), 0))
	}
	enqueueWebhooks(t, db, evs...)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := db.DueWebhookEvents(t.Context(), base, 7)
			if err != nil {
				t.Errorf("due: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, e := range got {
				seen[e.ID]++
			}
		})
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
	if rest := len(dueWebhooks(t, db, base, total)); len(seen)+rest != total {
		t.Fatalf("claimed %d, left %d, want %d in all", len(seen), rest, total)
	}
}

func newEndpointRecord(owner, sealed string, at time.Time) webhook.EndpointRecord {
	return webhook.EndpointRecord{Owner: owner, URL: "https://bank.example/hooks/" + owner,
		SealedSecrets: []byte(sealed), UpdatedAt: at}
}

func getEndpoint(t *testing.T, db *sqlstore.DB, owner string) *webhook.EndpointRecord {
	t.Helper()
	r, err := db.WebhookEndpointRecord(t.Context(), owner)
	must(t, err)
	return r
}

func testWebhookEndpoints(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	// Sealed values are binary, NUL bytes included.
	first := newEndpointRecord("cl_1", "sealed\x00one\xff", base)
	must(t, db.PutWebhookEndpoint(ctx, first, nil, entry("webhook.endpoint.set", "cl_1")))
	second := newEndpointRecord("cl_1", "sealed\x00two", base.Add(time.Hour))
	second.URL = "https://bank.example/v2/hooks"

	t.Run("ok/get as stored, with its audit event", func(t *testing.T) {
		sameJSON(t, "endpoint", getEndpoint(t, db, "cl_1"), &first)
		if headSeq(t, db) != 1 {
			t.Fatalf("audit holds %d events, want 1", headSeq(t, db))
		}
	})
	t.Run("error/unknown owner", func(t *testing.T) {
		_, err := db.WebhookEndpointRecord(ctx, "cl_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	refused := []struct {
		name string
		rec  webhook.EndpointRecord
		prev []byte
		want error
	}{
		{"error/insert over an existing one", second, nil, errs.ErrConflict},
		{"error/replace from a stale read", second, []byte("sealed\x00zero"), errs.ErrConflict},
		{"error/replace one that does not exist", newEndpointRecord("cl_2", "x", base), []byte("x"), errs.ErrConflict},
		{"error/no secrets", newEndpointRecord("cl_2", "", base), nil, errs.ErrInvalid},
	}
	for _, tc := range refused {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			before := headSeq(t, db)
			wantErr(t, db.PutWebhookEndpoint(ctx, tc.rec, tc.prev, entry("webhook.endpoint.set", tc.rec.Owner)), tc.want)
			if headSeq(t, db) != before {
				t.Fatal("a refused endpoint wrote an audit event")
			}
			sameJSON(t, "endpoint after refusal", getEndpoint(t, db, "cl_1"), &first)
			if _, err := db.WebhookEndpointRecord(ctx, "cl_2"); !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("cl_2 endpoint: %v, want not found", err)
			}
		})
	}
	t.Run("ok/replace what was read", func(t *testing.T) {
		must(t, db.PutWebhookEndpoint(ctx, second, first.SealedSecrets, entry("webhook.endpoint.set", "cl_1")))
		sameJSON(t, "endpoint", getEndpoint(t, db, "cl_1"), &second)
		if headSeq(t, db) != 2 {
			t.Fatalf("audit holds %d events, want 2", headSeq(t, db))
		}
	})
}
