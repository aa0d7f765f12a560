package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultCollection is the Firestore collection of delivery records
// (GEMINI_FIRESTORE_COLLECTION).
const DefaultCollection = "geminihook-deliveries"

// Record states, the values of the state field.
const (
	stateProcessing = "processing"
	statePublished  = "published"
)

// maxClaimRounds bounds how often Claim starts over after losing a race
// (a record deleted or taken over between its read and our write).
const maxClaimRounds = 4

// FirestoreOptions configures a Firestore store; the zero value of each
// field is its default.
type FirestoreOptions struct {
	Collection  string           // default DefaultCollection
	Lease       time.Duration    // default DefaultLease
	Retention   time.Duration    // expire_at = claim time + Retention; default DefaultRetention
	CallTimeout time.Duration    // bound on each Firestore call, client retries included; default DefaultCallTimeout
	Now         func() time.Time // default time.Now
}

// Firestore is a Store shared by every instance, one document per key in a
// Firestore (native mode) collection. The protocol is in the package
// documentation. The client chooses the project and database
// (firestore.NewClientWithDatabase); the caller closes it. The zero value
// is not usable; call NewFirestore.
type Firestore struct {
	coll                          *firestore.CollectionRef
	lease, retention, callTimeout time.Duration
	now                           func() time.Time

	beforeTakeover func() // test hook: runs between the read and the takeover write
}

// record is the stored document of one key.
type record struct {
	Key        string    `firestore:"key"`
	State      string    `firestore:"state"`
	Owner      string    `firestore:"owner"`
	ClaimedAt  time.Time `firestore:"claimed_at"`
	LeaseUntil time.Time `firestore:"lease_until"`
	ExpireAt   time.Time `firestore:"expire_at"`
	MessageID  string    `firestore:"message_id,omitempty"`
}

// NewFirestore returns a store writing to client's database.
func NewFirestore(client *firestore.Client, opts FirestoreOptions) *Firestore {
	if opts.Collection == "" {
		opts.Collection = DefaultCollection
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Firestore{coll: client.Collection(opts.Collection), lease: opts.Lease, retention: opts.Retention, callTimeout: opts.CallTimeout, now: opts.Now}
}

// DocID is the document id of key: the hex SHA-256 of the key. Keys are
// arbitrary strings (they may hold "/", which Firestore ids may not, and
// be longer than is comfortable); the hash is fixed-length and always a
// valid id, and the key itself is kept in the record's key field.
func DocID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Claim implements Store: create-if-absent; on ALREADY_EXISTS read the
// record and answer Duplicate, Busy, or take an expired lease over with a
// precondition on the record's update time.
func (f *Firestore) Claim(ctx context.Context, key string) (Outcome, Claim, error) {
	doc := f.coll.Doc(DocID(key))
	owner := newOwner()
	for range maxClaimRounds {
		now := f.now()
		c := Claim{Key: key, At: now, LeaseUntil: now.Add(f.lease), owner: owner}
		rec := record{Key: key, State: stateProcessing, Owner: owner, ClaimedAt: now, LeaseUntil: c.LeaseUntil, ExpireAt: now.Add(f.retention)}
		wr, err := bounded(ctx, f.callTimeout, func(ctx context.Context) (*firestore.WriteResult, error) { return doc.Create(ctx, rec) })
		if err == nil {
			c.version = wr.UpdateTime
			return Outcome{State: New}, c, nil
		}
		if status.Code(err) != codes.AlreadyExists {
			return Outcome{}, Claim{}, unavailable("create", err)
		}
		snap, err := bounded(ctx, f.callTimeout, doc.Get)
		if status.Code(err) == codes.NotFound {
			continue // released since our create: try again
		}
		if err != nil {
			return Outcome{}, Claim{}, unavailable("get", err)
		}
		var cur record
		if err := snap.DataTo(&cur); err != nil {
			return Outcome{}, Claim{}, unavailable("decode", err)
		}
		if cur.Key != key {
			return Outcome{}, Claim{}, unavailable("get", fmt.Errorf("document %s holds another key", doc.ID))
		}
		switch {
		case cur.State == statePublished:
			return Outcome{State: Duplicate, MessageID: cur.MessageID}, Claim{}, nil
		case cur.Owner == owner:
			// Our own write, retried by the client after its answer was
			// lost: the claim is ours.
			c.At, c.LeaseUntil, c.version = cur.ClaimedAt, cur.LeaseUntil, snap.UpdateTime
			return Outcome{State: New}, c, nil
		case now.Before(cur.LeaseUntil):
			return Outcome{State: Busy, RetryAfter: retryAfter(now, cur.LeaseUntil)}, Claim{}, nil
		}
		// The lease ran out: its holder died or gave up. Take it over only
		// if nobody wrote the record since we read it.
		if f.beforeTakeover != nil {
			f.beforeTakeover()
		}
		wr, err = bounded(ctx, f.callTimeout, func(ctx context.Context) (*firestore.WriteResult, error) {
			return doc.Update(ctx, []firestore.Update{
				{Path: "state", Value: stateProcessing},
				{Path: "owner", Value: owner},
				{Path: "claimed_at", Value: now},
				{Path: "lease_until", Value: c.LeaseUntil},
				{Path: "expire_at", Value: rec.ExpireAt},
			}, firestore.LastUpdateTime(snap.UpdateTime))
		})
		if err == nil {
			c.version = wr.UpdateTime
			return Outcome{State: New}, c, nil
		}
		if code := status.Code(err); code != codes.FailedPrecondition && code != codes.NotFound {
			return Outcome{}, Claim{}, unavailable("take over", err)
		}
		// Someone else wrote first (or our retried write did): read again.
	}
	return Outcome{State: Busy, RetryAfter: time.Second}, Claim{}, nil
}

// Published implements Store: it overwrites the record with state
// published, unconditionally. The message is on Pub/Sub whatever the
// record said, so even a record another instance took over must say so.
func (f *Firestore) Published(ctx context.Context, c Claim, messageID string) error {
	rec := record{Key: c.Key, State: statePublished, Owner: c.owner, ClaimedAt: c.At, LeaseUntil: c.LeaseUntil, ExpireAt: c.At.Add(f.retention), MessageID: messageID}
	doc := f.coll.Doc(DocID(c.Key))
	if _, err := bounded(ctx, f.callTimeout, func(ctx context.Context) (*firestore.WriteResult, error) { return doc.Set(ctx, rec) }); err != nil {
		return unavailable("set published", err)
	}
	return nil
}

// Release implements Store: it deletes the record only if its update time
// is still that of our claim; otherwise the key is no longer ours and the
// record stays.
func (f *Firestore) Release(ctx context.Context, c Claim) error {
	doc := f.coll.Doc(DocID(c.Key))
	_, err := bounded(ctx, f.callTimeout, func(ctx context.Context) (*firestore.WriteResult, error) {
		return doc.Delete(ctx, firestore.LastUpdateTime(c.version))
	})
	switch status.Code(err) {
	case codes.OK, codes.FailedPrecondition, codes.NotFound:
		return nil
	}
	return unavailable("delete", err)
}

// bounded runs fn under the store's per-call timeout.
func bounded[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(ctx)
}

// unavailable wraps a failed Firestore call: every failure leaves the
// delivery undecided, so the caller answers 503 and the sender retries.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: firestore %s (%s): %w", ErrUnavailable, op, status.Code(err), err)
}

// newOwner returns a random id naming one claim attempt.
var newOwner = func() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
