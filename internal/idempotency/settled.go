package idempotency

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"time"
)

// settled is a bounded record of settled (published) keys and their
// message ids: at most capacity keys, each kept for ttl after it was
// recorded, the oldest evicted first; a key recorded again counts once, as
// the newest. It holds the published keys of a Memory store and the
// Guard's cache of keys this instance settled.
//
// A key costs about 80 bytes whatever its length (see
// BenchmarkMemoryFootprint and BenchmarkGuardCacheFootprint): it keeps a
// 128-bit digest of each key (keyHash), a Pub/Sub message id as a number
// when it is one, and no pointer per key, so the garbage collector has
// nothing to scan in it. Entries go into fifo in the order recorded, each
// with its expiry; an entry that a later record of its key superseded is
// recognised by its position and skipped when it reaches the front.
//
// A capacity of 0 records nothing. It is not safe for concurrent use: its
// owner's lock guards it. Build it with newSettled.
type settled struct {
	ttl      time.Duration
	capacity int
	epoch    time.Time // expiry times count from here

	published map[keyHash]pubRec // the keys held
	texts     map[keyHash]string // message ids not held as numbers
	fifo      []fifoEntry        // records in the order made
	head      int                // fifo[:head] is spent
	base      uint64             // the position of fifo[0]
	stale     int                // entries in fifo[head:] superseded by a later record
}

// keyHash identifies a key: the first 16 bytes of its SHA-256, so two keys
// meet by chance only after some 2^64 of them (and only authentic
// deliveries carry keys).
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

// pubRec is a key held: its message id (a number, or textID when it is in
// settled.texts) and the position of its entry in settled.fifo. An entry
// whose record names another position was superseded.
type pubRec struct {
	id  uint64
	pos uint64
}

// fifoEntry is one record in the eviction order: the key and when that
// record expires, in nanoseconds after settled.epoch.
type fifoEntry struct {
	key     keyHash
	expires int64
}

// textID marks a pubRec whose message id is in settled.texts. Numbers
// below it are message ids in decimal: Pub/Sub's are 16 or 17 digits.
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

// newSettled returns an empty record of at most capacity keys, each kept
// for ttl; epoch is any time near the clock's (expiries are held as
// offsets from it).
func newSettled(capacity int, ttl time.Duration, epoch time.Time) settled {
	return settled{
		ttl: ttl, capacity: capacity, epoch: epoch,
		published: map[keyHash]pubRec{}, texts: map[keyHash]string{},
	}
}

// get returns the message id recorded for h if h is held at now, after
// forgetting the records past their ttl.
func (s *settled) get(h keyHash, now time.Time) (string, bool) {
	s.expire(now)
	p, ok := s.published[h]
	if !ok {
		return "", false
	}
	if p.id == textID {
		return s.texts[h], true
	}
	return strconv.FormatUint(p.id, 10), true
}

// put records h as settled with messageID at now, as the newest key,
// replacing any earlier record of h, and evicts the oldest keys beyond
// capacity.
func (s *settled) put(h keyHash, messageID string, now time.Time) {
	if s.capacity == 0 {
		return
	}
	id, ok := packID(messageID)
	if !ok {
		id = textID
	}
	if old, ok := s.published[h]; ok {
		s.stale++ // its entry stays in fifo until it reaches the front
		if old.id == textID && id != textID {
			delete(s.texts, h)
		}
	}
	if id == textID {
		s.texts[h] = strings.Clone(messageID)
	}
	pos := s.base + uint64(len(s.fifo))
	s.fifo = append(s.fifo, fifoEntry{key: h, expires: int64(now.Add(s.ttl).Sub(s.epoch))})
	s.published[h] = pubRec{id: id, pos: pos}
	for len(s.published) > s.capacity {
		s.dropHead()
	}
	if s.stale > len(s.published) {
		s.squeeze()
	}
	s.compact()
}

// len reports how many keys are held, including any past their ttl that
// no get has forgotten yet.
func (s *settled) len() int { return len(s.published) }

// current reports whether fifo[i] is its key's latest record.
func (s *settled) current(i int) bool {
	p, ok := s.published[s.fifo[i].key]
	return ok && p.pos == s.base+uint64(i)
}

// expire forgets the records past their ttl; they are in time order at
// the front of fifo (if the clock went back, a record waits for those
// recorded before it).
func (s *settled) expire(now time.Time) {
	at := int64(now.Sub(s.epoch))
	for s.head < len(s.fifo) {
		if s.current(s.head) && at < s.fifo[s.head].expires {
			break
		}
		s.dropHead()
	}
	s.compact()
}

// dropHead removes the entry at the front of fifo, and its key's record
// unless a later record superseded the entry.
func (s *settled) dropHead() {
	if s.current(s.head) {
		h := s.fifo[s.head].key
		if s.published[h].id == textID {
			delete(s.texts, h)
		}
		delete(s.published, h)
	} else {
		s.stale--
	}
	s.fifo[s.head] = fifoEntry{}
	s.head++
}

// compact reclaims the spent prefix of fifo once it is half of it.
func (s *settled) compact() {
	if s.head > 0 && s.head*2 >= len(s.fifo) {
		n := copy(s.fifo, s.fifo[s.head:])
		clear(s.fifo[n:])
		s.fifo = s.fifo[:n]
		s.base += uint64(s.head)
		s.head = 0
	}
}

// squeeze drops the superseded entries from fifo, keeping the order of the
// others, once they outnumber the keys held: keys recorded again and again
// (late landings) cannot grow fifo past twice the keys held.
func (s *settled) squeeze() {
	n := 0
	for i := s.head; i < len(s.fifo); i++ {
		if !s.current(i) {
			continue
		}
		e := s.fifo[i]
		s.published[e.key] = pubRec{id: s.published[e.key].id, pos: s.base + uint64(n)}
		s.fifo[n] = e
		n++
	}
	clear(s.fifo[n:])
	s.fifo = s.fifo[:n]
	s.head, s.stale = 0, 0
}
