package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Defaults of RemoteKeySetOptions.
const (
	DefaultMinRefreshInterval = time.Minute
	DefaultMaxAge             = time.Hour
	DefaultEmptyRetryInterval = 5 * time.Second
	DefaultJWKSMaxBytes       = 1 << 20
	defaultHTTPTimeout        = 5 * time.Second
	// maxFetchTime bounds a fetch even with an HTTPClient without timeout.
	maxFetchTime = 30 * time.Second
)

// GeminiJWKSURL is the JWKS Gemini's documentation names for dynamic webhooks.
const GeminiJWKSURL = "https://generativelanguage.googleapis.com/.well-known/jwks.json"

// RemoteKeySetOptions configures a RemoteKeySet. The zero value of each field
// is its default.
type RemoteKeySetOptions struct {
	// HTTPClient fetches the JWKS. Nil means a client with a 5s timeout.
	HTTPClient *http.Client
	// MinRefreshInterval is the least time between two fetches started
	// because of an unknown kid or an expired set, so that a burst of forged
	// tokens with random kids causes at most one fetch per interval.
	// Zero means DefaultMinRefreshInterval (1m). While no set has ever been
	// fetched the wait is min(MinRefreshInterval, EmptyRetryInterval).
	MinRefreshInterval time.Duration
	// EmptyRetryInterval caps the wait between fetch attempts while no set
	// has ever been fetched, so a cold start recovers quickly from a short
	// outage without turning it into a fetch per request. Zero means
	// DefaultEmptyRetryInterval (5s).
	EmptyRetryInterval time.Duration
	// MaxAge is the age after which a cached set is refetched on the next
	// lookup (the old keys keep serving if that fetch fails). A Cache-Control
	// max-age shorter than MaxAge (but not shorter than MinRefreshInterval)
	// takes precedence. Zero means DefaultMaxAge (1h).
	MaxAge time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// MaxBytes caps the JWKS response size. Zero means DefaultJWKSMaxBytes (1 MiB).
	MaxBytes int64
}

// RemoteKeySet is a KeySet backed by a JWKS URL. It fetches the set on first
// use and caches it. An unknown kid causes a refetch at most once per
// MinRefreshInterval; lookups that need a fetch while one runs share it, so
// a burst of forged kids costs at most one request per interval. A kid still
// unknown after a fetch made for it is [ErrUnknownKey]; a kid not in the
// cache while no fetch is allowed yet is [ErrKeySetUnavailable] with the time
// left until the next allowed fetch (see [RetryAfter]): a key the sender
// rotated in since the last fetch is then retried, not refused as forged. A known kid
// is always answered from the cache at once; when the set is past its max age
// that lookup also starts a refetch in the background (rate-limited the same
// way). When a refetch fails, answers other than 200, is larger than
// MaxBytes, or holds no key with a kid, the last good keys keep serving. With
// nothing ever fetched successfully, Key returns an error wrapping
// ErrKeySetUnavailable, and fetches are retried at most every
// min(MinRefreshInterval, EmptyRetryInterval) so an outage does not become
// a fetch per request. The project's Secret Manager keyring follows the same
// policy under the same option names.
//
// All keys of the document are kept, whatever their type: the Verifier
// rejects a key that is not suitable for RS256, so an EC key under a known
// kid is refused without triggering a refetch. Keys jwx cannot parse are
// skipped.
//
// The fetch runs detached from the caller's context (bounded by the HTTP
// client's timeout and by 30s), so a caller that gives up does not fail the fetch for
// the others waiting on it; Close ends it and waits for it, so no fetch
// outlives the server that owns the set. It is built on net/http plus jwk.Parse rather
// than jwk.Fetch or jwk.Cache: jwk.Fetch does not cap the response size, and
// jwk.Cache refreshes on a background goroutine and has no rate-limited
// refetch on an unknown kid, which is the behaviour needed on a
// request-driven, CPU-throttled Cloud Function.
type RemoteKeySet struct {
	url      string
	client   *http.Client
	interval time.Duration
	retry    time.Duration // EmptyRetryInterval
	maxAge   time.Duration
	now      func() time.Time
	maxBytes int64

	mu          sync.Mutex
	keys        map[string]*preparedKey // last good set; nil before the first success
	fetchedAt   time.Time               // time of the last successful fetch
	expiresAt   time.Time               // fetchedAt + effective max age
	lastAttempt time.Time               // start of the last fetch, successful or not
	lastErr     error                   // error of the last fetch; nil after a success
	inflight    *fetchCall              // the running fetch; nil when none runs
	closed      bool                    // Close was called: no fetch starts

	stop    context.Context // ends every fetch at Close
	cancel  context.CancelFunc
	fetches sync.WaitGroup // the fetch goroutine, at most one
}

