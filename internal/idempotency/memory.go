package idempotency

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// MemoryOptions configures a Memory store; the zero value of each field is
// its default.
type MemoryOptions struct {
	Lease     time.Duration    // how long a claim holds a key; default DefaultLease
	Retention time.Duration    // how long a published key is kept; default DefaultRetention
	Capacity  int              // the most published keys kept (oldest go first); default 100000
	Now       func() time.Time // default time.Now
}

// Memory is a Store held in this process: the protocol of the Firestore
// store, for one instance (GEMINI_DEDUPE=memory, local development and
// tests). Its memory is bounded: at most Capacity published keys, each for
// Retention after it was recorded, plus the keys being worked on. A key
// recorded again (a late landing) counts once, as the newest.
//
// A published key costs about 80 bytes whatever its length, with no
// pointer for the garbage collector to scan (BenchmarkMemoryFootprint):
// the store keeps a 128-bit digest of each key rather than the key, and
// a Pub/Sub message id as a number.
//
// The zero value is not usable; call NewMemory.
type Memory struct {
	lease time.Duration
	now   func() time.Time

	mu      sync.Mutex
	claims  map[keyHash]claimRec // keys being worked on
	settled                      // keys on Pub/Sub, each for Retention
	seq     uint64
	calls   int
}

// claimRec is a key being worked on: who holds it and until when.
type claimRec struct {
	owner      string
	leaseUntil time.Time
}

// NewMemory returns an empty Memory store.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Memory{
		lease: opts.Lease, now: opts.Now,
		claims:  map[keyHash]claimRec{},
		settled: newSettled(opts.Capacity, opts.Retention, opts.Now()),
	}
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string) (Outcome, Claim, error) {
	h := hashKey(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	now := m.now()
	if id, ok := m.settled.get(h, now); ok {
		return Outcome{State: Duplicate, MessageID: id}, Claim{}, nil
	}
	if r, ok := m.claims[h]; ok && now.Before(r.leaseUntil) {
		return Outcome{State: Busy, RetryAfter: retryAfter(now, r.leaseUntil)}, Claim{}, nil
	}
	// New, or an expired lease taken over.
	m.seq++
	c := Claim{Key: key, At: now, LeaseUntil: now.Add(m.lease), owner: strconv.FormatUint(m.seq, 10), hash: h, hashed: true}
	m.claims[h] = claimRec{owner: c.owner, leaseUntil: c.LeaseUntil}
	if len(m.claims)+m.settled.len() > 2*m.settled.capacity {
		m.sweepLocked(now)
	}
	return Outcome{State: New}, c, nil
}

// Published implements Store.
func (m *Memory) Published(_ context.Context, c Claim, messageID string) error {
	h := c.digest()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	delete(m.claims, h)
	m.settled.put(h, messageID, m.now())
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, c Claim) error {
	h := c.digest()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if r, ok := m.claims[h]; ok && r.owner == c.owner {
		delete(m.claims, h)
	}
	return nil
}

// Calls reports how many store calls (Claim, Published, Release) were made.
func (m *Memory) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Len reports how many keys are held, published or being worked on.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.claims) + m.settled.len()
}

// sweepLocked forgets claims whose lease ran out (abandoned attempts).
func (m *Memory) sweepLocked(now time.Time) {
	for h, r := range m.claims {
		if !now.Before(r.leaseUntil) {
			delete(m.claims, h)
		}
	}
}
