package geminihook

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/verify"
)

// The handler benchmarks run the whole pipeline (verify, dedupe, parse,
// publish and wait for pstest's acknowledgement, answer, log line) with
// the real clients, 16 deliveries in flight per core as a loaded instance
// sees them. They report; they assert nothing about speed.
//
//	go test -run '^$' -bench Handler -benchmem -cpuprofile cpu.out .

func benchHarness(b *testing.B, po publish.Options) *harness {
	h := newHarness(b, harnessOptions{publish: po})
	// The delivery log line is still encoded, but not kept in memory.
	h.fn.opts.logger = logging.New(io.Discard, slog.LevelInfo)
	// Build the clients and fetch the key set before the clock starts.
	if r := h.do(h.hmacRequest("msg_warm_hmac", h.sample("batch.succeeded", 0), h.secret)); r.status != http.StatusOK {
		b.Fatalf("warm-up answered %d %s", r.status, r.body)
	}
	if r := h.do(h.jwtRequest("msg_warm_jwt", h.sample("batch.succeeded", 0), nil)); r.status != http.StatusOK {
		b.Fatalf("warm-up answered %d %s", r.status, r.body)
	}
	return h
}

// runDeliveries sends b.N distinct deliveries built by mk concurrently and
// fails the benchmark on any answer but 200.
func runDeliveries(b *testing.B, h *harness, mk func(n int) request) {
	var next, failed atomic.Int64
	lat := make([]time.Duration, b.N+64)
	before := h.total()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := int(next.Add(1))
			req := mk(n)
			t0 := time.Now()
			r := h.do(req)
			if n < len(lat) {
				lat[n] = time.Since(t0)
			}
			if r.status != http.StatusOK {
				if failed.Add(1) == 1 {
					b.Errorf("delivery %d answered %d %s", n, r.status, r.body)
				}
			}
		}
	})
	b.StopTimer()
	lat = lat[1:min(int(next.Load())+1, len(lat))]
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	if got, want := h.total()-before, int(next.Load()-failed.Load()); got != want {
		b.Errorf("pstest holds %d new messages for %d answers 200", got, want)
	}
}

func BenchmarkHandlerHMAC(b *testing.B) { benchHMAC(b, publish.Options{}) }

func benchHMAC(b *testing.B, po publish.Options) {
	h := benchHarness(b, po)
	bodies := make([][]byte, len(samples.Types))
	for i, typ := range samples.Types {
		bodies[i] = h.sample(typ, i)
	}
	runDeliveries(b, h, func(n int) request {
		return h.hmacRequest("msg_bench_"+strconv.Itoa(n), bodies[n%len(bodies)], h.secret)
	})
}

func BenchmarkHandlerJWT(b *testing.B) {
	h := benchHarness(b, publish.Options{})
	bodies := make([][]byte, len(samples.Types))
	for i, typ := range samples.Types {
		bodies[i] = h.sample(typ, i)
	}
	// RS256 minting costs milliseconds, so deliveries share one token and
	// differ by webhook-id, the id the function dedupes on; verifying the
	// token (the function's cost) is done for every delivery.
	token := h.jwtRequest("x", nil, nil).header.Get(verify.HeaderSignature)
	ts := strconv.FormatInt(h.clock.Now().Unix(), 10)
	runDeliveries(b, h, func(n int) request {
		hd := http.Header{}
		hd.Set(verify.HeaderID, "msg_bench_"+strconv.Itoa(n))
		hd.Set(verify.HeaderTimestamp, ts)
		hd.Set(verify.HeaderSignature, token)
		return request{body: bodies[n%len(bodies)], header: hd}
	})
}

// BenchmarkPublishSettings compares publisher settings on the HMAC
// pipeline: how long a message may wait for others (DelayThreshold), the
// batch size (CountThreshold) and the publish goroutines (NumGoroutines).
func BenchmarkPublishSettings(b *testing.B) {
	for _, po := range []publish.Options{
		{DelayThreshold: time.Microsecond},
		{DelayThreshold: 100 * time.Microsecond},
		{DelayThreshold: 250 * time.Microsecond},
		{DelayThreshold: time.Millisecond},
		{DelayThreshold: 5 * time.Millisecond},
		{DelayThreshold: time.Millisecond, CountThreshold: 10},
		{DelayThreshold: time.Millisecond, NumGoroutines: 4},
		{DelayThreshold: time.Millisecond, NumGoroutines: 50},
	} {
		name := fmt.Sprintf("delay=%s/count=%d/goroutines=%d", po.DelayThreshold, po.CountThreshold, po.NumGoroutines)
		b.Run(name, func(b *testing.B) { benchHMAC(b, po) })
	}
}
