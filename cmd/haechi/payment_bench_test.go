package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/storetest"
	"github.com/haechi/haechi/sdk/checkout"
)

// BenchmarkPayment measures payments end to end over loopback HTTP, as
// the benchmark asks: the Go checkout client (sdk/checkout) →
// `serve --demo` in this process (the real api.Server and payment.Service
// on SQLite, and on PostgreSQL when HAECHI_TEST_POSTGRES_URL is set) →
// the merchant's order lookup (sdk/merchant LookupHandler on its own
// loopback server) → the card simulator. One payment is steps 1–15: the
// merchant creates the order and its TID_S, the client sends C with TID_C
// (checkout), the gateway verifies it with the merchant (protected mode
// only), and the client sends the card (authorize), approved for 6,900
// KRW. The merchant's Confirm (steps 16–19) is the same call in both modes
// and is left out.
//
// Each engine runs a protected and a legacy merchant in the same server
// and run, one client after another and then in parallel, and reports
// for protected its rate as a ratio to legacy ("x-legacy") and what the
// verification costs on the wire per payment. Bytes are TCP payload
// counted on the sockets themselves — HTTP/1.1 request and status lines,
// headers and bodies, both directions — on the client's connections to
// the gateway and on the merchant lookup server's connections from the
// gateway (webhooks go to another server and are not counted); TCP/IP
// headers and handshakes are not. Round trips are HTTP requests. Nothing
// in the loop hashes with Argon2id: the checkout routes take no
// credential, the operator login that registers the merchants runs once
// before, and merchant API keys (unused here) are HMACs.
//
//	go test -run '^$' -bench BenchmarkPayment -benchtime 200x ./cmd/haechi
func BenchmarkPayment(b *testing.B) {
	raiseRateLimits(b)
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			if engine == "postgres" {
				// A schema of its own, dropped at the end; skips with a
				// message when HAECHI_TEST_POSTGRES_URL is unset.
				b.Setenv("HAECHI_DATABASE_URL", storetest.PostgresSchemaURL(b))
			}
			pb := startPaymentBench(b)
			for _, sub := range []struct {
				name     string
				mode     payment.Mode
				parallel bool
			}{
				{"legacy", payment.Legacy, false},
				{"protected", payment.Protected, false},
				{"legacy-parallel", payment.Legacy, true},
				{"protected-parallel", payment.Protected, true},
			} {
				b.Run(sub.name, func(b *testing.B) {
					pb.run(b, sub.name, sub.mode, sub.parallel)
					if sub.name == "protected-parallel" && b.N > 1 {
						// Logged here, not by the engine's benchmark,
						// whose log shows only under -v; and only for
						// the measured run, not the framework's N=1 probe.
						pb.summary(b)
					}
				})
			}
		})
	}
}

// Parallel clients per GOMAXPROCS in the parallel variants.
const payParallelism = 4

// wire counts what crosses one end of some TCP connections.
type wire struct {
	in, out, trips, conns atomic.Int64
}

// wireUse is a wire's counts over some payments, per payment; in and out
// as seen from the counting end.
type wireUse struct {
	in, out, trips, conns float64
}

func (u wireUse) bytes() float64 { return u.in + u.out }

func (w *wire) snapshot() [4]int64 {
	return [4]int64{w.in.Load(), w.out.Load(), w.trips.Load(), w.conns.Load()}
}

func (w *wire) since(s [4]int64, n int) wireUse {
	now := w.snapshot()
	per := func(i int) float64 { return float64(now[i]-s[i]) / float64(n) }
	return wireUse{in: per(0), out: per(1), trips: per(2), conns: per(3)}
}

type countedConn struct {
	net.Conn
	w *wire
}

func (c countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.in.Add(int64(n))
	return n, err
}

func (c countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.out.Add(int64(n))
	return n, err
}

type countedListener struct {
	net.Listener
	w *wire
}

func (l countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.w.conns.Add(1)
	return countedConn{c, l.w}, nil
}

// countedTrips counts the HTTP requests that pass.
type countedTrips struct {
	next http.RoundTripper
	w    *wire
}

