package events

import (
	"encoding/json"
	"fmt"
	"io"
)

// MaxPushBytes bounds the push request body ReadPush reads: Pub/Sub's
// largest message (10 MB) base64-encoded, plus its envelope.
const MaxPushBytes = 14 << 20

// ReadPush reads the body of a Pub/Sub push request, the JSON envelope
// {"message": {"data": base64, "attributes": {...}, "messageId": ...},
// "subscription": ...} that a push subscription POSTs, and returns the
// message it carries, ready for Decode or DecodeQuarantine. The body is
// read up to MaxPushBytes.
//
// A push endpoint answers 2xx to acknowledge and anything else to have
// Pub/Sub deliver again; a message that does not decode will never decode,
// so acknowledge it (or route it to a dead-letter topic) rather than
// refusing it forever.
func ReadPush(r io.Reader) (Message, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxPushBytes+1))
	if err != nil {
		return Message{}, fmt.Errorf("events: read push request: %w", err)
	}
	if len(raw) > MaxPushBytes {
		return Message{}, fmt.Errorf("events: push request: %w: larger than %d bytes", ErrInvalidMessage, MaxPushBytes)
	}
	var env struct {
		Message *struct {
			Data       []byte            `json:"data"` // base64 in JSON
			Attributes map[string]string `json:"attributes"`
		} `json:"message"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Message == nil {
		return Message{}, fmt.Errorf("events: push request: %w: not a Pub/Sub push envelope", ErrInvalidMessage)
	}
	return Message{Data: env.Message.Data, Attributes: env.Message.Attributes}, nil
}
