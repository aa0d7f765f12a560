package dedupe

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/testclock"
)

// size is how many ids c remembers or has in flight.
func size(c *Cache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func newClock() *testclock.Clock { return testclock.New(time.Unix(1_700_000_000, 0)) }

func TestFreshThenDuplicateUntilTTL(t *testing.T) {
	clk := newClock()
	c := New(Options{TTL: time.Minute, Now: clk.Now})
	ctx := context.Background()

	st, tk, err := c.Begin(ctx, "a")
	if err != nil || st != Fresh || tk == nil {
		t.Fatalf("first Begin = %v, %v, %v; want Fresh with a ticket", st, tk, err)
	}
	tk.Done(true)
	if st, _, _ := c.Begin(ctx, "a"); st != Duplicate {
		t.Fatalf("Begin after publish = %v, want Duplicate", st)
	}
	clk.Add(59 * time.Second)
	if st, _, _ := c.Begin(ctx, "a"); st != Duplicate {
		t.Fatalf("Begin just inside TTL = %v, want Duplicate", st)
	}
	clk.Add(time.Second)
	st, tk, _ = c.Begin(ctx, "a")
	if st != Fresh {
		t.Fatalf("Begin at TTL = %v, want Fresh", st)
	}
	tk.Done(false)
	if size(c) != 0 {
		t.Fatalf("Len = %d after expiry and a failed attempt, want 0", size(c))
	}
}

func TestFailedAttemptIsForgotten(t *testing.T) {
	c := New(Options{})
	ctx := context.Background()
	_, tk, _ := c.Begin(ctx, "a")
	tk.Done(false)
	if st, tk, _ := c.Begin(ctx, "a"); st != Fresh {
		t.Fatalf("Begin after a failed attempt = %v, want Fresh", st)
	} else {
		tk.Done(true)
	}
}

func TestConcurrentSameIDPublishesOnce(t *testing.T) {
	c := New(Options{})
	ctx := context.Background()
	var owners, dups atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			st, tk, err := c.Begin(ctx, "same")
			if err != nil {
				t.Error(err)
				return
			}
			if st == Fresh {
				owners.Add(1)
				time.Sleep(time.Millisecond) // hold the claim while others arrive
				tk.Done(true)
			} else {
				dups.Add(1)
			}
		})
	}
	wg.Wait()
	if owners.Load() != 1 || dups.Load() != 49 {
		t.Fatalf("owners=%d dups=%d, want 1 and 49", owners.Load(), dups.Load())
	}
}

func TestWaiterTakesOverWhenOwnerFails(t *testing.T) {
	c := New(Options{})
	ctx := context.Background()
	_, first, _ := c.Begin(ctx, "x")
	got := make(chan State, 1)
	go func() {
		st, tk, _ := c.Begin(ctx, "x")
		got <- st
		if tk != nil {
			tk.Done(true)
		}
	}()
	select {
	case st := <-got:
		t.Fatalf("second Begin returned %v while the first was in flight", st)
	case <-time.After(20 * time.Millisecond):
	}
	first.Done(false)
	if st := <-got; st != Fresh {
		t.Fatalf("waiter got %v after the owner failed, want Fresh", st)
	}
}

func TestWaiterGivesUpWithContext(t *testing.T) {
	c := New(Options{})
	_, tk, _ := c.Begin(context.Background(), "x")
	defer tk.Done(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Begin(ctx, "x"); err != context.Canceled {
		t.Fatalf("Begin with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestCapacityBoundsMemory(t *testing.T) {
	c := New(Options{Capacity: 100, TTL: time.Hour})
	ctx := context.Background()
	for i := range 10_000 {
		_, tk, _ := c.Begin(ctx, fmt.Sprint(i))
		tk.Done(true)
	}
	if size(c) != 100 {
		t.Fatalf("Len = %d, want the capacity 100", size(c))
	}
	if len(c.order) > 200 {
		t.Fatalf("order holds %d slots for 100 entries: not compacted", len(c.order))
	}
	// The newest are kept, the oldest evicted.
	if st, tk, _ := c.Begin(ctx, "9999"); st != Duplicate {
		t.Fatalf("newest id = %v, want Duplicate", st)
	} else if tk != nil {
		t.Fatal("duplicate came with a ticket")
	}
	if st, tk, _ := c.Begin(ctx, "0"); st != Fresh {
		t.Fatalf("oldest id = %v, want Fresh (evicted)", st)
	} else {
		tk.Done(false)
	}
}

func TestReclaimAfterExpiry(t *testing.T) {
	clk := newClock()
	c := New(Options{TTL: time.Second, Now: clk.Now})
	ctx := context.Background()
	for i := range 1000 {
		_, tk, _ := c.Begin(ctx, fmt.Sprint(i))
		tk.Done(true)
	}
	clk.Add(2 * time.Second)
	_, tk, _ := c.Begin(ctx, "new")
	tk.Done(true)
	if size(c) != 1 {
		t.Fatalf("Len = %d after every other id expired, want 1", size(c))
	}
}

func BenchmarkBeginDone(b *testing.B) {
	c := New(Options{Capacity: 10000})
	ctx := context.Background()
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("msg_%08d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, tk, _ := c.Begin(ctx, ids[i%len(ids)]+"x"); tk != nil {
			tk.Done(true)
		}
		i++
	}
}