// errClosed is the reason a closed key set fetches nothing.
var errClosed = errors.New("key set closed")

// NewRemoteKeySet returns a key set fetching the JWKS at url. It does no I/O.
func NewRemoteKeySet(url string, opts RemoteKeySetOptions) *RemoteKeySet {
	k := &RemoteKeySet{
		url:      url,
		client:   opts.HTTPClient,
		interval: opts.MinRefreshInterval,
		retry:    opts.EmptyRetryInterval,
		maxAge:   opts.MaxAge,
		now:      opts.Now,
		maxBytes: opts.MaxBytes,
	}
	k.stop, k.cancel = context.WithCancel(context.Background())
	if k.client == nil {
		k.client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if k.interval <= 0 {
		k.interval = DefaultMinRefreshInterval
	}
	if k.retry <= 0 {
		k.retry = DefaultEmptyRetryInterval
	}
	if k.maxAge <= 0 {
		k.maxAge = DefaultMaxAge
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.maxBytes <= 0 {
		k.maxBytes = DefaultJWKSMaxBytes
	}
	return k
}

// URL returns the JWKS URL.
func (k *RemoteKeySet) URL() string { return k.url }

// Prefetch fetches the key set now, merging with a fetch already running,
// regardless of the refresh interval. It returns an error wrapping
// ErrKeySetUnavailable when the fetch fails; keys fetched earlier stay cached.
func (k *RemoteKeySet) Prefetch(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrKeySetUnavailable, errClosed)
	}
	call := k.startFetchLocked()
	k.mu.Unlock()
	if err := k.wait(ctx, call); err != nil {
		return err
	}
	if call.err != nil {
		return fmt.Errorf("%w: %w", ErrKeySetUnavailable, call.err)
	}
	return nil
}

// Key returns the key for kid. See [KeySet].
func (k *RemoteKeySet) Key(ctx context.Context, kid string) (jwk.Key, error) {
	p, err := k.preparedKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	return p.key, nil
}

func (k *RemoteKeySet) preparedKey(ctx context.Context, kid string) (*preparedKey, error) {
	fetched := false
	for {
		k.mu.Lock()
		now := k.now()
		if p, known := k.keys[kid]; known {
			// A known key is served at once; when the set is past its max
			// age a refetch starts in the background (stale-while-revalidate,
			// and stale-if-error since a failed fetch keeps these keys).
			if !now.Before(k.expiresAt) && k.inflight == nil && !k.closed && k.mayFetchLocked(now) {
				k.startFetchLocked()
			}
			k.mu.Unlock()
			return p, nil
		}
		var call *fetchCall
		if !fetched {
			if k.inflight != nil {
				call = k.inflight // a fetch is running: share it
			} else if !k.closed && k.mayFetchLocked(now) {
				call = k.startFetchLocked()
			}
		}
		if call == nil {
			// No fetch allowed, or it has been done: answer from what we have.
			// When the last fetch failed, the kid may well be in the set we
			// could not read (a key rotated in during the outage): that is
			// "unavailable", so the sender retries, not "unknown". So is a
			// kid that a fetch made for this lookup could not vouch for: the
			// key may have been added since the last fetch, which is "retry
			// once a refetch is allowed", not "forged".
			defer k.mu.Unlock()
			switch {
			case k.closed:
				return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, errClosed)
			case k.keys != nil && k.lastErr == nil && fetched:
				return nil, ErrUnknownKey
			case k.keys != nil && k.lastErr == nil:
				return nil, &retryError{after: k.nextFetchLocked(now), reason: ErrUnknownKey}
			case k.lastErr != nil:
				return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, k.lastErr)
			default:
				return nil, ErrKeySetUnavailable
			}
		}
		k.mu.Unlock()
		if err := k.wait(ctx, call); err != nil {
			return nil, err
		}
		fetched = true
	}
}

