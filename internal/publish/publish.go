// Package publish sends normalized events to their Pub/Sub topics with the
// pubsub/v2 client and waits for the server's acknowledgement, so the
// function answers 200 only for events Pub/Sub holds.
package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"

	"github.com/geminihook/geminihook/events"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("publish: publisher closed")

// ErrTooLarge is returned by Publish, before anything is sent, for a message
// larger than its topic's publish request can carry: the client would fail
// it with "item size exceeds bundle byte limit" on every attempt. Sending it
// again cannot help; events.Parse quarantines bodies whose event would not
// fit, so only a body over events.MaxBodyBytes can get here.
var ErrTooLarge = errors.New("publish: message exceeds Pub/Sub's request size limit")

// ErrCloseTimeout is returned by Close when the publishers could not send
// what they hold within CloseTimeout; the messages still unsent are lost
// to this process (their deliveries were answered 503, so Gemini retries).
var ErrCloseTimeout = errors.New("publish: close timed out")

// DefaultCloseTimeout is the default of Options.CloseTimeout.
const DefaultCloseTimeout = 2 * time.Second

// Options tunes publishing; the zero value of each field is its default.
type Options struct {
	// Timeout bounds one publish, from the call to the server's answer.
	// Default 5s: well inside the few seconds Gemini waits for a 2xx.
	Timeout time.Duration
	// DelayThreshold is how long a message may wait to be batched with
	// others. Every delivery waits for its own publish, so this is added
	// latency; default 1ms.
	DelayThreshold time.Duration
	// CountThreshold sends a batch once it holds this many messages.
	// Default 100.
	CountThreshold int
	// NumGoroutines bounds the batches of one topic in flight at once.
	// Default: the client's, 25 per GOMAXPROCS.
	NumGoroutines int
	// CloseTimeout bounds Close: flushing what the publishers hold and
	// closing the client. With Pub/Sub stalled, Close returns
	// ErrCloseTimeout then instead of waiting on the client, so a shutdown
	// stays inside Cloud Run's 10 seconds. Default DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// Publisher publishes to the five family topics of one prefix. It holds one
// client and one pubsub.Publisher per topic and is safe for concurrent use.
type Publisher struct {
	client       *pubsub.Client
	timeout      time.Duration
	closeTimeout time.Duration
	topics       map[events.Family]*pubsub.Publisher
	maxBytes     map[events.Family]int // largest message each topic's request carries

	mu     sync.RWMutex
	closed bool
	ended  chan struct{} // closed once Close has finished or given up
}

// New returns a Publisher for project's topics named prefix+family. Creating
// the client does not contact Pub/Sub; PUBSUB_EMULATOR_HOST is honoured by
// the client.
func New(ctx context.Context, project, prefix string, opts Options, clientOpts ...option.ClientOption) (*Publisher, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.DelayThreshold <= 0 {
		opts.DelayThreshold = time.Millisecond
	}
	if opts.CountThreshold <= 0 {
		opts.CountThreshold = 100
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	client, err := pubsub.NewClient(ctx, project, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	p := &Publisher{
		client: client, timeout: opts.Timeout, closeTimeout: opts.CloseTimeout,
		topics: make(map[events.Family]*pubsub.Publisher), maxBytes: make(map[events.Family]int),
		ended: make(chan struct{}),
	}
	for _, f := range events.Families() {
		pub := client.Publisher(events.Topic(prefix, f))
		pub.PublishSettings.DelayThreshold = opts.DelayThreshold
		pub.PublishSettings.CountThreshold = opts.CountThreshold
		if opts.NumGoroutines > 0 {
			pub.PublishSettings.NumGoroutines = opts.NumGoroutines
		}
		// The publisher's own retries stop at our deadline, not at the
		// library's default minute.
		pub.PublishSettings.Timeout = opts.Timeout
		p.topics[f] = pub
		p.maxBytes[f] = MaxMessageBytes(pub.String())
	}
	return p, nil
}

// Publish sends m to the topic of family f and returns the server's message
// id once Pub/Sub has acknowledged it. It fails when the server refuses the
// message, when Timeout passes, or when ctx ends first; in each case the
// caller must not report success. A message over its topic's
// MaxMessageBytes fails with ErrTooLarge before anything is sent. When
// Timeout passes or ctx ends before Pub/Sub answered, the message may still
// land: the error is then a *Pending (errors.As), which also wraps ctx's
// error, and whose Wait reports the late answer.
func (p *Publisher) Publish(ctx context.Context, f events.Family, m events.Message) (string, error) {
	pub, ok := p.topics[f]
	if !ok {
		return "", fmt.Errorf("publish: no topic for family %q", f)
	}
	if n := events.MessageSize(m); n > p.maxBytes[f] {
		return "", fmt.Errorf("publish %s: %d bytes, at most %d: %w", pub.ID(), n, p.maxBytes[f], ErrTooLarge)
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return "", ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res := pub.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes})
	p.mu.RUnlock()
	id, err := res.Get(ctx)
	if err != nil {
		select {
		case <-res.Ready():
		default:
			// Our wait ended, the client's has not: the message may land.
			err = &Pending{res: res, ended: p.ended, grace: p.timeout, cause: err}
		}
		return "", fmt.Errorf("publish %s: %w", pub.ID(), err)
	}
	return id, nil
}

// Pending is the error of a publish whose wait ended (Timeout passed or the
// caller's context ended) before Pub/Sub answered: the client still holds
// the message, and it may land afterwards. The caller answers as for any
// failed publish (the sender retries), and may call Wait to learn whether
// it landed after all, so that the retry can be recognised as a duplicate.
// It wraps the context's error.
type Pending struct {
	res   *pubsub.PublishResult
	ended <-chan struct{}
	grace time.Duration
	cause error
}

// Error implements error.
func (p *Pending) Error() string {
	return "no answer yet, the message may still land: " + p.cause.Error()
}

// Unwrap returns the context error that ended the wait.
func (p *Pending) Unwrap() error { return p.cause }

// ErrNoLateAnswer is returned by Pending.Wait when the client still had no
// answer when Wait gave up: whether the message landed stays unknown.
var ErrNoLateAnswer = errors.New("publish: no late answer")

// Wait waits for the client's answer to the pending publish: Pub/Sub's
// message id if it landed, or the client's error if it certainly did not
// (the client gave up within its own publish timeout, which is Timeout).
// It gives up with ErrNoLateAnswer after one more Timeout (a publish
// queued behind others in the client may answer later still), once Close
// has finished or given up, or when ctx ends, so no caller waits past
// Close.
func (p *Pending) Wait(ctx context.Context) (string, error) {
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case <-p.res.Ready():
	case <-p.ended:
		// Close sent what it could; take an answer that came with it.
		select {
		case <-p.res.Ready():
		default:
			return "", fmt.Errorf("%w: publisher closed", ErrNoLateAnswer)
		}
	case <-t.C:
		return "", fmt.Errorf("%w within %s", ErrNoLateAnswer, p.grace)
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrNoLateAnswer, ctx.Err())
	}
	id, err := p.res.Get(context.Background()) // ready: returns at once
	if err != nil {
		return "", fmt.Errorf("late answer: %w", err)
	}
	return id, nil
}

// Close sends every message already handed to Publish, stops the
// publishers and closes the client, within CloseTimeout; past it, Close
// returns ErrCloseTimeout and leaves the rest to finish in the background.
// Publish calls after Close fail with ErrClosed.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		for _, pub := range p.topics {
			wg.Go(pub.Stop) // each waits until its buffered messages are sent
		}
		wg.Wait()
		done <- p.client.Close()
	}()
	t := time.NewTimer(p.closeTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		close(p.ended)
		if err != nil {
			return fmt.Errorf("close pubsub client: %w", err)
		}
		return nil
	case <-t.C:
		close(p.ended)
		return fmt.Errorf("publish: flushing and closing took over %s: %w", p.closeTimeout, ErrCloseTimeout)
	}
}
