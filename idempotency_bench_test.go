package geminihook

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/internal/samples"
)

// firestoreCallDelay is what each Firestore call costs in
// BenchmarkHandlerFirestore: a same-region round trip and commit.
const firestoreCallDelay = 2 * time.Millisecond

// BenchmarkHandlerFirestore is BenchmarkHandlerHMAC with the Firestore
// store (GEMINI_DEDUPE=firestore) answering every call after
// firestoreCallDelay, and reports the store calls per delivery. Compare
// the two from one run:
//
//	go test -run '^$' -bench 'Handler(HMAC|Firestore)$' -benchtime 2000x -count 3 .
func BenchmarkHandlerFirestore(b *testing.B) {
	h, fs, _ := newFirestoreHarness(b, harnessOptions{})
	h.fn.opts.logger = logging.New(io.Discard, slog.LevelInfo)
	if r := h.do(h.hmacRequest("msg_warm_hmac", h.sample("batch.succeeded", 0), h.secret)); r.status != http.StatusOK {
		b.Fatalf("warm-up answered %d %s", r.status, r.body)
	}
	fs.Delay("", firestoreCallDelay)
	bodies := make([][]byte, len(samples.Types))
	for i, typ := range samples.Types {
		bodies[i] = h.sample(typ, i)
	}
	before := fs.Calls("")
	runDeliveries(b, h, func(n int) request {
		return h.hmacRequest("msg_bench_"+strconv.Itoa(n), bodies[n%len(bodies)], h.secret)
	})
	b.ReportMetric(float64(fs.Calls("")-before)/float64(b.N), "store-calls/op")
}
