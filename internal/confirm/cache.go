package confirm

import (
	"container/list"
	"sync"
	"time"
)

// lru remembers snapshots of resources in a terminal state, at most size of
// them, each until its expiry. A size of 0 remembers nothing.
type lru struct {
	size int

	mu    sync.Mutex
	order *list.List // front: most recently used; values are *lruEntry
	byKey map[string]*list.Element
}

type lruEntry struct {
	key     string
	snap    snapshot
	expires time.Time
}

func newLRU(size int) *lru {
	return &lru{size: size, order: list.New(), byKey: map[string]*list.Element{}}
}

func (l *lru) get(key string, now time.Time) (snapshot, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byKey[key]
	if !ok {
		return snapshot{}, false
	}
	e := el.Value.(*lruEntry)
	if !now.Before(e.expires) {
		l.order.Remove(el)
		delete(l.byKey, key)
		return snapshot{}, false
	}
	l.order.MoveToFront(el)
	return e.snap, true
}

func (l *lru) put(key string, s snapshot, expires time.Time) {
	if l.size == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		e := el.Value.(*lruEntry)
		e.snap, e.expires = s, expires
		l.order.MoveToFront(el)
		return
	}
	l.byKey[key] = l.order.PushFront(&lruEntry{key: key, snap: s, expires: expires})
	for l.order.Len() > l.size {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.byKey, last.Value.(*lruEntry).key)
	}
}
