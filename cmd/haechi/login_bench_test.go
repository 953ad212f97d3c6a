package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
)

// The login benchmarks run `serve --demo` at the production Argon2id cost,
// not at the lowered cost startDemo gives the race-enabled suite: the ratio
// to bare verifications and the memory bound only mean something at the
// cost the server ships with.

var loginClients = flag.Int("login-clients", 0, "BenchmarkLogin/full-login: concurrent clients (0: four per hash worker)")

// bareVerifies is the rate bare-argon2id measured in this run, so that
// full-login can state its ratio to it.
var bareVerifies float64

// BenchmarkLogin measures, in the same run and process, bare Argon2id
// verifications per second on as many goroutines as the server has hash
// workers, and full logins per second against the running server over
// loopback TCP: nonce, device signature, DPoP proof, PIN under the lockout
// ladder, audit and tokens. Its ratio is the cost of everything around the
// hash (the client's signing included: it shares the CPUs).
//
//	go test -run '^$' -bench 'BenchmarkLogin$' -benchtime=10s ./cmd/haechi
func BenchmarkLogin(b *testing.B) {
	raiseRateLimits(b)
	lb := startLoginBench(b, func(workers int) int {
		if *loginClients > 0 {
			return *loginClients
		}
		return 4 * workers
	})
	b.Run("bare-argon2id", func(b *testing.B) { benchBareVerify(b, lb) })
	b.Run("full-login", func(b *testing.B) { benchFullLogin(b, lb.phones) })
}

// floodSize is how many logins BenchmarkLoginFlood fires at once.
const floodSize = 1000

// BenchmarkLoginFlood fires 1,000 logins of 1,000 customers at once and
// samples the heap every 10 ms. The hash pool must bound memory (its
// workers hash, its queue waits, the rest are told 503); any other 5xx
// fails. "distinct-ips" comes from 1,000 addresses (X-Forwarded-For from a
// trusted loopback proxy), "one-ip" from one, to which the spraying rule
// charges every failure. Setting up 1,000 PINs at production cost takes a
// while, and a second flood in one run meets the failures the first left:
//
//	go test -run '^$' -bench 'BenchmarkLoginFlood' -benchtime=1x ./cmd/haechi
func BenchmarkLoginFlood(b *testing.B) {
	raiseRateLimits(b)
	b.Setenv("HAECHI_TRUSTED_PROXIES", "127.0.0.1/32")
	lb := startLoginBench(b, func(int) int { return floodSize })
	b.Run("distinct-ips", func(b *testing.B) { benchFlood(b, lb, true) })
	b.Run("one-ip", func(b *testing.B) { benchFlood(b, lb, false) })
}

func raiseRateLimits(b *testing.B) {
	for _, k := range []string{"HAECHI_RATE_IP_PER_SEC", "HAECHI_RATE_IP_BURST", "HAECHI_RATE_CLIENT_PER_SEC", "HAECHI_RATE_CLIENT_BURST"} {
		b.Setenv(k, "1000000")
	}
}

// loginBench is a running server with customers, each with the bank's app
// registered on a phone of their own and a PIN set.
type loginBench struct {
	srv *demoServer
	// hasher is built from the server's configuration as the server
	// builds its own: same parameters, workers and queue.
	hasher    *crypto.Hasher
	workers   int
	hashMemKB int
	customers []benchCustomer
	phones    []*benchPhone
	client    *http.Client
}

type benchCustomer struct {
	institutionID string
	id            deviceapp.Identity
}

type benchPhone struct {
	app *deviceapp.App
	pin string
}

// startLoginBench starts the server with phones(hash workers) customers,
// each on a phone of their own. Only one login per customer can be in
// flight (the ladder reserves it), so every concurrent login needs its own
// customer.
func startLoginBench(b *testing.B, phones func(workers int) int) *loginBench {
	b.Helper()
	dir := b.TempDir()
	lb := &loginBench{}
	lb.seed(b, dir, phones)
	lb.client = benchClient(len(lb.customers))
	lb.srv = startAtProductionCost(b, dir)
	lb.addPhones(b)
	return lb
}

func benchClient(conns int) *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}}
}

