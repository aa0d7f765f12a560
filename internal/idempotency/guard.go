package idempotency

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// State is what Begin decided for a key.
type State int

const (
	// New means the caller owns the key: publish, then call
	// Ticket.Published, or Ticket.Release / Ticket.Abandon on failure.
	New State = iota + 1
	// Duplicate means the key was published already: answer 200
	// duplicate and publish nothing.
	Duplicate
	// Busy means another request or instance is working on the key right
	// now: answer 503 with Outcome.RetryAfter.
	Busy
)

// String returns the state's name, as used in logs.
func (s State) String() string {
	switch s {
	case New:
		return "new"
	case Duplicate:
		return "duplicate"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Outcome is Begin's answer for a key.
type Outcome struct {
	State State
	// MessageID is, for Duplicate, the Pub/Sub message id recorded when the
	// key was published ("" if none was recorded).
	MessageID string
	// RetryAfter is, for Busy, when a retry may find the key free: whole
	// seconds, at least one.
	RetryAfter time.Duration
}

// Options configures a Guard; the zero value of each field is its default.
type Options struct {
	// CacheSize is how many settled (published) keys the Guard remembers
	// in memory, so that a duplicate of one costs no store call. Default
	// 100000: 7.8 MiB, 82 bytes a key whatever its length, with nothing
	// for the garbage collector to scan (BenchmarkGuardCacheFootprint).
	// Negative disables the cache.
	CacheSize int
	// CacheTTL is how long a settled key stays in that cache. Default 10m:
	// the store keeps the truth for days, the cache only absorbs bursts.
	CacheTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Guard is what the function calls once per authentic delivery. In front of
// a shared Store it keeps the keys this instance settled, and it coalesces
// concurrent copies of one key: only the first asks the store, the others
// wait for that attempt and share its result (Duplicate when it published,
// Busy when it failed, its error when the store failed), so copies wait at
// most one publish in total and never start publishes of their own.
//
// The zero value is not usable; call NewGuard. Methods are safe for
// concurrent use.
type Guard struct {
	store Store
	now   func() time.Time

	mu       sync.Mutex
	inflight map[string]*call
	settled  settled // keys this instance settled, for CacheTTL each
}

// call is one attempt at a key on this instance; waiters block on done and
// then read out and err, which are written before done is closed.
type call struct {
	key     keyHash // the digest of the key, for the cache (zero if disabled)
	done    chan struct{}
	out     Outcome
	err     error
	waiting int // copies waiting on done, for tests
}

// NewGuard returns a Guard in front of store.
func NewGuard(store Store, opts Options) *Guard {
	if opts.CacheSize == 0 {
		opts.CacheSize = 100000
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Guard{
		store:    store,
		now:      opts.Now,
		inflight: map[string]*call{},
		settled:  newSettled(max(opts.CacheSize, 0), opts.CacheTTL, opts.Now()),
	}
}

// Begin decides what to do with key. With New it returns the Ticket the
// caller must settle; otherwise the ticket is nil. A key this instance
// settled within the cache TTL is answered Duplicate without a store call.
// A key another request on this instance is handling waits for that
// attempt (or for ctx) and shares its outcome. Errors wrap ErrUnavailable,
// or are ctx's error when ctx ends while waiting.
func (g *Guard) Begin(ctx context.Context, key string) (Outcome, *Ticket, error) {
	var h keyHash
	if g.settled.capacity > 0 { // a disabled cache needs no digest
		h = hashKey(key)
	}
	g.mu.Lock()
	if id, ok := g.settled.get(h, g.now()); ok {
		g.mu.Unlock()
		return Outcome{State: Duplicate, MessageID: id}, nil, nil
	}
	if c, ok := g.inflight[key]; ok {
		c.waiting++
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.out, nil, c.err
		case <-ctx.Done():
			return Outcome{}, nil, ctx.Err()
		}
	}
	c := &call{key: h, done: make(chan struct{})}
	g.inflight[key] = c
	g.mu.Unlock()

	out, claim, err := g.store.Claim(ctx, key)
	if err != nil {
		err = fmt.Errorf("idempotency: claim: %w", err)
		g.finish(key, c, Outcome{}, err, "")
		return Outcome{}, nil, err
	}
	switch out.State {
	case New:
		return out, &Ticket{g: g, c: c, claim: claim}, nil
	case Duplicate:
		g.finish(key, c, out, nil, out.MessageID)
	default:
		g.finish(key, c, out, nil, "")
	}
	return out, nil, nil
}

// finish ends call c for key with out and err, waking its waiters; a
// non-empty published message id is remembered as settled.
func (g *Guard) finish(key string, c *call, out Outcome, err error, published string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if out.State == Duplicate || published != "" {
		g.settled.put(c.key, published, g.now())
	}
	if g.inflight[key] == c {
		delete(g.inflight, key)
	}
	c.out, c.err = out, err
	close(c.done)
}

// waiting reports how many copies of key wait on an attempt in flight.
func (g *Guard) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.inflight[key]; ok {
		return c.waiting
	}
	return 0
}

// CacheLen reports how many settled keys the in-memory cache holds.
func (g *Guard) CacheLen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.settled.len()
}

// Ticket is held by the one caller that owns a key. Settle it exactly once
// with Published, Release or Abandon (defer one of them: copies on this
// instance wait for it, bounded only by their own contexts); Published may also follow Release or
// Abandon, when a publish that was given up lands after all.
type Ticket struct {
	g     *Guard
	c     *call
	claim Claim

	mu       sync.Mutex
	ended    bool // the local call is finished
	released bool // the store claim was given up
	done     bool // Published was recorded
}

// Claim returns the store's claim behind the ticket (its key, claim time
// and lease).
func (t *Ticket) Claim() Claim { return t.claim }

// end finishes the local call once.
func (t *Ticket) end(out Outcome, published string) {
	t.mu.Lock()
	ended := t.ended
	t.ended = true
	t.mu.Unlock()
	if !ended {
		t.g.finish(t.claim.Key, t.c, out, nil, published)
	} else if published != "" {
		t.g.mu.Lock()
		t.g.settled.put(t.c.key, published, t.g.now())
		t.g.mu.Unlock()
	}
}

// Published records that the key's message is on Pub/Sub with messageID.
// Waiting copies on this instance are answered Duplicate at once and later
// ones find the key in the cache; then the store records it, so copies on
// other instances are answered Duplicate too. Call it also when a publish
// that was answered 503 (after Release or Abandon) lands afterwards, so the
// sender's retry is not published again. A store error (wrapping
// ErrUnavailable) does not unpublish anything: the message is out; the
// caller logs it, and a copy reaching another instance after the lease may
// be published again.
func (t *Ticket) Published(ctx context.Context, messageID string) error {
	t.end(Outcome{State: Duplicate, MessageID: messageID}, messageID)
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
	if err := t.g.store.Published(ctx, t.claim, messageID); err != nil {
		return fmt.Errorf("idempotency: record published: %w", err)
	}
	return nil
}

// Release gives the key up after a publish that certainly did not land, so
// that the sender's retry can claim it at once on any instance. Copies
// waiting on this instance are answered Busy at once. After Published it
// does nothing. When the publish may still land (a timeout), call Abandon
// instead.
func (t *Ticket) Release(ctx context.Context) error {
	t.end(Outcome{State: Busy, RetryAfter: releasedRetryAfter}, "")
	t.mu.Lock()
	skip := t.done || t.released
	t.released = true
	t.mu.Unlock()
	if skip {
		return nil
	}
	if err := t.g.store.Release(ctx, t.claim); err != nil {
		return fmt.Errorf("idempotency: release: %w", err)
	}
	return nil
}

// Abandon ends the attempt without telling the store, for a publish whose
// fate is unknown (it timed out and may still land): the claim stays until
// its lease runs out, so copies are answered Busy until then unless
// Published records the late landing first. Copies waiting on this instance
// are answered Busy at once. It makes no store call and never fails.
func (t *Ticket) Abandon() {
	t.end(Outcome{State: Busy, RetryAfter: retryAfter(t.g.now(), t.claim.LeaseUntil)}, "")
}
