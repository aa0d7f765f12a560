package geminihook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/firestore"

	idem "github.com/geminihook/geminihook/internal/idempotency"
	"github.com/geminihook/geminihook/internal/publish"
)

// guarded is the handler's idempotency on an idem.Guard: the
// shared protocol of internal/idempotency in front of the memory or the
// Firestore store (GEMINI_DEDUPE). Its claims are the Guard's tickets.
type guarded struct{ g *idem.Guard }

// claimTimeout bounds Claim: the store's calls (each bounded by
// idem.DefaultCallTimeout, but a claim that races may make several) or a
// copy's wait for the attempt ahead of it (one publish timeout and its
// store writes). Past it the delivery is answered 503 and retried.
const claimTimeout = 10 * time.Second

// Claim implements idempotency. A key held by another attempt is an error
// wrapping errBusy that carries the Guard's Retry-After; a store that
// cannot answer is one wrapping idem.ErrUnavailable.
func (a guarded) Claim(ctx context.Context, key string) (claimState, claim, error) {
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	out, t, err := a.g.Begin(ctx, key)
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("idempotency guard: %w", err)
	case out.State == idem.New:
		return claimNew, t, nil
	case out.State == idem.Duplicate:
		return claimDuplicate, nil, nil
	}
	return 0, nil, &retryAfterError{err: errBusy, after: out.RetryAfter}
}

// newGuard builds the Guard of cfg.Dedupe. With Firestore it opens the
// client (FIRESTORE_EMULATOR_HOST is honoured by the client) and returns
// it for the caller to close; creating it does not contact Firestore.
func newGuard(ctx context.Context, cfg config, opts buildOptions) (*idem.Guard, *firestore.Client, error) {
	if cfg.Dedupe != DedupeFirestore {
		// The memory store is local already: a cache in front of it would
		// only hold every key twice.
		mem := idem.NewMemory(idem.MemoryOptions{Now: opts.now})
		return idem.NewGuard(mem, idem.Options{CacheSize: -1, Now: opts.now}), nil, nil
	}
	client, err := firestore.NewClientWithDatabase(ctx, cfg.Project, cfg.FirestoreDB, opts.firestoreOptions...)
	if err != nil {
		return nil, nil, fmt.Errorf("firestore client: %w", err)
	}
	fo := opts.firestore
	fo.Collection, fo.Now = cfg.FirestoreColl, opts.now
	return idem.NewGuard(idem.NewFirestore(client, fo), idem.Options{Now: opts.now}), client, nil
}

// lateSettleTimeout bounds recording the late answer of a publish.
const lateSettleTimeout = 5 * time.Second

// watchLate settles, in the background, the claim of a delivery whose
// publish was answered 503 unanswered (#13.3): when the message lands
// after all, the claim is recorded published, so the sender's retry is
// answered duplicate on every instance; when the client reports that it
// failed, the claim is released so the retry publishes at once; when no
// answer comes (publish.ErrNoLateAnswer), the claim is left to its lease.
// The caller has abandoned the claim. Close waits for these goroutines,
// which end once the publisher is closed.
func (s *server) watchLate(c claim, p *publish.Pending, webhookID string) {
	s.late.Go(func() {
		id, err := p.Wait(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), lateSettleTimeout)
		defer cancel()
		switch {
		case err == nil:
			if rerr := c.Published(ctx, id); rerr != nil {
				s.log(slog.LevelWarn, "late publish not recorded", "webhook_id", webhookID, "message_id", id, "error", logText(rerr))
				return
			}
			s.log(slog.LevelInfo, "late publish recorded", "webhook_id", webhookID, "message_id", id)
		case errors.Is(err, publish.ErrNoLateAnswer):
			// Unknown: the lease keeps copies away until it runs out.
			s.log(slog.LevelWarn, "late publish unresolved; its claim runs out with its lease", "webhook_id", webhookID, "error", logText(err))
		default:
			_ = c.Release(ctx) // a failed release leaves the claim to its lease
		}
	})
}

// log writes a line about the server's background work.
func (s *server) log(level slog.Level, msg string, args ...any) {
	if s.logger != nil {
		s.logger.Log(context.Background(), level, msg, args...)
	}
}