// seed creates the customers with the server stopped, spread over
// institutions of five: the carrier simulator knows five people, and a
// phone number is unique within one institution only.
func (lb *loginBench) seed(b *testing.B, dir string, phones func(workers int) int) {
	ctx := context.Background()
	cfg, _, err := config.Load("serve", []string{"--demo", "--data-dir", dir}, true, config.OSEnv())
	if err != nil {
		b.Fatal(err)
	}
	a, err := openApp(ctx, cfg, config.OSEnv(), schemaMigrate)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	lb.hasher, lb.workers, lb.hashMemKB = a.hasher, cfg.HashWorkers, cfg.HashMemoryKiB
	if lb.customers, err = createCustomers(ctx, a, phones(cfg.HashWorkers)); err != nil {
		b.Fatal(err)
	}
}

func createCustomers(ctx context.Context, a *app, n int) ([]benchCustomer, error) {
	var cs []benchCustomer
	subs := carrier.DefaultSubscribers()
	for i := 0; len(cs) < n; i++ {
		inst, _, err := a.institutions.CreateClient(ctx, "bench", fmt.Sprintf("Bench Bank %d", i+1), institution.KnownScopes)
		if err != nil {
			return nil, err
		}
		for _, s := range subs[:min(len(subs), n-len(cs))] {
			id := deviceapp.Identity{Name: s.Name, BirthDate: s.BirthDate, Phone: s.Phone}
			if _, err := a.customers.Create(ctx, "bench", inst.ID, customer.New{Name: id.Name, BirthDate: id.BirthDate, Phone: id.Phone}); err != nil {
				return nil, err
			}
			cs = append(cs, benchCustomer{inst.ID, id})
		}
	}
	return cs, nil
}

// startAtProductionCost is startDemo without cheapHashes.
func startAtProductionCost(b *testing.B, dir string) *demoServer {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", dir}, pw, io.Discard)
		pw.Close()
	}()
	d := &demoServer{dataDir: dir}
	b.Cleanup(func() { cancel(); <-done })
	d.readBanner(b, bufio.NewScanner(pr))
	go io.Copy(io.Discard, pr)
	return d
}

