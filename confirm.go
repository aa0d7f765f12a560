package geminihook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/secrets"
)

// Confirmation modes, the values of GEMINI_CONFIRM.
const (
	confirmOff     = "off"     // publish without asking the Gemini API
	confirmDynamic = "dynamic" // confirm JWT-signed (dynamic webhook) deliveries
	confirmAll     = "all"     // confirm every delivery
)

// literalKeyPrefix marks a literal Gemini API key in GEMINI_API_KEY_SECRET,
// for local use only ("literal:KEY"). Any other value that is not a Secret
// Manager name is refused, so a key pasted by mistake is never taken for a
// secret name, nor a secret name mistyped taken for a key.
const literalKeyPrefix = "literal:"

// confirmBudget is how long after a delivery arrived its confirmation may
// run, retries included: the 15 s a sender waits at the least (Standard
// Webhooks recommends 15-30 s; Google says "a few seconds") less the 5 s a
// publish may take.
const confirmBudget = 10 * time.Second

// errConfirmUnavailable is the handler's error when the Gemini API could
// not be asked in time: 503 gemini_unavailable, Gemini retries.
var errConfirmUnavailable = errors.New("confirmation unavailable")

// apiKeyConfig reads GEMINI_API_KEY_SECRET: "" (no key), a Secret Manager
// name, or literalKeyPrefix and a key. Errors never quote the value.
func (e *env) apiKeyConfig(name string) string {
	v := e.str(name)
	switch {
	case v == "", secrets.IsSecretName(v):
	case strings.HasPrefix(v, literalKeyPrefix) && strings.TrimSpace(v[len(literalKeyPrefix):]) != "":
	default:
		e.bad(name, "neither a Secret Manager name (projects/P/secrets/S[/versions/V]) nor %sKEY (a literal key, for local use only)", literalKeyPrefix)
	}
	return v
}

// confirmMode reads GEMINI_CONFIRM: dynamic by default when a key is
// configured, off otherwise.
func (e *env) confirmMode(name string, haveKey, dynamicWebhooks bool) string {
	v := strings.ToLower(e.str(name))
	switch v {
	case "":
		if haveKey {
			return confirmDynamic
		}
		return confirmOff
	case confirmOff:
		return v
	case confirmDynamic, confirmAll:
		if !haveKey {
			e.bad(name, "%q needs GEMINI_API_KEY_SECRET: the Gemini API cannot be asked without a key", v)
			return confirmOff
		}
		if v == confirmDynamic && !dynamicWebhooks {
			e.bad(name, "%q confirms only dynamic webhooks, and GEMINI_DYNAMIC_WEBHOOKS is off: use all or off", v)
		}
		return v
	}
	e.bad(name, "%q is not off, dynamic or all", e.str(name))
	return confirmOff
}

// confirmer is the function's confirmation step: which deliveries to
// check, and the confirm.Confirmer that asks the API.
type confirmer struct {
	mode   string
	c      *confirm.Confirmer
	keys   *apiKeySource // nil for a literal key
	now    func() time.Time
	budget time.Duration
}

// newConfirmer builds the confirmation step of cfg; nil when it is off.
// It reads the key with the server's shared Secret Manager client.
func newConfirmer(ctx context.Context, cfg config, opts buildOptions, s *server) (*confirmer, error) {
	if cfg.Confirm == confirmOff {
		return nil, nil
	}
	cf := &confirmer{mode: cfg.Confirm, now: opts.now, budget: opts.confirmBudget}
	if cf.budget <= 0 {
		cf.budget = confirmBudget
	}
	co := opts.confirm
	co.BaseURL, co.Now = cfg.APIBaseURL, opts.now
	if key, ok := strings.CutPrefix(cfg.APIKeySecret, literalKeyPrefix); ok {
		key = strings.TrimSpace(key)
		co.APIKey = func(context.Context) (string, error) { return key, nil }
	} else {
		client, err := s.secretManager(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("GEMINI_API_KEY_SECRET: %w", err)
		}
		cf.keys = newAPIKeySource(client, cfg.APIKeySecret, opts.secrets, opts.now)
		co.APIKey = cf.keys.Key
	}
	c, err := confirm.New(co)
	if err != nil {
		return nil, fmt.Errorf("confirmer: %w", err)
	}
	cf.c = c
	return cf, nil
}

