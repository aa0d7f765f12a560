package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that every input lands in exactly one of the three
// results (known type, other, malformed), that a non-malformed result
// always builds a message that decodes back equal, and that a malformed one
// round-trips through the quarantine message. The committed seed corpus is
// under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`))
	f.Add([]byte(`{"type":"x","data":{"error":{"code":1e400,"message":"\ud800"}},"user_metadata":{"k":"\u2028"}}`))
	f.Add([]byte(`{"type":"a","timestamp":"9999-12-31T23:59:59.999999999-23:59"}`))
	f.Add([]byte(`{"type":"batch.failed","TYPE":"batch.succeeded","data":{"id":1e400,"ID":2}}`))
	f.Add([]byte(`{"type":"x","user_metadata":{"k":1,"K":2,"k":3}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := Meta{ID: "msg_fuzz", ReceivedAt: receivedAt, Scheme: SchemeHMAC}
		e, err := Parse(body, m)
		if err != nil {
			me, ok := errors.AsType[*MalformedError](err)
			if !ok || !errors.Is(err, ErrMalformed) || me.Reason == "" {
				t.Fatalf("error %v is not a malformed result", err)
			}
			if !reflect.DeepEqual(e, Event{}) {
				t.Fatalf("malformed result with an event: %#v", e)
			}
			if utf8.Valid(body) && json.Valid(body) && !tooDeep(body, MaxDepth) && payloadStart(body) == '{' && me.Reason == ReasonInvalidJSON {
				t.Fatalf("a valid JSON object reported as %s", me.Reason)
			}
			q := NewQuarantineMessage(body, m, err)
			checkAttributes(t, q.Attributes)
			b, qm, reason, derr := DecodeQuarantine(q)
			if derr != nil || !bytes.Equal(b, body) || qm.ID != m.ID || !qm.ReceivedAt.Equal(m.ReceivedAt) || reason != me.Reason {
				t.Fatalf("DecodeQuarantine = %q, %#v, %q, %v", b, qm, reason, derr)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted a body that is not valid UTF-8 JSON")
		}
		info, known := Lookup(e.Type)
		switch {
		case known && e.Family != FamilyOther && e.Family == info.Family && e.Outcome == info.Outcome:
		case !known && e.Family == FamilyOther && e.Outcome == OutcomeUnknown:
		default:
			t.Fatalf("type %q (known %v) gave family %q outcome %q", e.Type, known, e.Family, e.Outcome)
		}
		msg, err := NewMessage(e)
		if err != nil {
			t.Fatalf("NewMessage of a parsed event: %v", err)
		}
		checkAttributes(t, msg.Attributes)
		if n := MessageSize(msg); n > MaxMessageBytes {
			t.Fatalf("accepted an event whose message is %d bytes", n)
		}
		back, err := Decode(msg)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("Decode(NewMessage(e)) != e\n got: %#v\nwant: %#v", back, e)
		}
	})
}

// FuzzEachMember checks the object walker behind the meta_ attributes
// against encoding/json: for every valid object, the members it yields,
// last one winning, are exactly what decoding into a map gives.
func FuzzEachMember(f *testing.F) {
	f.Add([]byte(`{"a":"1","b":{"c":[1,"]}"]},"a":"2"}`))
	f.Add([]byte(` { "k" : "v\"}" , "n" : -1.5e3 , "t" : true , "z" : null } `))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, obj []byte) {
		if payloadStart(obj) != '{' || !json.Valid(obj) {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(obj, &want); err != nil {
			t.Fatalf("a valid object did not decode: %v", err)
		}
		got := map[string]json.RawMessage{}
		eachMember(obj, func(key, val []byte) {
			var k string
			if err := json.Unmarshal(key, &k); err != nil {
				t.Fatalf("key %q is not a JSON string", key)
			}
			if !json.Valid(val) {
				t.Fatalf("value %q is not JSON", val)
			}
			got[k] = append(json.RawMessage(nil), val...)
		})
		if len(got) != len(want) {
			t.Fatalf("walker saw %d distinct keys, encoding/json %d", len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
				t.Fatalf("key %q: walker %q, encoding/json %q", k, got[k], v)
			}
		}
	})
}
