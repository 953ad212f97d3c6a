package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
	"github.com/haechi/haechi/internal/webhook"
)

// BenchmarkDispatch measures deliveries per second from the outbox to a
// local receiver: claim, open the endpoint's secrets, sign, POST, record.
// The receiver only answers 204, so the figure is the dispatcher's and
// the store's cost, not a real network's.
func BenchmarkDispatch(b *testing.B) {
	engines := []struct {
		name string
		open func(testing.TB) *sqlstore.DB
	}{
		{"sqlite", func(tb testing.TB) *sqlstore.DB { return storetest.MustOpenSQLite(tb, storetest.Options()) }},
		{"postgres", func(tb testing.TB) *sqlstore.DB { return storetest.MustOpenPostgres(tb, storetest.Options()) }},
	}
	for _, eng := range engines {
		for _, workers := range []int{1, webhook.DefaultWorkers} {
			b.Run(fmt.Sprintf("%s/workers=%d", eng.name, workers), func(b *testing.B) {
				benchDispatch(b, eng.open(b), workers)
			})
		}
	}
}

func benchDispatch(b *testing.B, db *sqlstore.DB, workers int) {
	ctx := context.Background()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rcv.Close)
	ring, err := crypto.LoadKeyring(ctx, crypto.NewKeyMaterial(), db, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	svc := &webhook.Service{Store: db, Ring: ring, Now: time.Now, AllowHTTP: true}
	const owners = 4 // a batch resolves each owner once
	for i := range owners {
		if _, err := svc.SetEndpoint(ctx, "op_bench", fmt.Sprintf("cl_%d", i), rcv.URL); err != nil {
			b.Fatal(err)
		}
	}
	enqueueN(b, db, b.N, owners)
	d := &webhook.Dispatcher{Store: db, Endpoints: svc, Client: webhook.NewClient(true), Workers: workers}
	b.ResetTimer()
	delivered := 0
	for delivered < b.N {
		n, err := d.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatalf("stalled after %d of %d deliveries", delivered, b.N)
		}
		delivered += n
	}
	b.StopTimer()
	b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "deliveries/s")
}

// enqueueN adds n events a thousand per transaction, created in the past
// so that all are due at once.
func enqueueN(b *testing.B, db *sqlstore.DB, n, owners int) {
	b.Helper()
	at := time.Now().Add(-time.Minute)
	for done := 0; done < n; {
		batch := make([]webhook.Event, 0, min(1000, n-done))
		for range cap(batch) {
			body := fmt.Sprintf(`{"id":"ekyc_%08d","status":"passed","name":"홍*동"}`, done)
			batch = append(batch, webhook.NewEvent(fmt.Sprintf("cl_%d", done%owners), "verification.passed", []byte(body), at))
			done++
		}
		if err := db.EnqueueWebhookEvents(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}