// check confirms n, a new authentic delivery, when the mode asks for it. It
// returns n marked confirmed, the quarantine message of a disputed event, or
// n unchanged when n is not checked; or an error wrapping
// errConfirmUnavailable (503, Gemini retries) or errUnavailable (the API
// refused the key: 503 not_ready, a configuration problem).
func (cf *confirmer) check(ctx context.Context, n events.Normalized, body []byte, meta events.Meta, start time.Time) (events.Normalized, error) {
	if cf == nil || n.Quarantined() || n.Family == events.FamilyOther ||
		(cf.mode == confirmDynamic && meta.Scheme != events.SchemeJWT) {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(ctx, cf.budget-cf.now().Sub(start))
	defer cancel()
	r, err := cf.c.Confirm(ctx, confirm.Input{Family: n.Event.Family, Type: n.Event.Type, Resource: n.Event.Resource})
	switch {
	case errors.Is(err, confirm.ErrUnsupported):
		return n, nil
	case errors.Is(err, confirm.ErrKeyRefused):
		cf.keys.stale() // a rotated key is read again before the next call
		return n, fmt.Errorf("%w: %w", errUnavailable, err)
	case err != nil:
		return n, fmt.Errorf("%w: %w", errConfirmUnavailable, err)
	case r.Verdict == confirm.Confirmed:
		e := n.Event.WithConfirmation(events.Confirmation{At: r.CheckedAt, APIState: r.APIState, OutputURI: r.OutputURI, Error: r.Error})
		msg, err := events.NewMessage(e)
		if err != nil {
			return n, fmt.Errorf("confirmed event: %w", err)
		}
		return events.Normalized{Family: e.Family, Event: e, Message: msg}, nil
	}
	q := events.NewUnconfirmedMessage(body, meta, n.Event, events.Dispute{
		Reason: r.Reason, Resource: r.Resource, APIState: r.APIState, Detail: r.Detail, CheckedAt: r.CheckedAt})
	return events.Normalized{
		Family:  events.FamilyQuarantine,
		Message: q,
		Reason:  events.ReasonUnconfirmed,
		Err:     fmt.Errorf("the Gemini API disputes the event: %s", r.Reason),
	}, nil
}

// apiKeySource reads the Gemini API key from a Secret Manager secret (its
// latest version) or version, and re-reads it as secrets.Keyring re-reads
// the webhook secret: a key older than MaxAge keeps serving while a re-read
// runs in the background; with no key yet, the caller reads it, at most
// once per EmptyRetryInterval while reads fail.
type apiKeySource struct {
	client *secretmanager.Client
	name   string // a version name
	opts   secrets.Options
	now    func() time.Time

	mu          sync.Mutex
	key         string
	loadedAt    time.Time
	lastAttempt time.Time
	lastErr     error
	refreshing  bool
}

func newAPIKeySource(client *secretmanager.Client, name string, opts secrets.Options, now func() time.Time) *apiKeySource {
	if !strings.Contains(name, "/versions/") {
		name += "/versions/latest"
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = secrets.DefaultMaxAge
	}
	if opts.MinRefreshInterval <= 0 {
		opts.MinRefreshInterval = secrets.DefaultMinRefreshInterval
	}
	if opts.EmptyRetryInterval <= 0 {
		opts.EmptyRetryInterval = secrets.DefaultEmptyRetryInterval
	}
	return &apiKeySource{client: client, name: name, opts: opts, now: now}
}

// Key returns the API key. Errors name the secret, never a value.
func (k *apiKeySource) Key(ctx context.Context) (string, error) {
	k.mu.Lock()
	now := k.now()
	if k.key != "" {
		key := k.key
		if now.Sub(k.loadedAt) >= k.opts.MaxAge && !k.refreshing && now.Sub(k.lastAttempt) >= k.opts.MinRefreshInterval {
			k.refreshing = true
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretCallTimeout)
				defer cancel()
				k.load(ctx)
				k.mu.Lock()
				k.refreshing = false
				k.mu.Unlock()
			}()
		}
		k.mu.Unlock()
		return key, nil
	}
	if k.lastErr != nil && now.Sub(k.lastAttempt) < k.opts.EmptyRetryInterval {
		err := k.lastErr
		k.mu.Unlock()
		return "", err
	}
	k.mu.Unlock()
	return k.load(ctx)
}

// load reads the version once and records the outcome.
func (k *apiKeySource) load(ctx context.Context) (string, error) {
	resp, err := k.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: k.name})
	key := ""
	if err == nil {
		if key = strings.TrimSpace(string(resp.GetPayload().GetData())); key == "" {
			err = errors.New("the version is empty")
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lastAttempt, k.lastErr = k.now(), nil
	if err != nil {
		k.lastErr = fmt.Errorf("read the Gemini API key %s: %w", k.name, err)
		if k.key != "" {
			return k.key, nil // the key held keeps serving
		}
		return "", k.lastErr
	}
	k.key, k.loadedAt = key, k.lastAttempt
	return key, nil
}

// stale makes the next Key re-read the secret (in the background, at most
// once per MinRefreshInterval): the API refused the key held, which a
// rotation may have replaced. A nil source (a literal key) does nothing.
func (k *apiKeySource) stale() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.loadedAt = time.Time{}
}
