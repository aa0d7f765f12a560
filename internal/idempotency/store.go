package idempotency

import (
	"context"
	"errors"
	"time"
)

// Defaults shared by the stores.
const (
	// DefaultLease is how long a claim keeps other instances away from a
	// key. It must outlive one publish attempt (the function's publish
	// timeout is about 5 s) plus the claim and settle writes (each bounded
	// by DefaultCallTimeout), with room for a CPU-starved instance; a dead
	// instance blocks its keys for at most this long, far below the spacing
	// of the sender's retries.
	DefaultLease = 30 * time.Second
	// DefaultRetention is how long a record is kept after its claim: the
	// Firestore TTL policy deletes it once expire_at (claim time +
	// DefaultRetention) has passed. 72 h covers the sender's 24 h of
	// retries three times over, and TTL deletion can lag by a day.
	DefaultRetention = 72 * time.Hour
	// DefaultCallTimeout bounds each call a store makes, retries included.
	DefaultCallTimeout = 2 * time.Second
	// releasedRetryAfter is the wait suggested to copies that waited on
	// an attempt which released its claim: the key is free again.
	releasedRetryAfter = time.Second
)

// ErrUnavailable means the store could not answer (unreachable, overloaded,
// timed out, refused by permissions or a missing database). Nothing was
// decided: the caller answers 503 with Retry-After and the sender retries.
var ErrUnavailable = errors.New("idempotency store unavailable")

// Store is the shared record of keys behind a Guard. Memory and Firestore
// implement it; every method is safe for concurrent use.
type Store interface {
	// Claim takes key for the caller (New, with a Claim to settle), or
	// reports that it was published (Duplicate) or is held by a live lease
	// (Busy). Errors wrap ErrUnavailable.
	Claim(ctx context.Context, key string) (Outcome, Claim, error)
	// Published records that the message for c.Key is on Pub/Sub, whether
	// or not c still holds the key: a late landing after Release or after
	// the lease ran out is recorded too. Errors wrap ErrUnavailable.
	Published(ctx context.Context, c Claim, messageID string) error
	// Release gives the key up so that a retry can claim it at once, if c
	// still holds it; otherwise it does nothing. Errors wrap ErrUnavailable.
	Release(ctx context.Context, c Claim) error
}

// Claim is the proof that a caller holds a key, returned by Store.Claim.
type Claim struct {
	Key        string
	At         time.Time // when the claim was taken, by the store's clock
	LeaseUntil time.Time // when another caller may take the key over

	owner   string    // random id written into the record
	version time.Time // Firestore: the record's update time after the claim
	hash    keyHash   // Memory: the key's digest, computed once by its Claim
	hashed  bool      // hash is set
}

// digest returns the digest of c's key, computing it only if c's Claim did
// not.
func (c Claim) digest() keyHash {
	if c.hashed {
		return c.hash
	}
	return hashKey(c.Key)
}

// retryAfter is the wait to suggest until until, in whole seconds, at least one.
func retryAfter(now, until time.Time) time.Duration {
	d := until.Sub(now)
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
