package main

import (
	"bytes"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/events"
)

// router is the publishing side of the contract, without the function's
// own work: with --contract the minimal pipeline publishes every delivery
// to its family's topic (one publisher per family, as geminihook has) with
// the schema's attributes (the keys and value sizes of events.NewMessage's
// for an HMAC delivery), found by two substring scans of the body instead
// of parsing it. No normalization, no event JSON (the data is the body),
// no dedupe, no log line. It is the floor of CPU and Pub/Sub cost that the
// contract (events/SCHEMA.md, the topic layout) sets for any
// implementation; the gap between it and the function is the function's
// own machinery.
type router struct {
	topics map[events.Family]*pubsub.Publisher
}

// newRouter returns a router publishing to prefix+family topics.
func newRouter(client *pubsub.Client, prefix string) *router {
	r := &router{topics: map[events.Family]*pubsub.Publisher{}}
	for _, f := range events.Families() {
		r.topics[f] = newPublisher(client, events.Topic(prefix, f))
	}
	return r
}

// stop flushes and stops every publisher.
func (r *router) stop() {
	for _, p := range r.topics {
		p.Stop()
	}
}

// message returns the publisher and message for a verified delivery.
func (r *router) message(id string, body []byte, now time.Time) (*pubsub.Publisher, *pubsub.Message) {
	typ := stringAfter(body, `"type":"`)
	info, _ := events.Lookup(typ)
	resource := stringAfter(body, `"id":"`)
	resourceID := resource[strings.LastIndexByte(resource, '/')+1:]
	return r.topics[info.Family], &pubsub.Message{Data: body, Attributes: map[string]string{
		events.AttrWebhookID:         id,
		events.AttrEventType:         typ,
		events.AttrEventFamily:       string(info.Family),
		events.AttrOutcome:           string(info.Outcome),
		events.AttrResource:          resource,
		events.AttrResourceID:        resourceID,
		events.AttrSignatureScheme:   "hmac",
		events.AttrIdempotencyKey:    "hmac:" + id,
		events.AttrPayloadVersion:    "v1",
		events.AttrSchemaVersion:     events.SchemaVersion,
		events.AttrCESpecVersion:     events.CloudEventsSpecVersion,
		events.AttrCEID:              id,
		events.AttrCEType:            events.CloudEventsTypePrefix + typ,
		events.AttrCESource:          events.CloudEventsSource,
		events.AttrCETime:            now.UTC().Format(time.RFC3339Nano),
		events.AttrCESubject:         resource,
		events.AttrCEDataContentType: "application/json",
		events.AttrContentType:       "application/json",
	}}
}

// stringAfter returns the bytes after the first marker up to the next
// quote, as a string ("" if there is none): enough for the benchmark's
// bodies, whose values hold no escapes.
func stringAfter(body []byte, marker string) string {
	i := bytes.Index(body, []byte(marker))
	if i < 0 {
		return ""
	}
	rest := body[i+len(marker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