func (t countedTrips) RoundTrip(r *http.Request) (*http.Response, error) {
	t.w.trips.Add(1)
	return t.next.RoundTrip(r)
}

// countedClient is an HTTP client whose every connection and request is
// counted on w. Like sdk/checkout's default it follows no redirect.
func countedClient(w *wire) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			w.conns.Add(1)
			return countedConn{c, w}, nil
		},
		MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
	}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     countedTrips{tr, w},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// payResult is one sub-benchmark's outcome.
type payResult struct {
	rate             float64 // payments/s
	cpu              float64 // ms of process CPU per payment; 0 if unknown
	client, merchant wireUse
}

// paymentBench is a running gateway with one merchant per mode and a
// checkout client, all on loopback.
type paymentBench struct {
	servers  *payShops
	shops    map[payment.Mode]*payShop
	buyer    *checkout.Client
	client   *wire // checkout client ↔ gateway
	merchant *wire // gateway ↔ merchant order lookup
	expiry   string
	seq      atomic.Int64 // order numbers
	approved atomic.Int64 // payments approved so far, each one webhook
	results  map[string]payResult
	order    []string
}

func startPaymentBench(b *testing.B) *paymentBench {
	b.Helper()
	pb := &paymentBench{client: &wire{}, merchant: &wire{}, shops: map[payment.Mode]*payShop{},
		results: map[string]payResult{}, expiry: fmt.Sprintf("12/%02d", (time.Now().Year()+3)%100)}
	d := startDemo(b, b.TempDir())
	pb.servers = startPayShops(b, pb.merchant)
	for _, s := range pb.servers.register(b, d, payment.Protected, payment.Legacy) {
		pb.shops[s.mode] = s
	}
	pb.buyer = &checkout.Client{Gateway: d.base, HTTP: countedClient(pb.client)}
	// Warm both paths up (connections, statement caches, the first
	// pages of each table) before anything is measured.
	for range warmPayments {
		for _, shop := range pb.shops {
			if err := pb.pay(context.Background(), shop); err != nil {
				b.Fatal(err)
			}
		}
	}
	return pb
}

// warmPayments is how many payments of each mode run before measuring.
const warmPayments = 10

// drain waits (up to drainWait) until the merchants received the webhook
// of every payment made so far, so that one sub-benchmark's deliveries
// (the outbox runs every 2 s) are not done on the next one's time.
func (pb *paymentBench) drain(b *testing.B) {
	deadline := time.Now().Add(drainWait)
	for pb.servers.delivered.Load() < pb.approved.Load() {
		if time.Now().After(deadline) {
			b.Logf("webhooks not drained after %v: %d of %d delivered", drainWait, pb.servers.delivered.Load(), pb.approved.Load())
			return
		}
		time.Sleep(20 * time.Millisecond) // waiting for the server's outbox, not for time
	}
}

const drainWait = 10 * time.Second

// countRequests counts each request h serves as a round trip.
func countRequests(h http.Handler, w *wire) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.trips.Add(1)
		h.ServeHTTP(rw, r)
	})
}

// pay is one payment of a fresh order of 6,900 KRW at shop.
func (pb *paymentBench) pay(ctx context.Context, shop *payShop) error {
	// Order numbers of one length in both modes, so that neither pays
	// for longer ones on the wire.
	orderNo := fmt.Sprintf("BENCH-%c-%07d", shop.mode[0], pb.seq.Add(1))
	s, err := shop.CreateOrderContext(ctx, orderNo, "bench coupon", 6900, 1, "KRW")
	if err != nil {
		return err
	}
	tx, err := pb.buyer.Start(ctx, s)
	if err != nil {
		return fmt.Errorf("checkout %s: %w", orderNo, err)
	}
	if tx.Code != checkout.CodeNormal {
		return fmt.Errorf("checkout %s: %s (%s)", orderNo, tx.Code, tx.Reason)
	}
	p, err := pb.buyer.Pay(ctx, tx, checkout.Card{PAN: "4111111111111111", Expiry: pb.expiry, CVV: "123"})
	if err != nil {
		return fmt.Errorf("authorize %s: %w", orderNo, err)
	}
	if !p.Approved() || p.Amount != 6900 || p.Card != "411111******1111" {
		return fmt.Errorf("authorize %s: %s %d %s", orderNo, p.Status, p.Amount, p.Card)
	}
	pb.approved.Add(1)
	return nil
}

