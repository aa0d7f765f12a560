package idempotency

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDelivery measures Begin (+ Published for a new key) per delivery
// on the Memory store and on the Firestore store against the in-process
// server answering every call after a fixed 1 ms, and reports store calls
// per delivery and the p99 latency. Compare the stores as ratios from one
// run:
//
//	go test -run '^$' -bench BenchmarkDelivery -benchtime 2000x ./internal/idempotency/
func BenchmarkDelivery(b *testing.B) {
	type backend struct {
		name  string
		guard func(b *testing.B, cacheSize int) (*Guard, func() (writes, reads int))
	}
	backends := []backend{
		{"memory", func(b *testing.B, cacheSize int) (*Guard, func() (int, int)) {
			m := NewMemory(MemoryOptions{})
			return NewGuard(m, Options{CacheSize: cacheSize}), func() (int, int) { return m.Calls(), 0 }
		}},
		{"firestore-1ms", func(b *testing.B, cacheSize int) (*Guard, func() (int, int)) {
			env := newFSEnv(b)
			env.clk = &clock{t: time.Now()}
			env.srv.Delay("", time.Millisecond)
			g := NewGuard(env.store(b), Options{CacheSize: cacheSize})
			return g, func() (int, int) { return env.srv.Calls("Commit"), env.srv.Calls("BatchGetDocuments") }
		}},
	}
	for _, be := range backends {
		b.Run(be.name+"/new", func(b *testing.B) {
			g, calls := be.guard(b, 0)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				out, tk, err := g.Begin(bg, fmt.Sprint("new-", i))
				if err != nil || out.State != New {
					b.Fatalf("Begin = %+v, %v", out, err)
				}
				if err := tk.Published(bg, "m"); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			report(b, lat, calls)
		})
		b.Run(be.name+"/duplicate-settled-here", func(b *testing.B) {
			g, calls := be.guard(b, 0)
			_, tk, _ := g.Begin(bg, "k")
			_ = tk.Published(bg, "m")
			w0, r0 := calls()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if out, _, _ := g.Begin(bg, "k"); out.State != Duplicate {
					b.Fatalf("Begin = %v", out.State)
				}
				lat = append(lat, time.Since(start))
			}
			report(b, lat, func() (int, int) { w, r := calls(); return w - w0, r - r0 })
		})
		b.Run(be.name+"/duplicate-from-store", func(b *testing.B) {
			g, calls := be.guard(b, -1) // no cache: as on an instance that never saw the key
			_, tk, _ := g.Begin(bg, "k")
			_ = tk.Published(bg, "m")
			w0, r0 := calls()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if out, _, _ := g.Begin(bg, "k"); out.State != Duplicate {
					b.Fatalf("Begin = %v", out.State)
				}
				lat = append(lat, time.Since(start))
			}
			report(b, lat, func() (int, int) { w, r := calls(); return w - w0, r - r0 })
		})
	}
}

// BenchmarkDeliveryParallel measures new deliveries from many goroutines at
// once (throughput: compare ns/op between the stores).
func BenchmarkDeliveryParallel(b *testing.B) {
	for _, name := range []string{"memory", "firestore-1ms"} {
		b.Run(name, func(b *testing.B) {
			var store Store = NewMemory(MemoryOptions{})
			if name != "memory" {
				env := newFSEnv(b)
				env.clk = &clock{t: time.Now()}
				env.srv.Delay("", time.Millisecond)
				store = env.store(b)
			}
			g := NewGuard(store, Options{})
			var n atomic.Int64
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, tk, err := g.Begin(bg, fmt.Sprint("p-", n.Add(1)))
					if err != nil {
						b.Error(err)
						return
					}
					_ = tk.Published(bg, "m")
				}
			})
		})
	}
}

// report adds store calls (Firestore: Commit + BatchGetDocuments; Memory:
// method calls) and reads per delivery and the p99 latency to b's results.
func report(b *testing.B, lat []time.Duration, calls func() (writes, reads int)) {
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	w, r := calls()
	b.ReportMetric(float64(w+r)/float64(len(lat)), "calls/op")
	b.ReportMetric(float64(r)/float64(len(lat)), "reads/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
