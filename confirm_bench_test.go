package geminihook

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/logging"
)

// confirmBenchDelay is how long the local Gemini API takes to answer in
// BenchmarkHandlerConfirm: a fixed stand-in for the real API's latency.
const confirmBenchDelay = 10 * time.Millisecond

// BenchmarkHandlerConfirm measures what confirmation adds to a delivery:
// the same HMAC pipeline as BenchmarkHandlerHMAC, one delivery at a time so
// that each latency is the delivery's own, with GEMINI_CONFIRM off, with it
// on and every delivery about a new resource (one API call each, the API
// answering after confirmBenchDelay), and with it on and every delivery
// about one resource (served from the confirmer's cache). It reports; it
// asserts nothing about speed.
//
//	go test -run '^$' -bench HandlerConfirm -benchtime 200x .
func BenchmarkHandlerConfirm(b *testing.B) {
	for _, bc := range []struct {
		name, mode   string
		sameResource bool
	}{
		{"off", "off", false},
		{"all/new-resource", "all", false},
		{"all/cached-resource", "all", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchConfirm(b, newConfirmHarness(b, bc.mode, harnessOptions{}), bc.sameResource)
		})
	}
}

func benchConfirm(b *testing.B, h *confirmHarness, sameResource bool) {
	h.fn.opts.logger = logging.New(io.Discard, slog.LevelInfo)
	h.api.SetDelay(confirmBenchDelay)
	resource := func(n int) int {
		if sameResource {
			return 1
		}
		return n + 1
	}
	const typ = "batch.succeeded"
	// Build the clients, read the keys and warm the SDK's connection.
	h.seed(typ, resource(0), true)
	if r := h.deliver("msg_warm", typ, resource(0), false); r.status != http.StatusOK {
		b.Fatalf("warm-up answered %d %s", r.status, r.body)
	}
	reqs := make([]request, b.N)
	for i := range reqs {
		h.seed(typ, resource(i+1), true)
		reqs[i] = h.hmacRequest("msg_bench_"+strconv.Itoa(i), h.sample(typ, resource(i+1)), h.secret)
	}
	calls := h.api.Calls()
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		r := h.do(reqs[i])
		lat[i] = time.Since(t0)
		if r.status != http.StatusOK {
			b.Fatalf("delivery %d answered %d %s", i, r.status, r.body)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(h.api.Calls()-calls)/float64(b.N), "api-calls/op")
}
