package idempotency

import "time"

// cache is a bounded map of settled keys to their message ids. Entries are
// put in time order with one TTL, so the oldest (first to expire, first to
// evict) sit at the front of order. Callers hold the Guard's lock.
type cache struct {
	ttl     time.Duration
	cap     int
	entries map[string]*cacheEntry
	order   []*cacheEntry
	head    int // index of the oldest live position in order
}

type cacheEntry struct {
	key       string
	messageID string
	expires   int64 // Unix nanoseconds
	dead      bool
}

func newCache(capacity int, ttl time.Duration) *cache {
	return &cache{ttl: ttl, cap: capacity, entries: map[string]*cacheEntry{}}
}

// get returns key's message id if key is remembered at now.
func (c *cache) get(key string, now time.Time) (string, bool) {
	c.expire(now.UnixNano())
	e, ok := c.entries[key]
	if !ok {
		return "", false
	}
	return e.messageID, true
}

// put remembers key as settled with messageID from now for the TTL.
func (c *cache) put(key, messageID string, now time.Time) {
	if c.cap == 0 {
		return
	}
	if old, ok := c.entries[key]; ok {
		old.dead = true
	}
	e := &cacheEntry{key: key, messageID: messageID, expires: now.Add(c.ttl).UnixNano()}
	c.entries[key] = e
	c.order = append(c.order, e)
	for len(c.entries) > c.cap {
		c.dropHead()
	}
	c.compact()
}

func (c *cache) len() int { return len(c.entries) }

// expire drops entries whose TTL has passed at now.
func (c *cache) expire(now int64) {
	for c.head < len(c.order) {
		if e := c.order[c.head]; !e.dead && now < e.expires {
			break
		}
		c.dropHead()
	}
	c.compact()
}

func (c *cache) dropHead() {
	e := c.order[c.head]
	c.order[c.head] = nil
	c.head++
	if !e.dead {
		e.dead = true
		delete(c.entries, e.key)
	}
}

// compact reclaims the dead prefix of order once it is half of it.
func (c *cache) compact() {
	if c.head > 0 && c.head*2 >= len(c.order) {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order = c.order[:n]
		c.head = 0
	}
}
