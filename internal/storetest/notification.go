package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/sqlstore"
)

// lease is sqlstore's claim on a due notification.
const lease = 2 * time.Minute

func testNotifications(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("due", func(t *testing.T) { testNotificationsDue(t, open(t)) })
	t.Run("claim", func(t *testing.T) { testNotificationsClaim(t, open(t)) })
	t.Run("marks", func(t *testing.T) { testNotificationMarks(t, open(t)) })
	t.Run("enqueue refused", func(t *testing.T) { testNotificationsRefused(t, open(t)) })
	t.Run("concurrent claims", func(t *testing.T) { testNotificationsConcurrent(t, open(t)) })
}

// newNotification is due at base+due, created at base+created.
func newNotification(id string, created, due time.Duration) notify.Notification {
	return notify.Notification{ID: id, CustomerID: "cus_1", Kind: notify.KindDeviceRegistered,
		Data:      map[string]string{"model": "SM-S918N", "phone": "010-****-5678"},
		CreatedAt: base.Add(created), NextAttemptAt: base.Add(due)}
}

func enqueue(t *testing.T, db *sqlstore.DB, ns ...notify.Notification) {
	t.Helper()
	must(t, db.EnqueueNotifications(t.Context(), ns))
}

func due(t *testing.T, db *sqlstore.DB, now time.Time, limit int) []notify.Notification {
	t.Helper()
	ns, err := db.DueNotifications(t.Context(), now, limit)
	must(t, err)
	return ns
}

