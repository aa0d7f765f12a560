package publish

import "google.golang.org/protobuf/encoding/protowire"

// requestBytes is Pub/Sub's limit on one publish request
// (pubsub.MaxPublishRequestBytes): the topic name, the repeated messages
// field and the messages themselves.
const requestBytes = 10_000_000

// MaxMessageBytes is the largest message, as events.MessageSize counts it, that
// a publish request to topic (its full name, projects/P/topics/T) can
// carry alone: what the pubsub/v2 client's bundler allows,
// MaxPublishRequestBytes less the topic field and 5 bytes for the
// repeated field's framing. Larger messages fail with "item size exceeds
// bundle byte limit" on every attempt.
func MaxMessageBytes(topic string) int {
	return requestBytes - (1 + protowire.SizeVarint(uint64(len(topic))) + len(topic)) - 5
}
