// Package idempotency decides, once per authentic delivery, whether to
// publish it: each key (webhook id, or the key derived from a JWT) is
// published once across every instance of the function, for as long as the
// sender retries.
//
// A Guard sits in front of a shared Store (Firestore across instances,
// Memory for one process). The function calls, per delivery:
//
//	out, ticket, err := guard.Begin(ctx, key)
//	switch {
//	case err != nil:                 // wraps ErrUnavailable: 503 + Retry-After
//	case out.State == Duplicate:     // 200 duplicate (out.MessageID)
//	case out.State == Busy:          // 503, Retry-After: out.RetryAfter
//	default:                         // New: publish, then
//		ticket.Published(ctx, id)      // on success (also for a late landing)
//		ticket.Release(ctx)            // publish certainly failed: retry may proceed
//		ticket.Abandon()               // publish timed out and may still land
//	}
//
// # Protocol (Firestore)
//
// One document per key, id = hex SHA-256 of the key (DocID), fields key,
// state (processing|published), owner (random per claim), claimed_at,
// lease_until, expire_at (claim time + 72 h, the TTL policy's field) and
// message_id.
//
//  1. Claim: Create (create-if-absent) {state: processing, lease_until:
//     now+30s}. Success → New. One write.
//  2. ALREADY_EXISTS → Get. published → Duplicate (with message_id). Our
//     own owner (the client retried our create) → New. lease_until in the
//     future → Busy, Retry-After = time left. Lease over → Update
//     {processing, new owner and lease} with precondition update_time ==
//     the time we read; FAILED_PRECONDITION (someone wrote in between) →
//     read again (at most 4 rounds, then Busy).
//  3. Published: Set {state: published, message_id} unconditionally, also
//     after a release or a lost lease: the message is out, the record must
//     say so. One write.
//  4. Release: Delete with precondition update_time == our claim's; if
//     someone else holds the record now, it stays.
//  5. Abandon: nothing; the lease runs out.
//  6. Any failed call (Unavailable, DeadlineExceeded, ResourceExhausted,
//     Internal, PermissionDenied…) → ErrUnavailable; the delivery is
//     answered 503 and nothing is recorded as published.
//
// Two instances never both publish while a lease is live: creates of one
// document serialize in Firestore (one wins, the other reads); a takeover
// is a compare-and-swap on the update time, so of two instances that read
// the same expired record, one write succeeds and the other fails its
// precondition and reads the new live lease. The remaining window is a
// publish that outlives its lease (30 s against a 5 s publish timeout),
// and a publish answered 503 that lands after Release; both are bounded,
// and Published records them so later copies are duplicates.
//
//	Instance A                 Firestore                  Instance B
//	  | Create(processing,lease) |                             |
//	  |------------------------->| ok (update_time t1)         |
//	  |                          |   Create(processing,lease)  |
//	  |                          |<----------------------------|
//	  |                          |-- ALREADY_EXISTS ---------->|
//	  |                          |<----------- Get ------------|
//	  |                          |-- processing, lease live -->| 503 Retry-After
//	  | publish to Pub/Sub ...   |                             |
//	  | Set(published, msg id)   |                             |
//	  |------------------------->| ok                          |
//	  | 200                      |<-- Create … ALREADY_EXISTS, Get
//	  |                          |-- published, msg id ------->| 200 duplicate
//
//	(A dies after its Create: B's Get finds lease_until passed → Update with
//	 LastUpdateTime(t1) → exactly one of B, C… succeeds → it publishes.)
//
// PROTOCOL.md beside this file holds the same as a Mermaid diagram.
//
// # Store calls per delivery
//
// A new delivery costs two writes (claim, published): the claim must be
// written before the publish (or two instances could both publish) and the
// outcome after it (or a claim could not tell a dead holder from a
// finished one, and a retry after the lease would publish again). A copy
// of a published key costs one failed create and one read, and none at all
// when this instance settled it within the Guard's cache TTL. A release
// costs one delete.
//
// # Lease and retention
//
// The lease (DefaultLease, 30 s) outlives one publish attempt (about 5 s)
// and the claim and settle writes (each bounded by DefaultCallTimeout,
// 2 s) several times over, so a slow instance does not lose its key to a
// takeover; a dead instance blocks its keys for at most 30 s, much less
// than the sender's retry spacing. expire_at = claim time + 72 h
// (DefaultRetention) covers Gemini's 24 h of retries with room for the TTL
// policy's deletion lag.
//
// # Memory store
//
// Memory follows the same protocol within one process
// (GEMINI_DEDUPE=memory, local development, tests): leases, Duplicate with
// the message id, late landings recorded, Release only by the claim's
// owner. Its bounds (Capacity, Retention) and its heap per key are on its
// doc comment.
//
// # Local coalescing
//
// Concurrent copies of one key on one instance make one store call: the
// first asks the store, the rest wait for that attempt and share its
// outcome (Duplicate when it published, Busy at once when it failed or was
// abandoned, its error when the store failed). So copies wait at most one
// publish in total and never start publishes of their own in turn.
package idempotency
