package events

import (
	"errors"
	"strings"
	"testing"
)

// TestMaxBodyBytesDerivation checks the arithmetic behind MaxBodyBytes: a
// message with a MaxBodyBytes body and the most attributes Pub/Sub accepts,
// each at its key and value limits, is exactly MaxMessageBytes.
func TestMaxBodyBytesDerivation(t *testing.T) {
	m := Message{Data: make([]byte, MaxBodyBytes), Attributes: map[string]string{}}
	for i := range MaxAttributes {
		k := strings.Repeat("k", MaxAttributeKeyBytes-3) + string(rune('a'+i/26)) + string(rune('a'+i%26)) + "z"
		m.Attributes[k] = strings.Repeat("v", MaxAttributeValueBytes)
	}
	if len(m.Attributes) != MaxAttributes {
		t.Fatalf("%d attributes", len(m.Attributes))
	}
	if got := MessageSize(m); got != MaxMessageBytes {
		t.Errorf("worst-case quarantine message of a MaxBodyBytes body: %d bytes, want MaxMessageBytes %d", got, MaxMessageBytes)
	}
	if MaxBodyBytes != 9_870_785 {
		t.Errorf("MaxBodyBytes = %d; update SCHEMA.md and README if the derivation changed", MaxBodyBytes)
	}
}

// TestLargestBodyIsQuarantinable parses a MaxBodyBytes body that is valid
// but too large as an event (user_metadata copied beside the payload) and
// checks that it is malformed with message_too_large and that its
// quarantine message, with the longest webhook id, fits.
func TestLargestBodyIsQuarantinable(t *testing.T) {
	head := `{"type":"batch.succeeded","data":{"id":"batches/1"},"user_metadata":{"blob":"`
	tail := `"}}`
	body := []byte(head + strings.Repeat("x", MaxBodyBytes-len(head)-len(tail)) + tail)
	if len(body) != MaxBodyBytes {
		t.Fatalf("body of %d bytes", len(body))
	}
	meta := Meta{ID: strings.Repeat("i", 4096), ReceivedAt: receivedAt, Scheme: SchemeHMAC}
	_, err := Parse(body, meta)
	me, ok := errors.AsType[*MalformedError](err)
	if !ok || me.Reason != ReasonMessageTooLarge {
		t.Fatalf("Parse: %v, want %s", err, ReasonMessageTooLarge)
	}
	q := NewQuarantineMessage(body, meta, err)
	if n := MessageSize(q); n > MaxMessageBytes {
		t.Errorf("quarantine message of %d bytes exceeds MaxMessageBytes %d", n, MaxMessageBytes)
	}
}

// TestMessageSizeBoundary finds bodies on either side of the limit: the
// event of the larger one does not fit and is quarantined, the smaller one
// is published with a message that fits. Both go through the exact check
// behind fitsMessage's cheap bound.
func TestMessageSizeBoundary(t *testing.T) {
	build := func(n int) []byte {
		head := `{"type":"batch.succeeded","data":{"id":"batches/1"},"user_metadata":{"blob":"`
		return []byte(head + strings.Repeat("<", n) + `"}}`) // "<" kept verbatim in payload and metadata
	}
	size := func(n int) (int, error) {
		e, err := Parse(build(n), testMeta)
		if err != nil {
			return 0, err
		}
		m, err := NewMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		return MessageSize(m), nil
	}
	// Each byte of the blob adds two to the message (payload and
	// user_metadata): step from a body just under the limit to the edge.
	n0 := MaxMessageBytes/2 - 3000
	s0, err := size(n0)
	if err != nil {
		t.Fatalf("body of %d bytes: %v", n0, err)
	}
	lo := n0 + (MaxMessageBytes-s0)/2
	got, err := size(lo)
	if err != nil || got > MaxMessageBytes || got < MaxMessageBytes-8 {
		t.Errorf("largest accepted event: %d bytes, %v; want within a few bytes under %d", got, err, MaxMessageBytes)
	}
	if _, err := size(lo + 1); !errors.Is(err, ErrMalformed) || !strings.HasSuffix(err.Error(), ReasonMessageTooLarge) {
		t.Errorf("one byte more: %v, want %s", err, ReasonMessageTooLarge)
	}
}
