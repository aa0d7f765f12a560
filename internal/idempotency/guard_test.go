package idempotency

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedStore blocks its first Claim until open is closed and counts calls.
type gatedStore struct {
	Store
	open   chan struct{}
	claims atomic.Int32
	fail   error
}

func (s *gatedStore) Claim(ctx context.Context, key string) (Outcome, Claim, error) {
	if s.claims.Add(1) == 1 {
		<-s.open
	}
	if s.fail != nil {
		return Outcome{}, Claim{}, s.fail
	}
	return s.Store.Claim(ctx, key)
}

// Concurrent copies of one key on one instance wait at most one attempt in
// total: they share its outcome and make no store call of their own.
func TestCoalescing(t *testing.T) {
	const copies = 10
	cases := []struct {
		name   string
		fail   error
		settle func(*Ticket) // what the owner does after its publish
		want   Outcome       // what every waiting copy gets
		errIs  error
	}{
		{name: "published", settle: func(tk *Ticket) { _ = tk.Published(bg, "m-9") }, want: Outcome{State: Duplicate, MessageID: "m-9"}},
		{name: "released", settle: func(tk *Ticket) { _ = tk.Release(bg) }, want: Outcome{State: Busy, RetryAfter: time.Second}},
		{name: "abandoned", settle: func(tk *Ticket) { tk.Abandon() }, want: Outcome{State: Busy, RetryAfter: DefaultLease}},
		{name: "store down", fail: fmt.Errorf("%w: test", ErrUnavailable), errIs: ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			store := &gatedStore{Store: NewMemory(MemoryOptions{Now: clk.Now}), open: make(chan struct{}), fail: tc.fail}
			g := NewGuard(store, Options{Now: clk.Now})
			ownerDone := make(chan *Ticket, 1)
			go func() {
				_, tk, _ := g.Begin(bg, "k")
				ownerDone <- tk
			}()
			waitFor(t, "the first claim", func() bool { return store.claims.Load() == 1 })
			type res struct {
				out Outcome
				tk  *Ticket
				err error
			}
			results := make(chan res, copies)
			for range copies {
				go func() {
					out, tk, err := g.Begin(bg, "k")
					results <- res{out, tk, err}
				}()
			}
			waitFor(t, "the copies to wait", func() bool { return g.waiting("k") == copies })
			close(store.open)
			if tk := <-ownerDone; tk != nil {
				tc.settle(tk)
			}
			for range copies {
				r := <-results
				if r.tk != nil {
					t.Fatal("a waiting copy got a ticket")
				}
				if tc.errIs != nil {
					if !errors.Is(r.err, tc.errIs) {
						t.Fatalf("waiting copy error = %v, want %v", r.err, tc.errIs)
					}
					continue
				}
				if r.err != nil || r.out != tc.want {
					t.Fatalf("waiting copy = %+v, %v; want %+v", r.out, r.err, tc.want)
				}
			}
			if n := store.claims.Load(); n != 1 {
				t.Fatalf("store claims = %d, want 1 for %d concurrent copies", n, copies+1)
			}
		})
	}
}

