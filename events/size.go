package events

// Pub/Sub's size limits, as the pubsub/v2 client applies them: one publish
// request carries at most 10,000,000 bytes (pubsub.MaxPublishRequestBytes),
// of which the topic name takes 1 + its length varint + its length (a full
// topic name is at most 302 bytes: "projects/" + a 30-character project +
// "/topics/" + a 255-character topic) and the repeated messages field 5.
// The client refuses a larger message with "item size exceeds bundle byte
// limit" on every attempt.
const (
	// MaxMessageBytes is the largest message, as [MessageSize] counts it,
	// that Pub/Sub accepts on any topic: 10,000,000 - 305 - 5.
	MaxMessageBytes = 10_000_000 - (1 + 2 + 302) - 5

	// maxAttributeEntryBytes is the most one attribute adds to a message:
	// the map entry's tag and length and its key and value fields at
	// Pub/Sub's limits (MaxAttributeKeyBytes, MaxAttributeValueBytes).
	maxAttributeEntryBytes = 1 + 2 + (1 + 2 + MaxAttributeKeyBytes) + (1 + 2 + MaxAttributeValueBytes)

	// maxDataFraming is the data field's tag and length varint for data
	// under 2^28 bytes.
	maxDataFraming = 1 + 4

	// MaxBodyBytes is the largest body that always reaches a topic: its
	// quarantine message (the body verbatim plus at most MaxAttributes
	// attributes at Pub/Sub's limits) fits MaxMessageBytes, whatever the
	// body holds. A larger body could be neither published nor
	// quarantined, so the receiver must refuse it (413) before reading it;
	// GEMINI_MAX_BODY_BYTES is capped by it. A body within it whose
	// normalized event would not fit (the payload is carried verbatim and
	// user_metadata copied beside it) is quarantined with
	// [ReasonMessageTooLarge]. 9,870,785 bytes.
	MaxBodyBytes = MaxMessageBytes - maxDataFraming - MaxAttributes*maxAttributeEntryBytes
)

// MessageSize is the size of m encoded as a Pub/Sub PubsubMessage, which
// is how the client and the service count a message against their limits.
func MessageSize(m Message) int {
	n := 0
	if len(m.Data) > 0 {
		n += 1 + varintSize(len(m.Data)) + len(m.Data)
	}
	for k, v := range m.Attributes {
		e := 1 + varintSize(len(k)) + len(k) + 1 + varintSize(len(v)) + len(v)
		n += 1 + varintSize(e) + e
	}
	return n
}

// varintSize is the length of n as a protobuf varint.
func varintSize(n int) int {
	s := 1
	for n >= 0x80 {
		n >>= 7
		s++
	}
	return s
}

// fitsMessage reports whether e's family message is at most
// MaxMessageBytes. It builds the message only when a cheap upper bound
// (every string escaped at six bytes a byte, attributes at their limits)
// does not already fit, which is never the case for bodies of a few
// megabytes.
func fitsMessage(e *Event) bool {
	strs := len(e.ID) + len(e.Type) + len(e.Resource) + len(e.ResourceID) + len(e.OutputURI) +
		len(e.FileName) + len(e.SignatureScheme) + len(e.PayloadVersion) + len(e.SchemaVersion)
	if e.Error != nil {
		strs += len(e.Error.Code) + len(e.Error.Message)
	}
	const envelope = 4096 // field names, times, family, outcome, punctuation
	bound := maxDataFraming + len(e.Payload) + len(e.UserMetadata) + 6*strs + envelope + MaxAttributes*maxAttributeEntryBytes
	if bound <= MaxMessageBytes {
		return true
	}
	m, err := NewMessage(*e)
	return err == nil && MessageSize(m) <= MaxMessageBytes
}
