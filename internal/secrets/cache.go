package secrets

import (
	"context"
	"errors"
	"sync"
	"time"
)

// backgroundReadTimeout bounds a re-read started because the value went
// stale or was invalidated. (The server's client also bounds each call.)
const backgroundReadTimeout = 30 * time.Second

// errNotRead is what a cache that could not read, and learnt no reason,
// reports; it is not expected, but no caller must see a nil error with no
// value.
var errNotRead = errors.New("secrets: not read")

// cache is the refresh policy of every secret read from Secret Manager,
// written once for the Keyring and Value. It holds the value of the last
// good read and serves it; once older than MaxAge, or after invalidate, the
// next get starts one re-read in the background and keeps serving the
// value held meanwhile. A failed re-read keeps the value, and is retried no
// sooner than MinRefreshInterval after it; so is a re-read asked for by
// invalidate. With no value yet, get reads in the foreground, at most once
// per EmptyRetryInterval while reads fail. Concurrent reads merge into one.
// The background goroutine is tracked: close cancels it and waits for it.
type cache[T any] struct {
	opts  Options                          // defaults filled in
	read  func(context.Context) (T, error) // one read; its error names the secret
	equal func(held, read T) bool          // whether a read leaves the value unchanged
	bg    sync.WaitGroup                   // the background re-read, at most one

	mu          sync.Mutex
	value       T
	held        bool               // value is the result of a good read
	loadedAt    time.Time          // time of the last good read
	lastAttempt time.Time          // end of the last read, good or not
	lastErr     error              // error of the last read; nil after a good one
	invalid     bool               // invalidate asked for a re-read not yet done
	loading     chan struct{}      // non-nil while a read runs; closed when done
	generation  int                // incremented whenever a read changes the value
	background  bool               // a background re-read runs
	cancelBG    context.CancelFunc // ends the background re-read
	closed      bool               // close was called: no background re-read starts
}

func newCache[T any](opts Options, read func(context.Context) (T, error), equal func(held, read T) bool) *cache[T] {
	return &cache[T]{opts: opts, read: read, equal: equal}
}

// get returns the value, reading it first when none is held. Its error is
// the reason no value is held: the last read's error, or ctx's.
func (c *cache[T]) get(ctx context.Context) (T, error) {
	var zero T
	c.mu.Lock()
	now := c.opts.Now()
	if c.held {
		v := c.value
		if c.dueLocked(now) {
			c.startBackgroundLocked(ctx)
		}
		c.mu.Unlock()
		return v, nil
	}
	if err := c.lastErr; err != nil && now.Sub(c.lastAttempt) < c.opts.EmptyRetryInterval {
		c.mu.Unlock()
		return zero, err
	}
	c.mu.Unlock()
	if _, err := c.load(ctx); err != nil {
		return zero, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		if c.lastErr != nil {
			return zero, c.lastErr
		}
		return zero, errNotRead
	}
	return c.value, nil
}

// dueLocked reports whether get must start a background re-read: the value
// is older than MaxAge or was invalidated, no re-read runs, close was not
// called, and the last read is not a failure or an invalidated value
// younger than MinRefreshInterval.
func (c *cache[T]) dueLocked(now time.Time) bool {
	aged := now.Sub(c.loadedAt) >= c.opts.MaxAge
	if (!aged && !c.invalid) || c.background || c.closed {
		return false
	}
	recent := now.Sub(c.lastAttempt) < c.opts.MinRefreshInterval
	return !recent || (c.lastErr == nil && aged)
}

// startBackgroundLocked starts the background re-read. Its context keeps
// ctx's values, not its end: the caller that happened to find the value
// stale does not wait for it.
func (c *cache[T]) startBackgroundLocked(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundReadTimeout)
	c.background, c.cancelBG = true, cancel
	c.bg.Go(func() {
		defer cancel()
		c.load(ctx)
		c.mu.Lock()
		c.background, c.cancelBG = false, nil
		c.mu.Unlock()
	})
}

// refresh reads the value again unless the last read is younger than
// MinRefreshInterval, and reports whether the value changed. Within the
// interval it reads nothing and returns the last read's error.
func (c *cache[T]) refresh(ctx context.Context) (bool, error) {
	c.mu.Lock()
	recent := c.opts.Now().Sub(c.lastAttempt) < c.opts.MinRefreshInterval
	lastErr := c.lastErr
	c.mu.Unlock()
	if recent {
		return false, lastErr
	}
	return c.load(ctx)
}

// invalidate makes the next get re-read the value in the background, no
// sooner than MinRefreshInterval after the last read; until then, and if
// that read fails, the value held keeps serving.
func (c *cache[T]) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalid = true
}

// peek returns the value held, without reading.
func (c *cache[T]) peek() (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value, c.held
}

// wait waits for the background re-read, if one runs, to end.
func (c *cache[T]) wait() { c.bg.Wait() }

// close stops background re-reads: none starts from now on, and the one
// running, if any, is cancelled and waited for. The value held keeps
// serving. It is safe to call more than once.
func (c *cache[T]) close() {
	c.mu.Lock()
	c.closed = true
	if c.cancelBG != nil {
		c.cancelBG()
	}
	c.mu.Unlock()
	c.bg.Wait()
}

// load reads the value once, merging concurrent callers into one read, and
// reports whether the value changed. A caller whose ctx ends while it waits
// for another's read returns ctx's error; the read goes on.
func (c *cache[T]) load(ctx context.Context) (changed bool, err error) {
	c.mu.Lock()
	if ch := c.loading; ch != nil {
		gen := c.generation
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.generation != gen, c.lastErr
	}
	ch := make(chan struct{})
	c.loading = ch
	c.mu.Unlock()

	v, err := c.read(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.loading = nil
	close(ch)
	c.lastAttempt = c.opts.Now()
	c.lastErr = err
	if err != nil {
		return false, err
	}
	changed = !c.held || !c.equal(c.value, v)
	if changed {
		c.generation++
	}
	c.value, c.held, c.loadedAt, c.invalid = v, true, c.lastAttempt, false
	return changed, nil
}