func (pb *paymentBench) run(b *testing.B, name string, mode payment.Mode, parallel bool) {
	ctx := context.Background()
	shop := pb.shops[mode]
	b.StopTimer()
	pb.drain(b)
	b.StartTimer()
	c0, m0 := pb.client.snapshot(), pb.merchant.snapshot()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	if parallel {
		b.SetParallelism(payParallelism)
		b.RunParallel(func(p *testing.PB) {
			for p.Next() {
				if err := pb.pay(ctx, shop); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for range b.N {
			if err := pb.pay(ctx, shop); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	r := payResult{rate: float64(b.N) / b.Elapsed().Seconds(), client: pb.client.since(c0, b.N), merchant: pb.merchant.since(m0, b.N)}
	if cpu1, ok := processCPU(); ok && cpuOK {
		// The whole process: client, gateway, merchant and simulator. On
		// a shared machine it moves less with the neighbours than rates.
		r.cpu = ms(cpu1-cpu0) / float64(b.N)
		b.ReportMetric(r.cpu, "cpu-ms/op")
	}
	if mode == payment.Legacy && r.merchant.trips != 0 {
		b.Errorf("legacy mode looked orders up at the merchant (%.2f requests per payment)", r.merchant.trips)
	}
	if mode == payment.Protected && r.merchant.trips < 1 {
		b.Errorf("protected mode made %.2f lookups per payment; want at least 1", r.merchant.trips)
	}
	if _, seen := pb.results[name]; !seen {
		pb.order = append(pb.order, name)
	}
	pb.results[name] = r
	b.ReportMetric(r.rate, "payments/s")
	b.ReportMetric(r.client.bytes(), "client-B/op")
	b.ReportMetric(r.client.trips, "client-rt/op")
	b.ReportMetric(r.merchant.bytes(), "merchant-B/op")
	b.ReportMetric(r.merchant.trips, "merchant-rt/op")
	if legacy, ok := pb.results[strings.Replace(name, "protected", "legacy", 1)]; ok && mode == payment.Protected {
		b.ReportMetric(r.rate/legacy.rate, "x-legacy")
		b.ReportMetric(r.client.bytes()+r.merchant.bytes()-legacy.client.bytes()-legacy.merchant.bytes(), "extra-B/op")
		b.ReportMetric(r.client.trips+r.merchant.trips-legacy.client.trips-legacy.merchant.trips, "extra-rt/op")
	}
}

// summary logs the engine's table: rates, the ratio, and per payment the
// bytes and round trips on each link and what protected adds.
func (pb *paymentBench) summary(b *testing.B) {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tpayments/s\tx legacy\tcpu ms\tclient→gw B\tgw→client B\trt\tgw→merchant B\tmerchant→gw B\trt\tgw conns\textra B\textra rt\t")
	for _, name := range pb.order {
		r := pb.results[name]
		ratio, extraB, extraRT := "", "", ""
		if legacy, ok := pb.results[strings.Replace(name, "protected", "legacy", 1)]; ok && strings.HasPrefix(name, "protected") {
			ratio = fmt.Sprintf("%.2f", r.rate/legacy.rate)
			extraB = fmt.Sprintf("%+.0f", r.client.bytes()+r.merchant.bytes()-legacy.client.bytes()-legacy.merchant.bytes())
			extraRT = fmt.Sprintf("%+.2f", r.client.trips+r.merchant.trips-legacy.client.trips-legacy.merchant.trips)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%.2f\t%.0f\t%.0f\t%.2f\t%.0f\t%.0f\t%.2f\t%.3f\t%s\t%s\t\n", name, r.rate, ratio, r.cpu,
			r.client.out, r.client.in, r.client.trips, r.merchant.in, r.merchant.out, r.merchant.trips, r.merchant.conns, extraB, extraRT)
	}
	tw.Flush()
	b.Logf("per payment (TCP payload bytes both ways, HTTP round trips; gw conns = new gateway→merchant connections):\n%s", sb.String())
}
