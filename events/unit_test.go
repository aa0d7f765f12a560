package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testMeta = Meta{ID: "msg_unit", IdempotencyKey: "hmac:msg_unit", ReceivedAt: receivedAt, Scheme: SchemeHMAC}

func mustParse(t *testing.T, body string, m Meta) Event {
	t.Helper()
	e, err := Parse([]byte(body), m)
	if err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return e
}

func roundTrip(t *testing.T, e Event) Message {
	t.Helper()
	m, err := NewMessage(e)
	if err != nil {
		t.Fatalf("NewMessage: %v", err)
	}
	checkAttributes(t, m.Attributes)
	back, err := Decode(m)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("Decode(NewMessage(e)) != e\n got: %#v\nwant: %#v", back, e)
	}
	return m
}

func TestAttributeLimits(t *testing.T) {
	// Cuts land inside 2-, 3- and 4-byte runes: 1023 ASCII bytes, then the rune.
	hugeID := strings.Repeat("i", 1023) + "é" + strings.Repeat("x", 4000)
	hugeResource := "batches/" + strings.Repeat("r", 1015) + "日" + strings.Repeat("本", 500)
	hugeType := "batch." + strings.Repeat("t", 1017) + "🎬" + strings.Repeat("y", 3000)
	var um strings.Builder
	um.WriteString(`{`)
	for i := range 200 {
		fmt.Fprintf(&um, `"key%03d":"%s",`, i, strings.Repeat("v", 2000))
	}
	um.WriteString(`"last":"x"}`)
	body := fmt.Sprintf(`{"type":%q,"version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":%q},"user_metadata":%s}`, hugeType, hugeResource, um.String())

	m := Meta{ID: hugeID, ReceivedAt: receivedAt, Scheme: SchemeJWT}
	e := mustParse(t, body, m)
	if e.Family != FamilyOther || e.ID != hugeID || e.Resource != hugeResource {
		t.Fatalf("event lost data: family %q, id %d bytes, resource %d bytes", e.Family, len(e.ID), len(e.Resource))
	}
	msg := roundTrip(t, e)
	a := msg.Attributes
	want := map[string]string{
		AttrWebhookID: strings.Repeat("i", 1023),
		AttrCEID:      strings.Repeat("i", 1023),
		AttrResource:  "batches/" + strings.Repeat("r", 1015),
		AttrCESubject: "batches/" + strings.Repeat("r", 1015),
		AttrEventType: "batch." + strings.Repeat("t", 1017),
		// The ce-type prefix moves the cut: the 4-byte rune starts at 1041.
		AttrCEType:     (CloudEventsTypePrefix + "batch." + strings.Repeat("t", 1017))[:MaxAttributeValueBytes],
		AttrResourceID: strings.Repeat("r", 1015) + "日" + strings.Repeat("本", 2), // 1015+3+6 = 1024
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("attribute %s: got %d bytes %q..., want %d bytes", k, len(a[k]), a[k][:min(20, len(a[k]))], len(v))
		}
	}
	metaAttrs := 0
	for k, v := range a {
		if strings.HasPrefix(k, AttrMetadataPrefix) {
			metaAttrs++
			if len(v) != MaxAttributeValueBytes {
				t.Errorf("%s: %d bytes, want truncation to %d", k, len(v), MaxAttributeValueBytes)
			}
		}
	}
	if metaAttrs != MaxMetadataAttributes || a["meta_key000"] == "" || a["meta_key016"] != "" {
		t.Errorf("%d meta_ attributes (key000 %q, key016 %q), want the first %d keys", metaAttrs, a["meta_key000"][:3], a["meta_key016"], MaxMetadataAttributes)
	}

	q := NewQuarantineMessage([]byte("x"), m, &MalformedError{Reason: ReasonInvalidJSON})
	checkAttributes(t, q.Attributes)
	if q.Attributes[AttrWebhookID] != strings.Repeat("i", 1023) {
		t.Errorf("quarantine webhook_id not truncated at the rune boundary")
	}
}