// A waiting copy gives up with its context.
func TestWaiterContext(t *testing.T) {
	store := &gatedStore{Store: NewMemory(MemoryOptions{}), open: make(chan struct{})}
	g := NewGuard(store, Options{})
	go func() { _, _, _ = g.Begin(bg, "k") }()
	waitFor(t, "the first claim", func() bool { return store.claims.Load() == 1 })
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { _, _, err := g.Begin(ctx, "k"); done <- err }()
	waitFor(t, "the copy to wait", func() bool { return g.waiting("k") == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter error = %v, want context.Canceled", err)
	}
	close(store.open)
}

// Many keys and copies at once through the memory store: each key is
// published exactly once (run with -race).
func TestConcurrentManyKeysOnePublishEach(t *testing.T) {
	g := NewGuard(NewMemory(MemoryOptions{}), Options{})
	var published sync.Map
	var wg sync.WaitGroup
	for i := range 400 {
		key := fmt.Sprint("k", i%40)
		wg.Go(func() {
			out, tk, err := g.Begin(bg, key)
			if err != nil {
				t.Error(err)
				return
			}
			if out.State == New {
				if _, dup := published.LoadOrStore(key, true); dup {
					t.Errorf("%s published twice", key)
				}
				_ = tk.Published(bg, "m-"+key)
			}
		})
	}
	wg.Wait()
	n := 0
	published.Range(func(any, any) bool { n++; return true })
	if n != 40 {
		t.Fatalf("%d keys published, want 40", n)
	}
}

func TestCacheBounds(t *testing.T) {
	clk := newClock()
	mem := NewMemory(MemoryOptions{Now: clk.Now})
	g := NewGuard(mem, Options{CacheSize: 3, CacheTTL: time.Minute, Now: clk.Now})
	for i := range 5 {
		_, tk, _ := g.Begin(bg, fmt.Sprint(i))
		_ = tk.Published(bg, "m")
	}
	if g.CacheLen() != 3 {
		t.Fatalf("CacheLen = %d, want 3", g.CacheLen())
	}
	calls := mem.Calls()
	_, _, _ = g.Begin(bg, "4")
	if mem.Calls() != calls {
		t.Fatal("a cached key reached the store")
	}
	_, _, _ = g.Begin(bg, "0") // evicted: asks the store
	if mem.Calls() != calls+1 {
		t.Fatal("an evicted key did not reach the store")
	}
	clk.Add(time.Minute)
	if g.settled.get(hashKey("4"), clk.Now()); g.CacheLen() != 0 {
		t.Fatalf("CacheLen = %d after the TTL, want 0", g.CacheLen())
	}
	calls = mem.Calls()
	if out, _, _ := g.Begin(bg, "4"); out.State != Duplicate || mem.Calls() != calls+1 || g.CacheLen() != 1 {
		t.Fatalf("after the TTL: %v, %d store calls, CacheLen %d; want Duplicate from the store, cached again", out.State, mem.Calls()-calls, g.CacheLen())
	}
	if off := NewGuard(mem, Options{CacheSize: -1}); off.CacheLen() != 0 {
		t.Fatal("disabled cache holds keys")
	} else if _, _, _ = off.Begin(bg, "4"); off.CacheLen() != 0 {
		t.Fatal("disabled cache remembered a key")
	}
}

func TestMemoryStoreRetentionAndCapacity(t *testing.T) {
	clk := newClock()
	m := NewMemory(MemoryOptions{Now: clk.Now, Capacity: 2, Retention: time.Hour})
	for _, k := range []string{"a", "b", "c"} {
		_, c, _ := m.Claim(bg, k)
		_ = m.Published(bg, c, "m-"+k)
	}
	if out, _, _ := m.Claim(bg, "a"); out.State != New {
		t.Fatalf("oldest key beyond capacity = %v, want New (forgotten)", out.State)
	}
	if out, _, _ := m.Claim(bg, "c"); out.State != Duplicate || out.MessageID != "m-c" {
		t.Fatalf("recent key = %+v, want Duplicate m-c", out)
	}
	clk.Add(time.Hour)
	if out, _, _ := m.Claim(bg, "c"); out.State != New {
		t.Fatalf("key past retention = %v, want New", out.State)
	}
}

func TestRetryAfterRounding(t *testing.T) {
	now := time.Unix(0, 0)
	for _, tc := range []struct{ left, want time.Duration }{
		{-time.Second, time.Second}, {0, time.Second}, {time.Millisecond, time.Second},
		{time.Second, time.Second}, {1500 * time.Millisecond, 2 * time.Second}, {30 * time.Second, 30 * time.Second},
	} {
		if got := retryAfter(now, now.Add(tc.left)); got != tc.want {
			t.Errorf("retryAfter(%v left) = %v, want %v", tc.left, got, tc.want)
		}
	}
}
