package events

import (
	"encoding/json"
	"testing"
)

// benchBody is a typical delivery of about 300 bytes.
var benchBody = []byte(`{"type":"batch.failed","version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":"batches/k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f","error_code":"INVALID_ARGUMENT","error_message":"Input file gs://my-bucket/in.jsonl line 7: unknown model."},"user_metadata":{"job":"nightly-eval","tenant":"acme"}}`)

// BenchmarkParseAndMessage measures the receiver's whole events step: Parse
// plus NewMessage.
func BenchmarkParseAndMessage(b *testing.B) {
	m := Meta{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ReceivedAt: receivedAt, Scheme: SchemeHMAC}
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := Parse(benchBody, m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := NewMessage(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalMapFloor is the baseline: decoding the same body into a
// map[string]any, which does less (no normalization, no output).
func BenchmarkUnmarshalMapFloor(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(benchBody, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse and BenchmarkNewMessage split the first benchmark.
func BenchmarkParse(b *testing.B) {
	m := Meta{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ReceivedAt: receivedAt, Scheme: SchemeHMAC}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchBody, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewMessage(b *testing.B) {
	e, err := Parse(benchBody, Meta{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ReceivedAt: receivedAt, Scheme: SchemeHMAC})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewMessage(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode measures the consumer side.
func BenchmarkDecode(b *testing.B) {
	e, err := Parse(benchBody, Meta{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", ReceivedAt: receivedAt, Scheme: SchemeHMAC})
	if err != nil {
		b.Fatal(err)
	}
	msg, err := NewMessage(e)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}