// addPhones registers the app on a new phone and sets a PIN for every
// customer, through the API as the app does. Registrations run in one lane
// per phone number: the carrier simulator keeps only the last code it sent
// to a number.
func (lb *loginBench) addPhones(b *testing.B) {
	b.Helper()
	lanes := map[string][]int{}
	for i, c := range lb.customers {
		lanes[c.id.Phone] = append(lanes[c.id.Phone], i)
	}
	phones := make([]*benchPhone, len(lb.customers))
	var wg sync.WaitGroup
	errc := make(chan error, len(lanes))
	for _, lane := range lanes {
		wg.Go(func() {
			for _, i := range lane {
				p, err := lb.registerPhone(lb.customers[i])
				if err != nil {
					errc <- fmt.Errorf("customer %d: %w", i, err)
					return
				}
				phones[i] = p
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	lb.phones = phones
}

func (lb *loginBench) registerPhone(c benchCustomer) (*benchPhone, error) {
	ctx := context.Background()
	app, err := deviceapp.NewApp(lb.srv.base, c.institutionID, deviceapp.DemoReport(time.Now()))
	if err != nil {
		return nil, err
	}
	app.HTTP = lb.client
	if _, err := app.Register(ctx, c.id); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	pin := randomPIN(c.id.BirthDate, "")
	if err := app.SetCredential(ctx, deviceapp.MethodPIN, pin); err != nil {
		return nil, fmt.Errorf("set PIN: %w", err)
	}
	return &benchPhone{app: app, pin: pin}, nil
}

// benchBareVerify is Argon2id with pepper through the pool, nothing else,
// on as many goroutines as the pool has workers.
func benchBareVerify(b *testing.B, lb *loginBench) {
	ctx := context.Background()
	secret := []byte("135790")
	encoded, err := lb.hasher.Hash(ctx, secret)
	if err != nil {
		b.Fatal(err)
	}
	lat := saturate(b, lb.workers, func(int) error {
		ok, err := lb.hasher.Verify(ctx, encoded, secret)
		if err == nil && !ok {
			err = errors.New("the right secret did not verify")
		}
		return err
	})
	bareVerifies = float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(bareVerifies, "verifies/s")
	reportLatency(b, lat)
}

// benchFullLogin has each client log in again and again with its own
// customer's phone and PIN.
func benchFullLogin(b *testing.B, phones []*benchPhone) {
	ctx := context.Background()
	lat := saturate(b, len(phones), func(w int) error {
		p := phones[w]
		tok, err := p.app.Login(ctx, deviceapp.MethodPIN, p.pin)
		if err == nil && (tok.TokenType != "DPoP" || tok.AccessToken == "" || tok.RefreshToken == "") {
			err = fmt.Errorf("login answered tokens of type %q", tok.TokenType)
		}
		return err
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "logins/s")
	reportLatency(b, lat)
	if bareVerifies > 0 {
		b.ReportMetric(rate/bareVerifies, "x-bare")
		b.Logf("%d clients: %.1f logins/s = %.2f × bare Argon2id (%.1f verifies/s)", len(phones), rate, rate/bareVerifies, bareVerifies)
	}
}

// saturate runs b.N operations on n goroutines, each taking the next as
// soon as its last one ends, and returns every operation's latency. It
// also reports the process's CPU time per operation and the cores it kept
// busy: on a shared machine the rates move with the neighbours' load, the
// CPU time much less.
func saturate(b *testing.B, n int, op func(worker int) error) []time.Duration {
	var next atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for w := range n {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				err := op(w)
				lat[w] = append(lat[w], time.Since(start))
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if cpu1, ok := processCPU(); ok && cpuOK {
		used := cpu1 - cpu0
		b.ReportMetric(ms(used)/float64(b.N), "cpu-ms/op")
		b.ReportMetric(used.Seconds()/b.Elapsed().Seconds(), "cores")
	}
	return slices.Concat(lat...)
}

// processCPU is the user and system time of this process so far, from
// /proc/self/stat (Linux; false elsewhere), in ticks of USER_HZ, which
// Linux fixes at 100 for this interface.
func processCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is the first, utime the 12th and stime the 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}

// percentile of sorted latencies, by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[max(int(math.Ceil(p*float64(len(sorted))))-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

const mib = 1 << 20

// floodResult is what one flood found.
type floodResult struct {
	outcomes         map[string]int // "200", "<status> <code>" or "transport error"
	transportErr     error          // the first transport error, if any
	ok, busy         []time.Duration
	baseline         uint64 // HeapInuse after a GC, before the flood
	peakHeap, peakOS uint64 // HeapInuse; Sys − HeapReleased (held from the OS)
}

func benchFlood(b *testing.B, lb *loginBench, distinctIPs bool) {
	lb.route(distinctIPs)
	var last floodResult
	var peakHeap, peakOS uint64
	for range b.N {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		last = flood(lb.phones)
		peakHeap, peakOS = max(peakHeap, last.peakHeap), max(peakOS, last.peakOS)
		checkFlood(b, lb, last)
	}
	last.peakHeap, last.peakOS = peakHeap, peakOS
	reportFlood(b, last)
}

// route sends each phone's requests through a proxy giving the phone an
// address of its own, or all straight from loopback.
func (lb *loginBench) route(distinctIPs bool) {
	for i, p := range lb.phones {
		p.app.HTTP = lb.client
		if distinctIPs {
			n := i + 1
			p.app.HTTP = forwardedClient(lb.client, fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
		}
	}
}

// reportFlood reports the peaks over every flood and the last one's
// outcomes.
func reportFlood(b *testing.B, r floodResult) {
	b.ReportMetric(float64(r.peakHeap)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(r.peakOS)/mib, "peak-os-MiB")
	b.ReportMetric(float64(r.baseline)/mib, "base-heap-MiB")
	total := 0
	for _, n := range r.outcomes {
		total += n
	}
	b.ReportMetric(float64(len(r.ok)), "ok")
	b.ReportMetric(float64(len(r.busy)), "busy")
	b.ReportMetric(float64(total-len(r.ok)-len(r.busy)), "refused")
	slices.Sort(r.ok)
	slices.Sort(r.busy)
	b.ReportMetric(ms(percentile(r.ok, 0.99)), "ok-p99-ms")
	b.ReportMetric(ms(percentile(r.busy, 0.99)), "busy-p99-ms")
	b.Logf("last flood of %d: %s", total, describe(r.outcomes))
}

// flood fires every phone's login at once and watches the heap meanwhile.
func flood(phones []*benchPhone) floodResult {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	r := floodResult{outcomes: map[string]int{}, baseline: m.HeapInuse}
	fails := make([]error, len(phones))
	took := make([]time.Duration, len(phones))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range phones {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			_, fails[i] = p.app.Login(context.Background(), deviceapp.MethodPIN, p.pin)
			took[i] = time.Since(t0)
		})
	}
	stop := watchMemory()
	close(start)
	wg.Wait()
	r.peakHeap, r.peakOS = stop()
	for i, err := range fails {
		o := outcome(err)
		r.outcomes[o]++
		switch {
		case o == transportError && r.transportErr == nil:
			r.transportErr = err
		case err == nil:
			r.ok = append(r.ok, took[i])
		case o == busyOutcome && retryAfterOf(err) > 0:
			r.busy = append(r.busy, took[i])
		}
	}
	return r
}

// transportError is the outcome of a login that got no HTTP answer.
const transportError = "transport error"

// busyOutcome is the one 5xx a flood may meet: the hash pool's queue is
// full, answered 503 with Retry-After.
var busyOutcome = fmt.Sprintf("%d %s", http.StatusServiceUnavailable, errs.ErrUnavailable.Code)

func outcome(err error) string {
	if err == nil {
		return "200"
	}
	p, ok := deviceapp.AsProblem(err)
	if !ok {
		return transportError
	}
	return fmt.Sprintf("%d %s", p.Status, p.Code)
}

func retryAfterOf(err error) time.Duration {
	p, _ := deviceapp.AsProblem(err)
	return p.RetryAfter
}

// checkFlood fails on any 5xx but the busy answer (which must carry
// Retry-After), on a transport error, on a flood that logged no one in, and
// on a heap past what the pool allows. The live heap is at most the heap
// before the flood and one Argon2id buffer per worker; the collector lets
// the heap reach twice the live heap before it collects and allocation
// goes on while it marks, hence three times that, and 256 MiB for the
// requests' own state. A pool that let every login hash at once would need
// 1,000 buffers (46 GiB at the default cost).
func checkFlood(b *testing.B, lb *loginBench, r floodResult) {
	for o, n := range r.outcomes {
		if o == transportError || (strings.HasPrefix(o, "5") && o != busyOutcome) {
			b.Errorf("%d logins answered %s", n, o)
		}
	}
	if r.transportErr != nil {
		b.Errorf("first transport error: %v", r.transportErr)
	}
	if n := r.outcomes[busyOutcome] - len(r.busy); n > 0 {
		b.Errorf("%d busy answers without Retry-After", n)
	}
	if len(r.ok) == 0 {
		b.Errorf("no login succeeded: %s", describe(r.outcomes))
	}
	bound := 3*(r.baseline+uint64(lb.workers)*uint64(lb.hashMemKB)*1024) + 256*mib
	if r.peakHeap > bound {
		b.Errorf("heap peaked at %d MiB, over the pool's bound of %d MiB", r.peakHeap/mib, bound/mib)
	}
}

func describe(outcomes map[string]int) string {
	keys := make([]string, 0, len(outcomes))
	for k := range outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, outcomes[k])
	}
	return strings.Join(parts, ", ")
}

// watchMemory samples the heap every 10 ms until the returned function is
// called, which returns the peaks of HeapInuse and of Sys − HeapReleased.
func watchMemory() func() (heap, os uint64) {
	done := make(chan struct{})
	peaks := make(chan [2]uint64, 1)
	go func() {
		var peak [2]uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak[0], peak[1] = max(peak[0], m.HeapInuse), max(peak[1], m.Sys-m.HeapReleased)
			select {
			case <-done:
				peaks <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		p := <-peaks
		return p[0], p[1]
	}
}

// forwardedClient sends every request as if through a proxy on loopback
// for a phone at ip, so the server sees each phone's own address.
func forwardedClient(base *http.Client, ip string) *http.Client {
	return &http.Client{Timeout: base.Timeout, Transport: forwardedFor{base.Transport, ip}}
}

type forwardedFor struct {
	next http.RoundTripper
	ip   string
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return f.next.RoundTrip(r)
}
