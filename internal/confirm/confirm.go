package confirm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/geminihook/geminihook/events"
)

// Defaults for Options.
const (
	DefaultMaxConcurrent  = 8
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
	DefaultMaxAttempts    = 5
	DefaultAttemptTimeout = 10 * time.Second
	DefaultCacheSize      = 10000
	DefaultCacheTTL       = time.Hour
)

// Sentinel errors. Confirm's errors wrap exactly one of them.
var (
	// ErrUnavailable: the API could not be asked (unreachable, timed out,
	// 408/429/5xx after the retries the deadline allowed, or the API key
	// could not be read). The delivery should be answered 503 so that
	// Gemini retries it.
	ErrUnavailable = errors.New("confirm: Gemini API unavailable")
	// ErrKeyRefused: the API refused the API key (401, 403, or 400
	// API_KEY_INVALID), or the key is empty. A configuration problem: answer
	// 503, log an error and report not ready.
	ErrKeyRefused = errors.New("confirm: Gemini API refused the API key")
	// ErrUnsupported: the input's type is not one of the event types this
	// package can confirm (pings, unknown types), or its family does not
	// match its type. No call is made.
	ErrUnsupported = errors.New("confirm: event type cannot be confirmed")
)

// CallError describes a failed confirmation. It unwraps to ErrUnavailable
// or ErrKeyRefused (and, when reading the API key failed, to that error).
// Its fields are safe to log: they never hold the API key.
type CallError struct {
	// Resource is the API resource name that was read.
	Resource string
	// HTTPStatus is the API's last HTTP status; 0 when none was received.
	HTTPStatus int
	// Status is the API's last canonical status ("UNAVAILABLE"), if any.
	Status string
	// Message is the API's last message, or what went wrong.
	Message string
	// Attempts is how many calls were made.
	Attempts int

	kind     error
	cause    error // the key function's error, if that failed
	ctxEnded bool  // the caller's context ended
}

// Error describes the failure without the API key.
func (e *CallError) Error() string {
	s := e.kind.Error() + ": " + e.Resource
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(": HTTP %d", e.HTTPStatus)
	}
	if e.Status != "" {
		s += " " + e.Status
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s + fmt.Sprintf(" (calls: %d)", e.Attempts)
}

