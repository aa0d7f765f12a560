package confirm_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
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
//   - new: Confirm of a resource not seen before (one SDK call), against a
//     plain HTTP GET of the same resource from the same server, the floor
//     any confirmation pays (the fixed delay plus a local round trip);
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
	// new: each iteration makes one plain GET and one Confirm of a resource
	// not seen before, alternating which goes first, so that load from
	// other processes falls on both alike; it reports the median of each
	// and of their difference per iteration.
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		c := newConfirmer(b)
		var raw, conf, diff []float64
		get := func(i int) time.Duration {
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1beta/batches/b%d", srv.URL, i), nil)
			req.Header.Set(geminijobs.APIKeyHeader, testKey)
			resp, err := srv.Client().Do(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("GET: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return time.Since(start)
		}
		check := func(i int) time.Duration {
			start := time.Now()
			r, err := c.Confirm(ctx, confirm.Input{Family: events.FamilyBatch, Type: "batch.succeeded", Resource: fmt.Sprintf("b%d", i)})
			if err != nil || r.Verdict != confirm.Confirmed {
				b.Fatalf("Confirm: %+v, %v", r, err)
			}
			return time.Since(start)
		}
		for i := 0; b.Loop(); i++ {
			if i == n {
				b.Fatalf("ran out of the %d seeded batches; lower -benchtime", n)
			}
			var g, k time.Duration
			if i%2 == 0 {
				g, k = get(i), check(i)
			} else {
				k, g = check(i), get(i)
			}
			raw, conf = append(raw, us(g)), append(conf, us(k))
			diff = append(diff, us(k-g))
		}
		b.ReportMetric(median(raw), "raw-get-µs")
		b.ReportMetric(median(conf), "confirm-µs")
		b.ReportMetric(median(conf)-us(benchDelay), "confirm-over-delay-µs")
		b.ReportMetric(median(diff), "sdk-over-raw-µs")
		b.ReportMetric(median(conf)/median(raw), "confirm/raw")
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

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
