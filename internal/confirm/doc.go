// Package confirm checks a webhook delivery against the Gemini API before it
// is published: it reads the batch, the video-generation operation or the
// interaction that the event's data.id names, with the official Go SDK
// (google.golang.org/genai), and reports whether the API agrees with the
// event.
//
// # Resource names
//
// Google does not document whether data.id is a bare id ("batch_123456", its
// only example) or a resource name. [ResourceName] accepts both:
//
//	family       data.id                          API resource read
//	batch        abc | batches/abc                batches/abc            (Batches.Get)
//	interaction  abc | interactions/abc           interactions/abc       (Interactions.Get, id abc)
//	video        models/m/operations/abc          models/m/operations/abc (Operations.GetVideosOperation)
//	video        operations/abc | abc             operations/abc
//
// Assumed where Google is silent: a bare id is the last segment of the
// resource name; a bare video id is the operation's id under the generic
// operations/ collection, since Google's video operations are named
// models/{model}/operations/{id} and the delivery carries no model. If that
// assumption is wrong the API answers 404 and the event is disputed
// (quarantined, never lost). Every segment must consist of RFC 3986
// unreserved characters and not start with "."; anything else is disputed
// with reason [ReasonInvalidID] without a call, because the SDK puts names
// into URL paths unescaped.
//
// # States
//
// An event is confirmed when the API reports the state its type claims; the
// states are the SDK's enums (a batch's BATCH_STATE_* on the wire becomes
// genai.JobState in the SDK):
//
//	event type                          API state
//	batch.succeeded (batch.completed)   JOB_STATE_SUCCEEDED
//	batch.failed                        JOB_STATE_FAILED
//	batch.cancelled                     JOB_STATE_CANCELLED
//	batch.expired                       JOB_STATE_EXPIRED
//	interaction.completed               completed
//	interaction.failed                  failed
//	interaction.cancelled               cancelled
//	interaction.requires_action         requires_action
//	video.generated                     SUCCEEDED (operation done, no error)
//
// A video operation has no state enum; its state is reported as
// [VideoRunning] (not done), [VideoFailed] (done with an error) or
// [VideoSucceeded] (done without one). Any other state, or no such resource,
// disputes the event. Interaction states incomplete and budget_exceeded do
// not confirm interaction.failed: Google does not say which event they fire.
//
// The output location and error are taken from the API: a batch's
// Dest.FileName (the SDK's name for the API's responsesFile), the first
// generated video's URI, an interaction's first entry of errors, an
// operation's error. SDK v1.77.0 does not read a Gemini API batch's error, so
// a batch's Result.Error is nil; the event keeps the one in its body.
//
// # Failures
//
// Confirm retries an unreachable API, a timed-out attempt, 408, 429 and 5xx
// with exponential backoff and jitter while the context's deadline leaves
// room for another attempt, then returns an error wrapping [ErrUnavailable]
// (the function answers 503 with Retry-After). An API key the API refuses
// (401, 403, or 400 with reason API_KEY_INVALID) returns [ErrKeyRefused]: a
// configuration problem, not retried. A 404 (or 400) disputes an event only
// when the API wrote it (Google's error envelope, or the Interactions API's
// declared error schema); one from anything else, such as a proxy or a wrong
// base URL, is ErrUnavailable, so a misconfiguration never quarantines
// authentic deliveries. Errors and Result.Detail never contain
// the key: they are built from the API's status and message, with the key
// replaced by "[redacted]" should the API ever echo it.
//
// # Cost
//
// A resource seen in a terminal state (every state in the table except
// requires_action, which changes once the caller acts) is remembered in a
// bounded LRU cache, so duplicates cost no call; concurrent confirmations of
// one resource share one call; calls in flight are bounded by
// [Options].MaxConcurrent.
package confirm
