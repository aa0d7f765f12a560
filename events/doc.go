// Package events turns a verified Gemini API webhook body into the normalized
// completion event that geminihook publishes to Pub/Sub, and turns a received
// Pub/Sub message back into that event.
//
// The package is the product's public message contract. It is pure: it uses
// only the standard library, reads no environment, talks to no service and
// logs nothing. Pub/Sub messages appear here in plain types ([Message]); the
// caller adapts them to its client library.
//
// Producer side (the webhook receiver), after the signature was verified:
//
//	meta := events.Meta{ID: webhookID, ReceivedAt: now, Scheme: events.SchemeHMAC}
//	n := events.Normalize(body, meta)
//	// publish n.Message to events.Topic(prefix, n.Family); when
//	// n.Quarantined(), n.Reason says why (the quarantine_reason attribute)
//
// [Parse], [NewMessage] and [NewQuarantineMessage] are the steps Normalize
// runs, for callers that need one of them alone.
//
// Consumer side (any downstream Go service):
//
//	e, err := events.Decode(events.Message{Data: m.Data, Attributes: m.Attributes})
//	switch e.Outcome {
//	case events.OutcomeSucceeded: // ...
//	}
//
// The JSON form of [Event] is versioned by [SchemaVersion] and described by
// event.schema.json and SCHEMA.md in this directory. Fields may be added
// within a schema version; removing or changing the meaning of a field bumps
// it.
package events
