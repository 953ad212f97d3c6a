package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/haechi/haechi/internal/notify"
)

func TestSimulator(t *testing.T) {
	n := notify.New("cus_1", notify.KindDeviceRegistered, map[string]string{"model": "SM-S918N"}, base)
	t.Run("ok/records per customer, returns copies", func(t *testing.T) {
		sim := notify.NewSimulator()
		if err := sim.Deliver(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		in := sim.Inbox("cus_1")
		in[0].Data["model"] = "changed"
		if got := sim.Inbox("cus_1"); len(got) != 1 || got[0].ID != n.ID || got[0].Data["model"] != "SM-S918N" {
			t.Fatalf("inbox %+v", got)
		}
		if len(sim.Inbox("cus_2")) != 0 {
			t.Fatal("delivered to the wrong customer")
		}
	})
	t.Run("error/injected failures, then success", func(t *testing.T) {
		sim := notify.NewSimulator()
		sim.FailNext(2)
		for range 2 {
			if err := sim.Deliver(t.Context(), n); !errors.Is(err, notify.ErrSimulatedFailure) {
				t.Fatalf("error = %v, want injected failure", err)
			}
		}
		if err := sim.Deliver(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		wantInbox(t, sim, "cus_1", 1)
	})
	t.Run("error/cancelled context", func(t *testing.T) {
		sim := notify.NewSimulator()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := sim.Deliver(ctx, n); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v", err)
		}
		wantInbox(t, sim, "cus_1", 0)
	})
	t.Run("ok/concurrent deliveries", func(t *testing.T) {
		sim := notify.NewSimulator()
		sim.FailNext(10)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { sim.Deliver(t.Context(), n) })
		}
		wg.Wait()
		wantInbox(t, sim, "cus_1", 40)
	})
}