func TestSetAttrBounds(t *testing.T) {
	a := map[string]string{}
	for i := range MaxAttributes + 10 {
		setAttr(a, fmt.Sprintf("k%d", i), "v")
	}
	if len(a) != MaxAttributes {
		t.Errorf("%d attributes, want the cap %d", len(a), MaxAttributes)
	}
	a = map[string]string{}
	setAttr(a, "empty", "")
	setAttr(a, "bad", "a\xffb")
	if _, ok := a["empty"]; ok {
		t.Error("empty value was set")
	}
	if a["bad"] != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 kept: %q", a["bad"])
	}
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"aé", 2, "a"},
		{"é", 1, ""},
		{"日本", 5, "日"},
		{"🎬🎬", 7, "🎬"},
	} {
		if got := truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestMetadataAttributes(t *testing.T) {
	e := mustParse(t, `{"type":"batch.succeeded","data":{"id":"b"},"user_metadata":{"ok":"1","Ok-2":"2","bad.key":"x","":"x","num":1,"obj":{"a":"b"},"empty":"","esc":"a\"b\u00e9","`+strings.Repeat("k", 65)+`":"long"}}`, testMeta)
	m := roundTrip(t, e)
	got := map[string]string{}
	for k, v := range m.Attributes {
		if strings.HasPrefix(k, AttrMetadataPrefix) {
			got[k] = v
		}
	}
	want := map[string]string{"meta_ok": "1", "meta_Ok-2": "2", "meta_esc": `a"bé`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("meta attributes %v, want %v", got, want)
	}
}

func TestDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	// The top-level object is depth 1 and data is depth 2.
	atLimit := `{"type":"batch.succeeded","data":{"id":"b","x":` + nest(MaxDepth-2) + `}}`
	e := mustParse(t, atLimit, testMeta)
	roundTrip(t, e)

	overLimit := `{"type":"batch.succeeded","data":{"id":"b","x":` + nest(MaxDepth-1) + `}}`
	if _, err := Parse([]byte(overLimit), testMeta); !isReason(err, ReasonTooDeep) {
		t.Errorf("depth %d: %v, want %s", MaxDepth+1, err, ReasonTooDeep)
	}
	// Brackets and escaped quotes inside strings do not count.
	inString := `{"type":"batch.succeeded","data":{"id":"b\"` + strings.Repeat("[{", 100) + `\\"}}`
	e = mustParse(t, inString, testMeta)
	if e.Resource != `b"`+strings.Repeat("[{", 100)+`\` {
		t.Errorf("resource %q", e.Resource)
	}
}

// TestDecoderDepthLimit records the behaviour MaxDepth relies on being
// stricter than: encoding/json rejects nesting beyond 10000 with an error, not
// a crash, so even without MaxDepth such a body would be malformed.
func TestDecoderDepthLimit(t *testing.T) {
	deep := `{"type":"x","data":{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`
	var w wireBody
	err := json.Unmarshal([]byte(deep), &w)
	if _, ok := errors.AsType[*json.SyntaxError](err); !ok {
		t.Errorf("encoding/json on 10003 levels: %v, want a *json.SyntaxError", err)
	}
	if _, err := Parse([]byte(deep), testMeta); !isReason(err, ReasonTooDeep) {
		t.Errorf("Parse: %v, want %s", err, ReasonTooDeep)
	}
}

func isReason(err error, reason string) bool {
	me, ok := errors.AsType[*MalformedError](err)
	return ok && me.Reason == reason && errors.Is(err, ErrMalformed)
}

func TestParseLeniency(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, e Event)
	}{
		{"offset timestamp becomes UTC", `{"type":"batch.succeeded","timestamp":"2026-05-04T14:00:00+02:00"}`, func(t *testing.T, e Event) {
			if !e.OccurredAt.Equal(time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)) || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %v", e.OccurredAt)
			}
		}},
		{"timestamp past year 9999 in UTC is dropped", `{"type":"batch.succeeded","timestamp":"9999-12-31T23:00:00-05:00"}`, func(t *testing.T, e Event) {
			if !e.OccurredAt.IsZero() {
				t.Errorf("occurred_at %v", e.OccurredAt)
			}
		}},
		{"timestamp before year 0 in UTC is dropped", `{"type":"batch.succeeded","timestamp":"0000-01-01T00:30:00+01:00"}`, func(t *testing.T, e Event) {
			if !e.OccurredAt.IsZero() {
				t.Errorf("occurred_at %v", e.OccurredAt)
			}
		}},
		{"escaped timestamp", `{"type":"batch.succeeded","timestamp":"2026-05-04T12:00:00\u005a"}`, func(t *testing.T, e Event) {
			if e.OccurredAt.IsZero() {
				t.Error("escaped timestamp not read")
			}
		}},
		{"escaped type", `{"type":"batch.\u0073ucceeded"}`, func(t *testing.T, e Event) {
			if e.Type != "batch.succeeded" || e.Outcome != OutcomeSucceeded {
				t.Errorf("type %q outcome %q", e.Type, e.Outcome)
			}
		}},
		{"keys inside user_metadata may differ only in case", `{"type":"x.y","user_metadata":{"Type":"a","type":"b","TYPE":"c"}}`, func(t *testing.T, e Event) {
			if string(e.UserMetadata) != `{"Type":"a","type":"b","TYPE":"c"}` {
				t.Errorf("user_metadata %s", e.UserMetadata)
			}
		}},
		{"output_file_uri wins over video_uri", `{"type":"video.generated","data":{"video_uri":"gs://v","output_file_uri":"gs://o"}}`, func(t *testing.T, e Event) {
			if e.OutputURI != "gs://o" {
				t.Errorf("output_uri %q", e.OutputURI)
			}
		}},
		{"flat error parts win, nested fill the gaps", `{"type":"batch.failed","data":{"error_code":"FLAT","error":{"code":1,"message":"nested"}}}`, func(t *testing.T, e Event) {
			if e.Error == nil || *e.Error != (Error{Code: "FLAT", Message: "nested"}) {
				t.Errorf("error %+v", e.Error)
			}
		}},
		{"error of unexpected types is ignored", `{"type":"batch.failed","data":{"error_code":true,"error_message":7,"error":"boom"}}`, func(t *testing.T, e Event) {
			if e.Error != nil {
				t.Errorf("error %+v", e.Error)
			}
		}},
		{"negative numeric error code", `{"type":"batch.failed","data":{"error_code":-3.5e2}}`, func(t *testing.T, e Event) {
			if e.Error == nil || e.Error.Code != "-3.5e2" {
				t.Errorf("error %+v", e.Error)
			}
		}},
		{"id of unexpected type is ignored", `{"type":"batch.failed","data":{"id":{"name":"x"}}}`, func(t *testing.T, e Event) {
			if e.Resource != "" || e.ResourceID != "" {
				t.Errorf("resource %q", e.Resource)
			}
		}},
		{"resource name with a trailing slash", `{"type":"batch.failed","data":{"id":"batches/"}}`, func(t *testing.T, e Event) {
			if e.Resource != "batches/" || e.ResourceID != "" {
				t.Errorf("resource %q id %q", e.Resource, e.ResourceID)
			}
		}},
		{"surrounding whitespace is trimmed from payload", " \r\n\t{\"type\":\"x.y\" }\n\n", func(t *testing.T, e Event) {
			if string(e.Payload) != `{"type":"x.y" }` {
				t.Errorf("payload %q", e.Payload)
			}
		}},
		{"user_metadata is compacted", `{"type":"x.y","user_metadata":{ "a" : [ 1 , 2 ] , "h":"<&>" }}`, func(t *testing.T, e Event) {
			if string(e.UserMetadata) != `{"a":[1,2],"h":"<&>"}` {
				t.Errorf("user_metadata %s", e.UserMetadata)
			}
		}},
		{"empty user_metadata object is kept", `{"type":"x.y","user_metadata":{}}`, func(t *testing.T, e Event) {
			if string(e.UserMetadata) != `{}` {
				t.Errorf("user_metadata %s", e.UserMetadata)
			}
		}},
		{"null user_metadata falls through to data", `{"type":"x.y","user_metadata":null,"data":{"userMetadata":{"c":1}}}`, func(t *testing.T, e Event) {
			if string(e.UserMetadata) != `{"c":1}` {
				t.Errorf("user_metadata %s", e.UserMetadata)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustParse(t, tc.body, testMeta)
			tc.check(t, e)
			roundTrip(t, e)
		})
	}
}

func TestParseClaims(t *testing.T) {
	body := `{"type":"interaction.completed","data":{"id":"interactions/1"}}`
	tests := []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"object in claims", map[string]any{"user_metadata": map[string]any{"b": "2", "a": 1.5}}, `{"a":1.5,"b":"2"}`},
		{"not an object", map[string]any{"user_metadata": "x"}, ``},
		{"absent", map[string]any{"aud": "x"}, ``},
		{"nil claims", nil, ``},
		{"unencodable value is dropped", map[string]any{"user_metadata": map[string]any{"f": func() {}}}, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMeta
			m.Scheme, m.Claims = SchemeJWT, tc.claims
			e := mustParse(t, body, m)
			if string(e.UserMetadata) != tc.want {
				t.Errorf("user_metadata %s, want %s", e.UserMetadata, tc.want)
			}
			roundTrip(t, e)
		})
	}
	// The body wins over the claims.
	m := testMeta
	m.Claims = map[string]any{"user_metadata": map[string]any{"from": "claims"}}
	if e := mustParse(t, `{"type":"x.y","user_metadata":{"from":"body"}}`, m); string(e.UserMetadata) != `{"from":"body"}` {
		t.Errorf("user_metadata %s, want the body's", e.UserMetadata)
	}
}

func TestParseMeta(t *testing.T) {
	body := []byte(`{"type":"batch.succeeded","data":{"id":"b"}}`)
	local := time.FixedZone("CEST", 2*3600)
	m := Meta{ID: "id\xff\xfe", ReceivedAt: time.Date(2026, 5, 4, 14, 0, 0, 5, local), Scheme: "hm\xffac"}
	e, err := Parse(body, m)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "id\uFFFD" || e.SignatureScheme != "hm\uFFFDac" {
		t.Errorf("id %q scheme %q: invalid UTF-8 not replaced", e.ID, e.SignatureScheme)
	}
	if e.ReceivedAt.Location() != time.UTC || !e.ReceivedAt.Equal(m.ReceivedAt) {
		t.Errorf("received_at %v, want %v in UTC", e.ReceivedAt, m.ReceivedAt)
	}
	// time.Now carries a monotonic reading; the event must not.
	e2, err := Parse(body, Meta{ID: "x", ReceivedAt: time.Now(), Scheme: SchemeHMAC})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, e2)
	// Payload is a copy.
	e3, err := Parse(body, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	body[2] = 'X'
	if e3.Payload[2] != 't' {
		t.Error("Payload aliases the body")
	}
}

func TestNewMessageRejectsInvalidEvents(t *testing.T) {
	valid := mustParse(t, `{"type":"batch.succeeded","timestamp":"2026-05-04T12:00:00Z","data":{"id":"b"},"user_metadata":{"a":1}}`, testMeta)
	tests := map[string]func(e *Event){
		"zero event":              func(e *Event) { *e = Event{} },
		"no schema version":       func(e *Event) { e.SchemaVersion = "" },
		"no id":                   func(e *Event) { e.ID = "" },
		"no type":                 func(e *Event) { e.Type = "" },
		"no family":               func(e *Event) { e.Family = "" },
		"no outcome":              func(e *Event) { e.Outcome = "" },
		"received_at year 10000":  func(e *Event) { e.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"occurred_at year -1":     func(e *Event) { e.OccurredAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"payload empty":           func(e *Event) { e.Payload = nil },
		"payload an array":        func(e *Event) { e.Payload = json.RawMessage(`[]`) },
		"payload invalid":         func(e *Event) { e.Payload = json.RawMessage(`{"a":}`) },
		"user_metadata an array":  func(e *Event) { e.UserMetadata = json.RawMessage(`[1]`) },
		"user_metadata truncated": func(e *Event) { e.UserMetadata = json.RawMessage(`{"a":1`) },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			e := valid
			mutate(&e)
			if _, err := NewMessage(e); err == nil || !strings.HasPrefix(err.Error(), "events: new message: invalid event") {
				t.Errorf("NewMessage = %v, want an invalid event error", err)
			}
			if _, err := e.MarshalJSON(); err == nil {
				t.Error("MarshalJSON accepted the event")
			}
		})
	}
	if _, err := NewMessage(valid); err != nil {
		t.Fatalf("the unmutated event: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := mustParse(t, `{"type":"batch.succeeded","data":{"id":"b"}}`, testMeta)
	good, err := NewMessage(valid)
	if err != nil {
		t.Fatal(err)
	}
	withData := func(s string) Message { return Message{Data: []byte(s), Attributes: good.Attributes} }
	replace := func(old, new string) Message {
		return withData(strings.Replace(string(good.Data), old, new, 1))
	}
	tests := []struct {
		name string
		m    Message
		want error
	}{
		{"not JSON", withData("not json"), ErrInvalidMessage},
		{"empty", Message{}, ErrInvalidMessage},
		{"array", withData(`[1]`), ErrInvalidMessage},
		{"wrong field type", replace(`"id":"msg_unit"`, `"id":7`), ErrInvalidMessage},
		{"no schema version", replace(`"schema_version":"1",`, ``), ErrInvalidMessage},
		{"schema version 2", replace(`"schema_version":"1"`, `"schema_version":"2"`), ErrUnsupportedSchemaVersion},
		{"schema version 2 with other field types", withData(`{"schema_version":"2","id":{"webhook":"x"}}`), ErrUnsupportedSchemaVersion},
		{"wrong field type, schema version 1", withData(`{"schema_version":"1","id":{"webhook":"x"}}`), ErrInvalidMessage},
		{"no id", replace(`"id":"msg_unit",`, ``), ErrInvalidMessage},
		{"payload not an object", replace(`"payload":{`, `"payload":"x","p":{`), ErrInvalidMessage},
		{"quarantine message", NewQuarantineMessage(good.Data, testMeta, nil), ErrInvalidMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "batch.succeeded") {
				t.Errorf("error %q quotes message data", err)
			}
		})
	}
	// Decode reads Data only and ignores fields it does not know.
	m := replace(`"id":"msg_unit",`, `"id":"msg_unit","added_later":{"x":1},`)
	m.Attributes = nil
	got, err := Decode(m)
	if err != nil || !reflect.DeepEqual(got, valid) {
		t.Errorf("Decode with an unknown field = %v, %v", got, err)
	}
}

func TestQuarantineMessage(t *testing.T) {
	body := []byte("not json")
	_, perr := Parse(body, testMeta)
	tests := []struct {
		name   string
		reason error
		want   string
	}{
		{"malformed error", perr, ReasonInvalidJSON},
		{"wrapped malformed error", fmt.Errorf("handle: %w", perr), ReasonInvalidJSON},
		{"nil", nil, "unclassified"},
		{"other error", errors.New("secret detail"), "unclassified"},
		{"empty reason", &MalformedError{}, "unclassified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuarantineMessage(body, testMeta, tc.reason)
			if got := q.Attributes[AttrQuarantineReason]; got != tc.want {
				t.Errorf("quarantine_reason %q, want %q", got, tc.want)
			}
			for k, v := range q.Attributes {
				if strings.Contains(v, "secret") || strings.Contains(v, "not json") {
					t.Errorf("attribute %s leaks %q", k, v)
				}
			}
		})
	}
	// Without a receive time there is no received_at or ce-time.
	q := NewQuarantineMessage(nil, Meta{ID: "x"}, perr)
	if _, ok := q.Attributes[AttrReceivedAt]; ok {
		t.Error("received_at set for a zero time")
	}
	if _, ok := q.Attributes[AttrCETime]; ok {
		t.Error("ce-time set for a zero time")
	}
	b, meta, reason, err := DecodeQuarantine(q)
	if err != nil || len(b) != 0 || !reflect.DeepEqual(meta, Meta{ID: "x"}) || reason != ReasonInvalidJSON {
		t.Errorf("DecodeQuarantine = %q, %#v, %q, %v", b, meta, reason, err)
	}
}

func TestDecodeQuarantineErrors(t *testing.T) {
	q := NewQuarantineMessage([]byte("x"), testMeta, nil)
	with := func(k, v string) Message {
		a := map[string]string{}
		for ak, av := range q.Attributes {
			a[ak] = av
		}
		if v == "" {
			delete(a, k)
		} else {
			a[k] = v
		}
		return Message{Data: q.Data, Attributes: a}
	}
	e := mustParse(t, `{"type":"batch.succeeded"}`, testMeta)
	fam, err := NewMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Message{
		"family message":      fam,
		"no attributes":       {Data: []byte("x")},
		"no webhook id":       with(AttrWebhookID, ""),
		"bad received_at":     with(AttrReceivedAt, "yesterday"),
		"other family":        with(AttrEventFamily, "batch"),
		"received_at no zone": with(AttrReceivedAt, "2026-05-04T12:00:00"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := DecodeQuarantine(m); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("DecodeQuarantine = %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestMetadataAttributesOfHandBuiltEvents(t *testing.T) {
	e := mustParse(t, `{"type":"batch.succeeded","data":{"id":"b"}}`, testMeta)
	// Not compacted, a repeated key (the last wins), escaped key (skipped)
	// and brackets inside strings.
	e.UserMetadata = json.RawMessage(" {\n \"b\" : \"2\" , \"a\":\"x]}\" ,\"\\u0061b\":\"esc\", \"n\":[\"{\"], \"b\":\"3\"\t}\n")
	m, err := NewMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range m.Attributes {
		if strings.HasPrefix(k, AttrMetadataPrefix) {
			got[k] = v
		}
	}
	if want := map[string]string{"meta_a": "x]}", "meta_b": "3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("meta attributes %v, want %v", got, want)
	}
}

func TestAttributeCountBound(t *testing.T) {
	var um strings.Builder
	um.WriteString(`{"type":"batch.failed","version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":"batches/x","output_file_uri":"gs://o","file_name":"f","error_code":1,"error_message":"m"},"user_metadata":{`)
	for i := range 50 {
		fmt.Fprintf(&um, `"k%02d":"v",`, i)
	}
	um.WriteString(`"z":"v"}}`)
	m := roundTrip(t, mustParse(t, um.String(), testMeta))
	if len(m.Attributes) != 18+MaxMetadataAttributes {
		t.Errorf("%d attributes, want the documented maximum %d", len(m.Attributes), 18+MaxMetadataAttributes)
	}
}