func ids(ns []notify.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func testNotificationsDue(t *testing.T, db *sqlstore.DB) {
	sent := base.Add(-time.Minute)
	done := newNotification("ntf_sent", -time.Hour, 0)
	done.SentAt = &sent
	later := newNotification("ntf_later", -3*time.Hour, time.Second)
	noData := newNotification("ntf_nodata", -time.Minute, 0)
	noData.Data = nil
	enqueue(t, db, newNotification("ntf_b", -2*time.Hour, 0), done, later, noData,
		newNotification("ntf_a", -2*time.Hour, -time.Minute))

	t.Run("ok/oldest first, limited, data kept, claimed", func(t *testing.T) {
		got := due(t, db, base, 2)
		want := []notify.Notification{newNotification("ntf_a", -2*time.Hour, lease), newNotification("ntf_b", -2*time.Hour, lease)}
		sameJSON(t, "due", got, want)
	})
	t.Run("ok/the rest, without sent or future ones", func(t *testing.T) {
		want := newNotification("ntf_nodata", -time.Minute, lease)
		want.Data = nil
		sameJSON(t, "due", due(t, db, base, 10), []notify.Notification{want})
	})
	t.Run("ok/a future one once its time comes", func(t *testing.T) {
		if got := ids(due(t, db, base.Add(time.Second), 10)); !slices.Equal(got, []string{"ntf_later"}) {
			t.Fatalf("due = %v, want [ntf_later]", got)
		}
	})
	t.Run("error/limit", func(t *testing.T) {
		_, err := db.DueNotifications(t.Context(), base, 0)
		wantErr(t, err, errs.ErrInvalid)
	})
}

// testNotificationsClaim: what one dispatcher took is not handed to
// another until the claim runs out.
func testNotificationsClaim(t *testing.T, db *sqlstore.DB) {
	enqueue(t, db, newNotification("ntf_1", 0, 0))
	if got := ids(due(t, db, base, 10)); !slices.Equal(got, []string{"ntf_1"}) {
		t.Fatalf("first claim = %v", got)
	}
	if got := due(t, db, base.Add(lease-time.Nanosecond), 10); len(got) != 0 {
		t.Fatalf("claimed notification handed out again: %v", ids(got))
	}
	if got := ids(due(t, db, base.Add(lease), 10)); !slices.Equal(got, []string{"ntf_1"}) {
		t.Fatalf("after the claim ran out = %v, want [ntf_1]", got)
	}
}

func testNotificationMarks(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	enqueue(t, db, newNotification("ntf_1", 0, 0), newNotification("ntf_2", 0, 0))
	t.Run("ok/failed counts and reschedules", func(t *testing.T) {
		must(t, db.MarkNotificationFailed(ctx, "ntf_1", base.Add(time.Hour)))
		must(t, db.MarkNotificationFailed(ctx, "ntf_1", base.Add(2*time.Hour)))
		if got := ids(due(t, db, base.Add(2*time.Hour-time.Nanosecond), 10)); !slices.Equal(got, []string{"ntf_2"}) {
			t.Fatalf("due before the retry = %v, want [ntf_2]", got)
		}
		got := due(t, db, base.Add(2*time.Hour), 10)
		want := newNotification("ntf_1", 0, 2*time.Hour+lease)
		want.Attempts = 2
		sameJSON(t, "retried", got, []notify.Notification{want})
	})
	t.Run("ok/sent is never due again", func(t *testing.T) {
		must(t, db.MarkNotificationSent(ctx, "ntf_2", base))
		if got := due(t, db, base.Add(1000*time.Hour), 10); slices.Contains(ids(got), "ntf_2") {
			t.Fatal("a sent notification was due again")
		}
	})
	tests := []struct {
		name string
		mark func(id string) error
	}{
		{"sent", func(id string) error { return db.MarkNotificationSent(ctx, id, base) }},
		{"failed", func(id string) error { return db.MarkNotificationFailed(ctx, id, base) }},
	}
	for _, tc := range tests {
		t.Run("error/mark "+tc.name+" after sent", func(t *testing.T) { wantErr(t, tc.mark("ntf_2"), errs.ErrConflict) })
		t.Run("error/mark "+tc.name+" unknown", func(t *testing.T) { wantErr(t, tc.mark("ntf_nope"), errs.ErrNotFound) })
	}
}

func testNotificationsRefused(t *testing.T, db *sqlstore.DB) {
	enqueue(t, db, newNotification("ntf_1", 0, 0))
	noCustomer := newNotification("ntf_3", 0, 0)
	noCustomer.CustomerID = ""
	tooLate := newNotification("ntf_4", 0, 0)
	tooLate.NextAttemptAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ns   []notify.Notification
		want error
	}{
		{"error/duplicate id", []notify.Notification{newNotification("ntf_2", 0, 0), newNotification("ntf_1", 0, 0)}, errs.ErrConflict},
		{"error/no customer", []notify.Notification{newNotification("ntf_2", 0, 0), noCustomer}, errs.ErrInvalid},
		{"error/time out of range", []notify.Notification{tooLate}, errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			wantErr(t, db.EnqueueNotifications(t.Context(), tc.ns), tc.want)
			if got := ids(due(t, db, base.Add(time.Hour), 10)); !slices.Equal(got, []string{"ntf_1"}) {
				t.Fatalf("outbox = %v, want only ntf_1", got)
			}
			must(t, db.MarkNotificationFailed(t.Context(), "ntf_1", base)) // due again for the next case
		})
	}
}

// testNotificationsConcurrent: dispatchers claiming at once get disjoint
// sets that together cover the outbox.
func testNotificationsConcurrent(t *testing.T, db *sqlstore.DB) {
	const total = 40
	var ns []notify.Notification
	for i := range total {
		ns = append(ns, newNotification(fmt.Sprintf("ntf_%02d", i), time.Duration(i), 0))
	}
	enqueue(t, db, ns...)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := db.DueNotifications(t.Context(), base, 7)
			if err != nil {
				t.Errorf("due: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, n := range got {
				seen[n.ID]++
			}
		})
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
	if rest := len(due(t, db, base, total)); len(seen)+rest != total {
		t.Fatalf("claimed %d, left %d, want %d in all", len(seen), rest, total)
	}
}
