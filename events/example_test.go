package events_test

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/geminihook/geminihook/events"
)

// The receiver's side: normalize a verified body into the message for its
// family topic, or a quarantine message when the body is malformed.
func Example() {
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
		"data":{"id":"batches/123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`)
	meta := events.Meta{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ReceivedAt: time.Date(2026, 1, 22, 12, 0, 3, 0, time.UTC), Scheme: events.SchemeHMAC}

	n := events.Normalize(body, meta)
	if n.Quarantined() {
		fmt.Println("quarantine:", n.Reason)
		return
	}
	e, msg := n.Event, n.Message
	fmt.Println("topic:", events.Topic("gemini-", e.Family))
	fmt.Println(e.Outcome, e.ResourceID, e.OutputURI)
	for _, k := range []string{"event_type", "outcome", "resource", "ce-type", "ce-time"} {
		fmt.Printf("%s=%s\n", k, msg.Attributes[k])
	}
	// Output:
	// topic: gemini-batch
	// succeeded 123456 gs://my-bucket/results.jsonl
	// event_type=batch.succeeded
	// outcome=succeeded
	// resource=batches/123456
	// ce-type=com.google.gemini.batch.succeeded
	// ce-time=2026-01-22T12:00:00Z
}

// A downstream service decodes what its subscription received (with
// cloud.google.com/go/pubsub/v2: events.Message{Data: m.Data, Attributes: m.Attributes}).
// An authentic body that cannot be understood still yields a message: the
// body verbatim, for the quarantine topic, with the reason as an attribute.
func ExampleNormalize() {
	meta := events.Meta{ID: "msg_q1", ReceivedAt: time.Date(2026, 1, 22, 12, 0, 3, 0, time.UTC), Scheme: events.SchemeHMAC}
	n := events.Normalize([]byte(`{"type":"batch.succeeded","version":"v9"}`), meta)
	fmt.Println("topic:", events.Topic("gemini-", n.Family))
	fmt.Println("reason:", n.Reason, n.Message.Attributes[events.AttrQuarantineReason])
	fmt.Println("malformed:", errors.Is(n.Err, events.ErrMalformed))
	// Output:
	// topic: gemini-quarantine
	// reason: unsupported_version unsupported_version
	// malformed: true
}

func ExampleDecode() {
	received := events.Message{
		Data: []byte(`{"schema_version":"1","id":"msg_1","type":"batch.failed","family":"batch","outcome":"failed",` +
			`"resource":"batches/9","resource_id":"9","received_at":"2026-05-04T12:00:05Z",` +
			`"error":{"code":"3","message":"Invalid argument."},"signature_scheme":"hmac","payload_version":"v1",` +
			`"payload":{"type":"batch.failed","version":"v1","data":{"id":"batches/9","error_code":3,"error_message":"Invalid argument."}}}`),
	}
	e, err := events.Decode(received)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch e.Outcome {
	case events.OutcomeSucceeded:
		fmt.Println("fetch", e.OutputURI)
	case events.OutcomeFailed:
		fmt.Printf("%s failed: %s %s\n", e.Resource, e.Error.Code, e.Error.Message)
	}
	// Output:
	// batches/9 failed: 3 Invalid argument.
}

// A quarantined body can be parsed again, for example after an upgrade that
// understands it.
func ExampleDecodeQuarantine() {
	meta := events.Meta{ID: "msg_q", ReceivedAt: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC), Scheme: events.SchemeJWT}
	body := []byte(`{"type":"batch.succeeded","version":"v2","data":{"id":"b"}}`)
	_, err := events.Parse(body, meta)
	q := events.NewQuarantineMessage(body, meta, err)

	raw, m, reason, err := events.DecodeQuarantine(q)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.ID, m.Scheme, reason)
	_, err = events.Parse(raw, m)
	fmt.Println(err)
	// Output:
	// msg_q jwt unsupported_version
	// events: malformed payload: unsupported_version
}

func ExampleTypes() {
	for _, ti := range events.Types() {
		fmt.Println(ti.Type, ti.Family, ti.Outcome)
	}
	ti, ok := events.Lookup("batch.completed")
	fmt.Println("batch.completed ->", ti.Type, ok)
	fmt.Println(slices.Contains(events.Families(), events.FamilyQuarantine))
	// Output:
	// batch.succeeded batch succeeded
	// batch.cancelled batch cancelled
	// batch.expired batch expired
	// batch.failed batch failed
	// interaction.requires_action interaction requires_action
	// interaction.completed interaction succeeded
	// interaction.failed interaction failed
	// interaction.cancelled interaction cancelled
	// video.generated video succeeded
	// batch.completed -> batch.succeeded true
	// true
}
