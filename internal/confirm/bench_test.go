package confirm_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/geminijobs"
)

// benchDelay is the fixed time the local API takes to answer.
const benchDelay = 2 * time.Millisecond

// BenchmarkConfirm measures the latency confirmation adds to a delivery,
// with the local API answering after benchDelay:
//
//   - off: GEMINI_CONFIRM=off, no call (the no-op baseline);
//   - raw-get: one plain HTTP GET of the same resource from the same server,
//     the floor any confirmation pays (the fixed delay plus a local round
//     trip);
//   - new: Confirm of a resource not seen before (one SDK call);
//   - duplicate: Confirm of a resource already confirmed (cache, no call).
//
// Run with: go test -run '^$' -bench BenchmarkConfirm -benchtime 300x -count 3 ./internal/confirm/
func BenchmarkConfirm(b *testing.B) {
	fake := geminijobs.New(geminijobs.Options{APIKey: testKey})
	fake.SetDelay(benchDelay)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const n = 1 << 14
	for i := range n {
		fake.SetBatch(genai.BatchJob{Name: fmt.Sprintf("batches/b%d", i), State: genai.JobStateSucceeded})
	}
	newConfirmer := func(b *testing.B) *confirm.Confirmer {
		c, err := confirm.New(confirm.Options{
			APIKey:     func(context.Context) (string, error) { return testKey, nil },
			BaseURL:    srv.URL,
			HTTPClient: srv.Client(),
		})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	ctx := context.Background()

	b.Run("off", func(b *testing.B) {
		b.ReportAllocs()
		var sink atomic.Int64
		for i := 0; b.Loop(); i++ {
			sink.Add(int64(i)) // the delivery path without confirmation
		}
	})
	b.Run("raw-get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1beta/batches/b%d", srv.URL, i%n), nil)
			req.Header.Set(geminijobs.APIKeyHeader, testKey)
			resp, err := srv.Client().Do(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("GET: %v", err)
			}
			resp.Body.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)-float64(benchDelay.Microseconds()), "µs-over-delay/op")
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		c := newConfirmer(b)
		if b.N > n {
			b.Fatalf("b.N %d exceeds the %d seeded batches; lower -benchtime", b.N, n)
		}
		for i := 0; b.Loop(); i++ {
			r, err := c.Confirm(ctx, confirm.Input{Family: events.FamilyBatch, Type: "batch.succeeded", Resource: fmt.Sprintf("b%d", i)})
			if err != nil || r.Verdict != confirm.Confirmed {
				b.Fatalf("Confirm: %+v, %v", r, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)-float64(benchDelay.Microseconds()), "µs-over-delay/op")
	})
	b.Run("duplicate", func(b *testing.B) {
		b.ReportAllocs()
		c := newConfirmer(b)
		in := confirm.Input{Family: events.FamilyBatch, Type: "batch.succeeded", Resource: "b0"}
		if _, err := c.Confirm(ctx, in); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if r, err := c.Confirm(ctx, in); err != nil || r.Verdict != confirm.Confirmed {
				b.Fatalf("Confirm: %+v, %v", r, err)
			}
		}
	})
}