// Unwrap returns the sentinel and, when reading the key failed, its error.
func (e *CallError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// Input is what Confirm needs of an event.
type Input struct {
	// Family is the event's family (events.Event.Family).
	Family events.Family
	// Type is Gemini's event type verbatim (events.Event.Type); aliases
	// such as batch.completed are resolved with events.Lookup.
	Type string
	// Resource is data.id verbatim (events.Event.Resource).
	Resource string
}

// Verdict is the outcome of a confirmation that reached the API.
type Verdict string

// The verdicts.
const (
	// Confirmed: the API reports the state the event claims.
	Confirmed Verdict = "confirmed"
	// Disputed: the API reports another state, or no such resource.
	Disputed Verdict = "disputed"
)

// Reasons a confirmation is disputed, in Result.Reason: stable, safe to log
// or use as a metric label.
const (
	ReasonStateMismatch = "state_mismatch" // the API reports another state
	ReasonNotFound      = "not_found"      // the API answered 404
	ReasonInvalidID     = "invalid_id"     // data.id cannot name a resource; no call made
	ReasonRejected      = "rejected"       // the API answered 400 for the name
)

// Result is what the API said about an event's resource.
type Result struct {
	// Verdict is Confirmed or Disputed.
	Verdict Verdict
	// Reason is empty when confirmed, one of the Reason constants otherwise.
	Reason string
	// Resource is the API resource name read ("batches/abc"); empty when
	// data.id named none (ReasonInvalidID).
	Resource string
	// APIState is the state the API reported (see the package doc); empty
	// when the resource was not found.
	APIState string
	// OutputURI is the output location the API reported, if any.
	OutputURI string
	// Error is the error the API reported for the job, if any.
	Error *events.Error
	// CheckedAt is when the API reported APIState. A result served from the
	// cache keeps the time of the call that filled it.
	CheckedAt time.Time
	// Detail says, for a disputed result, what the API said; safe to
	// publish in a quarantine message (no key, no secrets). Empty when
	// confirmed.
	Detail string
}

// Options configures a Confirmer; the zero value of each field is its
// default, except APIKey, which is required.
type Options struct {
	// APIKey returns the Gemini API key. It is called for every call to the
	// API, so it should cache (the function backs it with a Secret Manager
	// read re-read on a TTL). Required.
	APIKey func(ctx context.Context) (string, error)
	// BaseURL is the API's base URL (GEMINI_API_BASE_URL); empty means the
	// SDK's default, https://generativelanguage.googleapis.com/.
	BaseURL string
	// HTTPClient sends the calls; nil means the SDK's default client.
	HTTPClient *http.Client
	// MaxConcurrent bounds the calls in flight. Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Now is the clock for CheckedAt and the cache. Default time.Now.
	Now func() time.Time
	// MinBackoff is the wait before the first retry; it doubles up to
	// MaxBackoff, each wait drawn uniformly from [wait/2, wait].
	// Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts bounds the calls for one confirmation. A retry is also
	// skipped when the context's deadline would pass during the wait.
	// Default DefaultMaxAttempts.
	MaxAttempts int
	// AttemptTimeout bounds one call. Default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// CacheSize bounds the resources remembered in a terminal state;
	// negative disables the cache. Default DefaultCacheSize.
	CacheSize int
	// CacheTTL is how long a remembered resource is used. Default
	// DefaultCacheTTL.
	CacheTTL time.Duration
}

// Confirmer confirms events against the Gemini API. It is safe for
// concurrent use.
type Confirmer struct {
	opts  Options
	sem   chan struct{}
	group singleflight.Group
	cache *lru

	mu     sync.Mutex
	key    string // the key client was built with
	client *sdkClient
}

// New returns a Confirmer. It makes no call; the first Confirm reads the key.
func New(opts Options) (*Confirmer, error) {
	if opts.APIKey == nil {
		return nil, errors.New("confirm: Options.APIKey is required")
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	return &Confirmer{
		opts:  opts,
		sem:   make(chan struct{}, opts.MaxConcurrent),
		cache: newLRU(max(opts.CacheSize, 0)),
	}, nil
}

// Confirm asks the API about in's resource. It returns a Result (Confirmed
// or Disputed) when the API answered about the resource, or an error
// wrapping ErrUnavailable, ErrKeyRefused or ErrUnsupported. It returns
// within ctx's deadline.
func (c *Confirmer) Confirm(ctx context.Context, in Input) (Result, error) {
	ti, ok := events.Lookup(in.Type)
	want, known := expectedState[ti.Type]
	if !ok || !known || ti.Family != in.Family {
		return Result{}, fmt.Errorf("%w: %q in family %q", ErrUnsupported, in.Type, in.Family)
	}
	name, err := ResourceName(in.Family, in.Resource)
	if err != nil {
		return Result{
			Verdict:   Disputed,
			Reason:    ReasonInvalidID,
			CheckedAt: c.opts.Now().UTC(),
			Detail:    err.Error(),
		}, nil
	}
	snap, err := c.snapshot(ctx, in.Family, name)
	if err != nil {
		return Result{}, err
	}
	return judge(snap, want), nil
}

// snapshot returns what the API says about name: from the cache, or from
// one call shared by every concurrent caller.
func (c *Confirmer) snapshot(ctx context.Context, f events.Family, name string) (snapshot, error) {
	for {
		if s, ok := c.cache.get(name, c.opts.Now()); ok {
			return s, nil
		}
		led := make(chan struct{}) // closed when this caller's call runs
		ch := c.group.DoChan(name, func() (any, error) {
			close(led)
			s, err := c.fetch(ctx, f, name)
			if err == nil && s.found && terminal[s.state] {
				c.cache.put(name, s, c.opts.Now().Add(c.opts.CacheTTL))
			}
			return s, err
		})
		select {
		case <-ctx.Done():
			select {
			case <-led:
				// The call is this caller's own and ends with ctx: its
				// outcome (the last answer, the attempts made) says more
				// than that ctx ended, and it comes at once.
				r := <-ch
				if r.Err != nil {
					return snapshot{}, r.Err
				}
				return r.Val.(snapshot), nil
			default:
			}
			return snapshot{}, &CallError{Resource: name, Message: "waiting for the call: " + ctx.Err().Error(), kind: ErrUnavailable, ctxEnded: true}
		case r := <-ch:
			if r.Err != nil {
				// The call was led by a caller whose context ended first:
				// ask again with ours while it lasts.
				var ce *CallError
				if r.Shared && errors.As(r.Err, &ce) && ce.ctxEnded && ctx.Err() == nil {
					continue
				}
				return snapshot{}, r.Err
			}
			return r.Val.(snapshot), nil
		}
	}
}

// snapshot is the API's view of one resource.
type snapshot struct {
	name   string
	found  bool
	state  string
	output string
	err    *events.Error
	at     time.Time
	detail string // for a resource not found or refused: what the API said
	reason string // ReasonNotFound or ReasonRejected when !found
}

func judge(s snapshot, want string) Result {
	r := Result{Resource: s.name, CheckedAt: s.at}
	if !s.found {
		r.Verdict, r.Reason, r.Detail = Disputed, s.reason, s.detail
		return r
	}
	r.APIState, r.OutputURI, r.Error = s.state, s.output, s.err
	if s.state == want {
		r.Verdict = Confirmed
		return r
	}
	r.Verdict, r.Reason = Disputed, ReasonStateMismatch
	r.Detail = fmt.Sprintf("the Gemini API reports %s in state %s; the event claims %s", s.name, s.state, want)
	return r
}

// fetch reads name, retrying what can be retried within ctx.
func (c *Confirmer) fetch(ctx context.Context, f events.Family, name string) (snapshot, error) {
	key, err := c.opts.APIKey(ctx)
	if err != nil {
		// The key function's error names the secret, never its value.
		return snapshot{}, &CallError{Resource: name, Message: "read the API key: " + err.Error(), kind: ErrUnavailable, cause: err}
	}
	if key == "" {
		return snapshot{}, &CallError{Resource: name, Message: "the API key is empty", kind: ErrKeyRefused}
	}
	client, err := c.clientFor(ctx, key)
	if err != nil {
		return snapshot{}, &CallError{Resource: name, Message: redact(err.Error(), key), kind: ErrKeyRefused}
	}
	wait := c.opts.MinBackoff
	var answered *apiError // the last attempt the API answered
	for attempt := 1; ; attempt++ {
		s, ae := c.attempt(ctx, client, f, name)
		if ae == nil {
			s.name, s.at = name, c.opts.Now().UTC()
			return s, nil
		}
		ae.message = redact(ae.message, key)
		if ae.httpStatus != 0 {
			answered = ae
		} else if answered != nil {
			// No answer this time (the deadline cut the call short, or
			// the transport failed): the error reports the API's last
			// answer, and what came after it.
			ae = &apiError{class: ae.class, httpStatus: answered.httpStatus, status: answered.status,
				message: answered.message + "; then " + ae.message}
		}
		fail := func(kind error, ctxEnded bool) error {
			return &CallError{Resource: name, HTTPStatus: ae.httpStatus, Status: ae.status,
				Message: ae.message, Attempts: attempt, kind: kind, ctxEnded: ctxEnded}
		}
		switch ae.class {
		case classNotFound, classRejected:
			reason := ReasonNotFound
			if ae.class == classRejected {
				reason = ReasonRejected
			}
			return snapshot{name: name, at: c.opts.Now().UTC(), reason: reason,
				detail: fmt.Sprintf("the Gemini API answered HTTP %d %s for %s: %s", ae.httpStatus, ae.status, name, ae.message)}, nil
		case classKeyRefused:
			return snapshot{}, fail(ErrKeyRefused, false)
		case classFatal:
			return snapshot{}, fail(ErrUnavailable, false)
		}
		if ctx.Err() != nil {
			return snapshot{}, fail(ErrUnavailable, true)
		}
		if attempt >= c.opts.MaxAttempts {
			return snapshot{}, fail(ErrUnavailable, false)
		}
		d := wait/2 + rand.N(wait/2+1)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return snapshot{}, fail(ErrUnavailable, true)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return snapshot{}, fail(ErrUnavailable, true)
		case <-t.C:
		}
		wait = min(wait*2, c.opts.MaxBackoff)
	}
}

// attempt makes one call, holding a slot of the concurrency bound.
func (c *Confirmer) attempt(ctx context.Context, client *sdkClient, f events.Family, name string) (snapshot, *apiError) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return snapshot{}, &apiError{class: classRetry, message: "waiting for a call slot: " + ctx.Err().Error()}
	}
	defer func() { <-c.sem }()
	actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
	defer cancel()
	return client.get(actx, f, name)
}

// redact removes the key from s, should an API or transport message ever
// carry it.
func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}
