package idempotency

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// footprintKeys is how many deliveries BenchmarkMemoryFootprint records:
// the Memory store's default Capacity, about one benchmark run's worth of
// deliveries on one instance.
const footprintKeys = 100000

// hmacKey is a realistic HMAC idempotency key: "hmac:" and a webhook id of
// "msg_" and 32 hex digits (41 bytes), built afresh as a request builds it.
func hmacKey(i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return "hmac:msg_" + hex.EncodeToString(b[:])
}

// jwtKey is a realistic JWT idempotency key: "jwt:", the length of iss,
// ":", iss and a 22-character jti (70 bytes).
func jwtKey(i int) string {
	const iss = "https://generativelanguage.googleapis.com"
	var b [11]byte
	binary.BigEndian.PutUint64(b[:8], uint64(i)*0x9e3779b97f4a7c15)
	b[8], b[9], b[10] = byte(i), byte(i>>8), byte(i>>16)
	return "jwt:" + strconv.Itoa(len(iss)) + ":" + iss + hex.EncodeToString(b[:])
}

// pubsubID is a realistic Pub/Sub message id: 17 decimal digits.
func pubsubID(i int) string {
	return strconv.FormatUint(12000000000000000+uint64(i)*7919, 10)
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// gcTime is the shortest of a few full collections: with the heap at rest,
// mostly the time to mark what is live.
func gcTime() time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 5 {
		start := time.Now()
		runtime.GC()
		best = min(best, time.Since(start))
	}
	return best
}

// BenchmarkMemoryFootprint fills a Memory store through the Guard, as the
// function does with GEMINI_DEDUPE=memory (Begin, then Ticket.Published,
// no Guard cache), with footprintKeys realistic keys and Pub/Sub message
// ids, and reports the live heap the store holds per key and in all, and
// how much longer a full collection takes with the store live (the
// collector's cost of the store's pointers, paid every cycle):
//
//	go test -run '^$' -bench BenchmarkMemoryFootprint -benchtime 1x ./internal/idempotency/
func BenchmarkMemoryFootprint(b *testing.B) {
	footprint(b, func(now func() time.Time) (*Guard, func() int) {
		m := NewMemory(MemoryOptions{Now: now})
		return NewGuard(m, Options{CacheSize: -1, Now: now}), m.Len
	})
}

// BenchmarkGuardCacheFootprint fills the Guard's cache of settled keys at
// its default size (CacheSize, footprintKeys), as the function does in
// front of the Firestore store, and reports what BenchmarkMemoryFootprint
// reports, for the cache alone: the store behind it remembers nothing.
//
//	go test -run '^$' -bench BenchmarkGuardCacheFootprint -benchtime 1x ./internal/idempotency/
func BenchmarkGuardCacheFootprint(b *testing.B) {
	footprint(b, func(now func() time.Time) (*Guard, func() int) {
		g := NewGuard(forgetfulStore{}, Options{Now: now})
		return g, g.CacheLen
	})
}

// forgetfulStore answers every Claim New and records nothing, so that the
// heap held through a Guard in front of it is the Guard's own.
type forgetfulStore struct{}

func (forgetfulStore) Claim(_ context.Context, key string) (Outcome, Claim, error) {
	return Outcome{State: New}, Claim{Key: key}, nil
}
func (forgetfulStore) Published(context.Context, Claim, string) error { return nil }
func (forgetfulStore) Release(context.Context, Claim) error           { return nil }

// footprint runs, for HMAC and JWT keys, one fill of the Guard that
// newGuard returns (with a clock that moves a millisecond per delivery):
// footprintKeys deliveries, each Begin then Ticket.Published with a
// Pub/Sub message id. held reports how many keys are kept, which must be
// all of them. It reports the live heap gained per key and in all, and how
// much longer a full collection takes with it live.
func footprint(b *testing.B, newGuard func(now func() time.Time) (g *Guard, held func() int)) {
	for _, tc := range []struct {
		name string
		key  func(int) string
	}{
		{"hmac", hmacKey},
		{"jwt", jwtKey},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perKey, total float64
			var gcExtra time.Duration
			for b.Loop() {
				before := heapAlloc()
				gcEmpty := gcTime()
				now := time.Unix(1_800_000_000, 0)
				g, held := newGuard(func() time.Time { return now })
				for i := range footprintKeys {
					out, tk, err := g.Begin(bg, tc.key(i))
					if err != nil || out.State != New {
						b.Fatalf("Begin = %+v, %v", out, err)
					}
					if err := tk.Published(bg, pubsubID(i)); err != nil {
						b.Fatal(err)
					}
					now = now.Add(time.Millisecond)
				}
				after := heapAlloc()
				gcExtra = gcTime() - gcEmpty
				if n := held(); n != footprintKeys {
					b.Fatalf("%d keys held, want %d", n, footprintKeys)
				}
				runtime.KeepAlive(g)
				total = float64(after) - float64(before)
				perKey = total / footprintKeys
			}
			b.ReportMetric(perKey, "B/key")
			b.ReportMetric(total/(1<<20), "MiB/100k")
			b.ReportMetric(float64(gcExtra.Microseconds()), "gc-µs")
		})
	}
}

// BenchmarkMemoryStore measures the Memory store's own calls per delivery,
// without the Guard: new (Claim, then Published, on a store at its
// capacity, so that each Published also evicts the oldest key) and
// duplicate (Claim of a published key), with realistic keys and ids:
//
//	go test -run '^$' -bench BenchmarkMemoryStore -benchmem ./internal/idempotency/
func BenchmarkMemoryStore(b *testing.B) {
	const n = 1 << 16
	keys, ids := make([]string, n), make([]string, n)
	for i := range n {
		keys[i], ids[i] = hmacKey(i), pubsubID(i)
	}
	b.Run("new", func(b *testing.B) {
		m := NewMemory(MemoryOptions{Capacity: n / 2})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := keys[i%n]
			out, c, err := m.Claim(bg, k)
			if err != nil || out.State != New {
				b.Fatalf("Claim(%q) = %+v, %v", k, out, err)
			}
			if err := m.Published(bg, c, ids[i%n]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duplicate", func(b *testing.B) {
		m := NewMemory(MemoryOptions{})
		for i := range n {
			_, c, _ := m.Claim(bg, keys[i])
			_ = m.Published(bg, c, ids[i])
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if out, _, _ := m.Claim(bg, keys[i%n]); out.State != Duplicate {
				b.Fatalf("Claim = %+v", out)
			}
		}
	})
}