// fetchCall is one fetch shared by every lookup waiting on it.
type fetchCall struct {
	done chan struct{} // closed when the fetch ends
	err  error         // written before done is closed
}

// mayFetchLocked reports whether the rate limit allows a fetch to start now.
func (k *RemoteKeySet) mayFetchLocked(now time.Time) bool {
	return k.lastAttempt.IsZero() || !now.Before(k.nextAttemptLocked())
}

// nextAttemptLocked is the earliest time the rate limit allows a fetch.
func (k *RemoteKeySet) nextAttemptLocked() time.Time {
	wait := k.interval
	if k.keys == nil {
		wait = min(wait, k.retry)
	}
	return k.lastAttempt.Add(wait)
}

// nextFetchLocked is the time left until a fetch is allowed, rounded up to
// whole seconds and at least one (the unit of Retry-After).
func (k *RemoteKeySet) nextFetchLocked(now time.Time) time.Duration {
	left := k.nextAttemptLocked().Sub(now)
	return max(time.Second, (left + time.Second - 1).Truncate(time.Second))
}

// startFetchLocked starts a fetch unless one runs, and returns it.
func (k *RemoteKeySet) startFetchLocked() *fetchCall {
	if k.inflight != nil {
		return k.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	k.inflight = call
	k.lastAttempt = k.now()
	k.fetches.Go(func() { k.fetch(call) })
	return call
}

// Close cancels a fetch in flight and waits for it to end; no fetch starts
// afterwards. Keys already fetched keep serving; a kid not among them is
// then ErrKeySetUnavailable. It is safe to call more than once and returns
// nil.
func (k *RemoteKeySet) Close() error {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.cancel()
	k.fetches.Wait()
	return nil
}

func (k *RemoteKeySet) wait(ctx context.Context, call *fetchCall) error {
	select {
	case <-call.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for key set fetch: %w", ErrKeySetUnavailable, ctx.Err())
	}
}

// fetch downloads and parses the set, then publishes the result.
func (k *RemoteKeySet) fetch(call *fetchCall) {
	keys, maxAge, err := k.download()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.lastErr = err
	} else {
		k.keys = keys
		k.lastErr = nil
		k.fetchedAt = k.now()
		k.expiresAt = k.fetchedAt.Add(maxAge)
	}
	call.err = err
	k.inflight = nil
	close(call.done)
}

// download performs one GET of the JWKS and returns its keys and the max age
// to cache them for.
func (k *RemoteKeySet) download() (map[string]*preparedKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(k.stop, maxFetchTime)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch key set: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, 0, fmt.Errorf("fetch key set: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.maxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read key set: %w", err)
	}
	if int64(len(body)) > k.maxBytes {
		return nil, 0, fmt.Errorf("read key set: larger than %d bytes", k.maxBytes)
	}
	set, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, 0, errors.New("parse key set: not a JWKS document")
	}
	keys := StaticKeySetFromSet(set).keys
	if len(keys) == 0 {
		return nil, 0, errors.New("parse key set: no key with a kid")
	}
	return keys, k.effectiveMaxAge(resp.Header.Get("Cache-Control")), nil
}

// effectiveMaxAge honours a Cache-Control max-age between MinRefreshInterval
// and MaxAge.
func (k *RemoteKeySet) effectiveMaxAge(cacheControl string) time.Duration {
	for _, d := range strings.Split(cacheControl, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		age := time.Duration(min(secs, int64(k.maxAge/time.Second))) * time.Second
		return max(age, k.interval)
	}
	return k.maxAge
}
