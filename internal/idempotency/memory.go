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
// Retention, plus the keys being worked on. The zero value is not usable;
// call NewMemory.
type Memory struct {
	lease, retention time.Duration
	capacity         int
	now              func() time.Time

	mu    sync.Mutex
	recs  map[string]*memRecord
	order []*memRecord // published records, oldest first
	head  int
	seq   uint64
	calls int
}

type memRecord struct {
	key        string
	published  bool
	messageID  string
	owner      string
	leaseUntil time.Time
	expires    time.Time // published records: when they are forgotten
	dead       bool
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
	return &Memory{lease: opts.Lease, retention: opts.Retention, capacity: opts.Capacity, now: opts.Now, recs: map[string]*memRecord{}}
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string) (Outcome, Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	now := m.now()
	m.expireLocked(now)
	if r, ok := m.recs[key]; ok {
		if r.published {
			return Outcome{State: Duplicate, MessageID: r.messageID}, Claim{}, nil
		}
		if now.Before(r.leaseUntil) {
			return Outcome{State: Busy, RetryAfter: retryAfter(now, r.leaseUntil)}, Claim{}, nil
		}
		r.dead = true // an expired lease: take it over
	}
	m.seq++
	c := Claim{Key: key, At: now, LeaseUntil: now.Add(m.lease), owner: strconv.FormatUint(m.seq, 10)}
	m.recs[key] = &memRecord{key: key, owner: c.owner, leaseUntil: c.LeaseUntil}
	if len(m.recs) > 2*m.capacity {
		m.sweepLocked(now)
	}
	return Outcome{State: New}, c, nil
}

// Published implements Store.
func (m *Memory) Published(_ context.Context, c Claim, messageID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if r, ok := m.recs[c.Key]; ok {
		r.dead = true
	}
	r := &memRecord{key: c.Key, published: true, messageID: messageID, owner: c.owner, expires: m.now().Add(m.retention)}
	m.recs[c.Key] = r
	m.order = append(m.order, r)
	for len(m.order)-m.head > m.capacity {
		m.dropHeadLocked()
	}
	m.compactLocked()
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if r, ok := m.recs[c.Key]; ok && !r.published && r.owner == c.owner {
		r.dead = true
		delete(m.recs, c.Key)
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
	return len(m.recs)
}

// expireLocked forgets published records past their retention; they are
// in time order at the front of order.
func (m *Memory) expireLocked(now time.Time) {
	for m.head < len(m.order) {
		if r := m.order[m.head]; !r.dead && now.Before(r.expires) {
			break
		}
		m.dropHeadLocked()
	}
	m.compactLocked()
}

// sweepLocked forgets claims whose lease ran out (abandoned attempts).
func (m *Memory) sweepLocked(now time.Time) {
	for k, r := range m.recs {
		if !r.published && !now.Before(r.leaseUntil) {
			r.dead = true
			delete(m.recs, k)
		}
	}
}

func (m *Memory) dropHeadLocked() {
	r := m.order[m.head]
	m.order[m.head] = nil
	m.head++
	if !r.dead {
		r.dead = true
		if m.recs[r.key] == r {
			delete(m.recs, r.key)
		}
	}
}

func (m *Memory) compactLocked() {
	if m.head > 0 && m.head*2 >= len(m.order) {
		n := copy(m.order, m.order[m.head:])
		clear(m.order[n:])
		m.order = m.order[:n]
		m.head = 0
	}
}
