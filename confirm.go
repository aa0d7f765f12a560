package geminihook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
	keys   *secrets.Value // nil for a literal key
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
		so := opts.secrets
		so.Now = opts.now
		if cf.keys, err = secrets.NewValue(client, cfg.APIKeySecret, so); err != nil {
			return nil, fmt.Errorf("GEMINI_API_KEY_SECRET: %w", err)
		}
		// Registered after the client's Close, so run before it.
		s.closers = append(s.closers, cf.keys.Close)
		co.APIKey = cf.keys.Get
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
		if cf.keys != nil {
			cf.keys.Invalidate() // a rotated key is read again before long
		}
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
