package idempotency

import (
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
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
// A published key costs about 80 bytes whatever its length (see
// BenchmarkMemoryFootprint): the store keeps a 128-bit digest of each key
// (the first half of its SHA-256, so two keys meet by chance only after
// some 2^64 of them, and only authentic deliveries carry keys), a Pub/Sub
// message id as a number when it is one, and no pointer per key, so the
// garbage collector has nothing to scan in the published keys.
//
// The zero value is not usable; call NewMemory.
type Memory struct {
	lease, retention time.Duration
	capacity         int
	now              func() time.Time
	epoch            time.Time // expiry times count from here

	mu        sync.Mutex
	claims    map[keyHash]claimRec // keys being worked on
	published map[keyHash]pubRec   // keys on Pub/Sub
	texts     map[keyHash]string   // message ids not held as numbers
	fifo      []fifoEntry          // published records in the order recorded
	head      int                  // fifo[:head] is spent
	base      uint64               // the position of fifo[0]
	stale     int                  // entries in fifo[head:] superseded by a later Published
	seq       uint64
	calls     int
}

// keyHash identifies a key: the first 16 bytes of its SHA-256.
type keyHash [16]byte

func hashKey(key string) keyHash {
	var buf [256]byte // keys fit, so hashing allocates nothing
	b := buf[:0]
	if len(key) <= len(buf) {
		b = append(b, key...)
	} else {
		b = []byte(key)
	}
	sum := sha256.Sum256(b)
	return keyHash(sum[:16])
}

// claimRec is a key being worked on: who holds it and until when.
type claimRec struct {
	owner      string
	leaseUntil time.Time
}

// pubRec is a published key: its message id (a number, or textID when it
// is in Memory.texts) and the position of its entry in Memory.fifo. An
// entry whose record names another position was superseded.
type pubRec struct {
	id  uint64
	pos uint64
}

// fifoEntry is one Published in the eviction order: the key and when that
// record expires, in nanoseconds after Memory.epoch.
type fifoEntry struct {
	key     keyHash
	expires int64
}

// textID marks a pubRec whose message id is in Memory.texts. Numbers below
// it are message ids in decimal: Pub/Sub's are 16 or 17 digits.
const textID = 1 << 63

// packID returns id as the number it spells when it is a decimal number
// without leading zeros below textID, so that formatting the number gives
// id back exactly.
func packID(id string) (uint64, bool) {
	if id == "" || len(id) > 19 || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	var n uint64
	for i := range len(id) {
		c := id[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0') // 19 digits stay below 2^64
	}
	return n, n < textID
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
		lease: opts.Lease, retention: opts.Retention, capacity: opts.Capacity, now: opts.Now, epoch: opts.Now(),
		claims: map[keyHash]claimRec{}, published: map[keyHash]pubRec{}, texts: map[keyHash]string{},
	}
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string) (Outcome, Claim, error) {
	h := hashKey(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	now := m.now()
	m.expireLocked(now)
	if p, ok := m.published[h]; ok {
		return Outcome{State: Duplicate, MessageID: m.messageIDLocked(h, p)}, Claim{}, nil
	}
	if r, ok := m.claims[h]; ok && now.Before(r.leaseUntil) {
		return Outcome{State: Busy, RetryAfter: retryAfter(now, r.leaseUntil)}, Claim{}, nil
	}
	// New, or an expired lease taken over.
	m.seq++
	c := Claim{Key: key, At: now, LeaseUntil: now.Add(m.lease), owner: strconv.FormatUint(m.seq, 10)}
	m.claims[h] = claimRec{owner: c.owner, leaseUntil: c.LeaseUntil}
	if len(m.claims)+len(m.published) > 2*m.capacity {
		m.sweepLocked(now)
	}
	return Outcome{State: New}, c, nil
}

// Published implements Store.
func (m *Memory) Published(_ context.Context, c Claim, messageID string) error {
	h := hashKey(c.Key)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	delete(m.claims, h)
	id, ok := packID(messageID)
	if !ok {
		id = textID
	}
	if old, ok := m.published[h]; ok {
		m.stale++ // its entry stays in fifo until it reaches the front
		if old.id == textID && id != textID {
			delete(m.texts, h)
		}
	}
	if id == textID {
		m.texts[h] = strings.Clone(messageID)
	}
	pos := m.base + uint64(len(m.fifo))
	m.fifo = append(m.fifo, fifoEntry{key: h, expires: int64(m.now().Add(m.retention).Sub(m.epoch))})
	m.published[h] = pubRec{id: id, pos: pos}
	for len(m.published) > m.capacity {
		m.dropHeadLocked()
	}
	if m.stale > len(m.published) {
		m.squeezeLocked()
	}
	m.compactLocked()
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, c Claim) error {
	h := hashKey(c.Key)
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
	return len(m.claims) + len(m.published)
}

// messageIDLocked returns the message id recorded in p, the record of h.
func (m *Memory) messageIDLocked(h keyHash, p pubRec) string {
	if p.id == textID {
		return m.texts[h]
	}
	return strconv.FormatUint(p.id, 10)
}

// current reports whether fifo[i] is its key's latest Published.
func (m *Memory) current(i int) bool {
	p, ok := m.published[m.fifo[i].key]
	return ok && p.pos == m.base+uint64(i)
}

// expireLocked forgets published records past their retention; they are
// in time order at the front of fifo (if the clock went back, a record
// waits for those recorded before it).
func (m *Memory) expireLocked(now time.Time) {
	at := int64(now.Sub(m.epoch))
	for m.head < len(m.fifo) {
		if m.current(m.head) && at < m.fifo[m.head].expires {
			break
		}
		m.dropHeadLocked()
	}
	m.compactLocked()
}

// sweepLocked forgets claims whose lease ran out (abandoned attempts).
func (m *Memory) sweepLocked(now time.Time) {
	for h, r := range m.claims {
		if !now.Before(r.leaseUntil) {
			delete(m.claims, h)
		}
	}
}

// dropHeadLocked removes the entry at the front of fifo, and its key's
// record unless a later Published superseded the entry.
func (m *Memory) dropHeadLocked() {
	if m.current(m.head) {
		h := m.fifo[m.head].key
		if m.published[h].id == textID {
			delete(m.texts, h)
		}
		delete(m.published, h)
	} else {
		m.stale--
	}
	m.fifo[m.head] = fifoEntry{}
	m.head++
}

// compactLocked reclaims the spent prefix of fifo once it is half of it.
func (m *Memory) compactLocked() {
	if m.head > 0 && m.head*2 >= len(m.fifo) {
		n := copy(m.fifo, m.fifo[m.head:])
		clear(m.fifo[n:])
		m.fifo = m.fifo[:n]
		m.base += uint64(m.head)
		m.head = 0
	}
}

// squeezeLocked drops the superseded entries from fifo, keeping the order
// of the others, once they outnumber the published keys: keys published
// again and again (late landings) cannot grow fifo past twice the keys
// held.
func (m *Memory) squeezeLocked() {
	n := 0
	for i := m.head; i < len(m.fifo); i++ {
		if !m.current(i) {
			continue
		}
		e := m.fifo[i]
		m.published[e.key] = pubRec{id: m.published[e.key].id, pos: m.base + uint64(n)}
		m.fifo[n] = e
		n++
	}
	clear(m.fifo[n:])
	m.fifo = m.fifo[:n]
	m.head, m.stale = 0, 0
}
