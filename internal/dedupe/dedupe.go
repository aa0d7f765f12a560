// Package dedupe remembers recently handled webhook ids so that a delivery
// Gemini sends twice is published once.
//
// The memory is per instance and bounded: at most Capacity ids are kept, each
// for TTL after it was published. It is a first line of defence against the
// sender's at-least-once retries, not a global exactly-once guarantee; every
// published event carries its webhook id so consumers can finish the job.
package dedupe

import (
	"context"
	"sync"
	"time"
)

// State is what Begin found for an id.
type State int

const (
	// Fresh means nobody handled the id recently: the caller owns it and
	// must call Ticket.Done.
	Fresh State = iota
	// Duplicate means the id was published within the TTL.
	Duplicate
)

// Options configures a Cache; the zero value of each field is its default.
type Options struct {
	TTL      time.Duration    // how long a published id is remembered; default 10m
	Capacity int              // the most ids kept; default 100000
	Now      func() time.Time // default time.Now
}

// Cache is a bounded set of recently published ids with in-flight tracking.
// The zero value is not usable; call New.
type Cache struct {
	ttl time.Duration
	cap int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	order   []*entry // insertion order of completed entries, oldest first
	head    int      // index of the oldest live position in order
}

// entry is one id. A cache holds up to Capacity of them for minutes, so it
// is kept small: the expiry is Unix nanoseconds, and the channel waiters
// use is dropped once closed.
type entry struct {
	id      string
	expires int64         // Unix nanoseconds; 0 while in flight
	done    chan struct{} // closed when the owner finishes, then nil
	removed bool
}

// New returns an empty cache.
func New(opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{ttl: opts.TTL, cap: opts.Capacity, now: opts.Now, entries: make(map[string]*entry)}
}

// Ticket is held by the one caller that handles a fresh id.
type Ticket struct {
	c *Cache
	e *entry
}

// Begin claims id. It returns Fresh with a ticket when the caller should
// handle the delivery, or Duplicate when it was published within the TTL.
// When another caller is handling the same id right now, Begin waits for it:
// if that attempt publishes, the answer is Duplicate; if it fails, this
// caller gets the ticket and tries itself. Begin returns ctx's error if ctx
// ends first.
func (c *Cache) Begin(ctx context.Context, id string) (State, *Ticket, error) {
	for {
		c.mu.Lock()
		now := c.now().UnixNano()
		c.expireLocked(now)
		e, ok := c.entries[id]
		if ok && e.expires != 0 && now < e.expires {
			c.mu.Unlock()
			return Duplicate, nil, nil
		}
		if !ok || e.expires != 0 {
			// Unknown, or remembered but past its TTL: claim it.
			if ok {
				e.removed = true
			}
			e = &entry{id: id, done: make(chan struct{})}
			c.entries[id] = e
			c.mu.Unlock()
			return Fresh, &Ticket{c: c, e: e}, nil
		}
		wait := e.done
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// Done ends the ticket's claim. With published true the id is remembered for
// the TTL; otherwise it is forgotten so that a retry is handled afresh.
func (t *Ticket) Done(published bool) {
	c, e := t.c, t.e
	c.mu.Lock()
	defer c.mu.Unlock()
	if published && !e.removed {
		e.expires = max(c.now().Add(c.ttl).UnixNano(), 1)
		c.order = append(c.order, e)
		c.evictLocked()
	} else if !e.removed {
		e.removed = true
		delete(c.entries, e.id)
	}
	close(e.done)
	e.done = nil // waiters took the channel under the lock
}

// expireLocked drops completed entries whose TTL has passed. Entries
// complete in time order, so expired ones are at the front of order.
func (c *Cache) expireLocked(now int64) {
	for c.head < len(c.order) {
		e := c.order[c.head]
		if !e.removed && now < e.expires {
			break
		}
		c.dropHeadLocked()
	}
	c.compactLocked()
}

// evictLocked keeps the number of completed entries within capacity.
func (c *Cache) evictLocked() {
	for len(c.order)-c.head > c.cap {
		c.dropHeadLocked()
	}
	c.compactLocked()
}

func (c *Cache) dropHeadLocked() {
	e := c.order[c.head]
	c.order[c.head] = nil
	c.head++
	if !e.removed {
		e.removed = true
		if c.entries[e.id] == e {
			delete(c.entries, e.id)
		}
	}
}

// compactLocked reclaims the dead prefix of order once it is half of it.
func (c *Cache) compactLocked() {
	if c.head > 0 && c.head*2 >= len(c.order) {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order = c.order[:n]
		c.head = 0
	}
}
