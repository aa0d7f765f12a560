package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a Pub/Sub message in plain types. The caller copies it into its
// client's message type (pubsub.Message{Data: m.Data, Attributes: m.Attributes}).
type Message struct {
	// Data is the message payload.
	Data []byte
	// Attributes are the message attributes, within Pub/Sub's limits.
	Attributes map[string]string
}

// Attribute names of family and quarantine messages. SCHEMA.md describes them.
const (
	AttrWebhookID        = "webhook_id"
	AttrIdempotencyKey   = "idempotency_key"
	AttrEventType        = "event_type"
	AttrEventFamily      = "event_family"
	AttrOutcome          = "outcome"
	AttrResource         = "resource"
	AttrResourceID       = "resource_id"
	AttrSignatureScheme  = "signature_scheme"
	AttrPayloadVersion   = "payload_version"
	AttrSchemaVersion    = "schema_version"
	AttrReceivedAt       = "received_at"
	AttrQuarantineReason = "quarantine_reason"
	// AttrConfirmed is "true" on events the Gemini API confirmed, absent
	// otherwise.
	AttrConfirmed = "confirmed"
	// AttrAPIState is the state the Gemini API reported: on confirmed
	// events and on unconfirmed quarantine messages.
	AttrAPIState = "api_state"
	// AttrDisputeReason, AttrAPIResource, AttrAPIDetail and AttrCheckedAt
	// say, on an unconfirmed quarantine message, what the API said.
	AttrDisputeReason = "dispute_reason"
	AttrAPIResource   = "api_resource"
	AttrAPIDetail     = "api_detail"
	AttrCheckedAt     = "checked_at"
	// AttrMetadataPrefix prefixes attributes copied from user_metadata.
	AttrMetadataPrefix = "meta_"

	AttrCESpecVersion     = "ce-specversion"
	AttrCEID              = "ce-id"
	AttrCEType            = "ce-type"
	AttrCESource          = "ce-source"
	AttrCETime            = "ce-time"
	AttrCESubject         = "ce-subject"
	AttrCEDataContentType = "ce-datacontenttype"
	// AttrContentType is the Pub/Sub binding's own name for datacontenttype,
	// read by the CloudEvents SDKs.
	AttrContentType = "Content-Type"
)

// CloudEvents values.
const (
	// CloudEventsSpecVersion is the ce-specversion of every message.
	CloudEventsSpecVersion = "1.0"
	// CloudEventsSource is the ce-source of every message: the Gemini API service.
	CloudEventsSource = "//generativelanguage.googleapis.com"
	// CloudEventsTypePrefix prefixes Gemini's type in ce-type:
	// "com.google.gemini.batch.succeeded".
	CloudEventsTypePrefix = "com.google.gemini."
	// CloudEventsQuarantineType is the ce-type of quarantine messages, whose
	// Gemini type is not known.
	CloudEventsQuarantineType = "com.github.geminihook.quarantined"
)

// Pub/Sub attribute limits (https://cloud.google.com/pubsub/quotas#resource_limits).
const (
	// MaxAttributeValueBytes is the longest attribute value Pub/Sub accepts;
	// longer values are cut at a UTF-8 rune boundary at or below it.
	MaxAttributeValueBytes = 1024
	// MaxAttributeKeyBytes is the longest attribute key Pub/Sub accepts.
	MaxAttributeKeyBytes = 256
	// MaxAttributes is the most attributes Pub/Sub accepts on one message.
	MaxAttributes = 100
	// MaxMetadataAttributes bounds the meta_<key> attributes copied from
	// user_metadata.
	MaxMetadataAttributes = 16
	// maxMetadataKeyBytes bounds a user_metadata key copied to an attribute.
	maxMetadataKeyBytes = 64
)

// ErrInvalidMessage is wrapped by errors of [Decode] and [DecodeQuarantine]
// for messages that are not geminihook events of the expected kind.
var ErrInvalidMessage = errors.New("events: invalid message")

// ErrUnsupportedSchemaVersion is wrapped by [Decode] errors for events of a
// schema version this package does not read: upgrade the consumer.
var ErrUnsupportedSchemaVersion = errors.New("events: unsupported schema version")

// NewMessage builds the family-topic message of e: Data is the event's JSON
// and Attributes carry the routing fields and CloudEvents binary-mode
// attributes described in SCHEMA.md. Attributes never fail the message:
// empty values are omitted and long values are truncated. NewMessage fails
// only for an event Parse would not produce (missing id, type, family or
// outcome, a time outside years 0000-9999, a payload or user_metadata that is
// not a JSON object).
func NewMessage(e Event) (Message, error) {
	data, err := appendEvent(make([]byte, 0, len(e.Payload)+len(e.UserMetadata)+512), &e)
	if err != nil {
		return Message{}, fmt.Errorf("events: new message: %w", err)
	}
	a := make(map[string]string, 21)
	setAttr(a, AttrWebhookID, e.ID)
	setAttr(a, AttrEventType, e.Type)
	setAttr(a, AttrEventFamily, string(e.Family))
	setAttr(a, AttrOutcome, string(e.Outcome))
	setAttr(a, AttrResource, e.Resource)
	setAttr(a, AttrResourceID, e.ResourceID)
	setAttr(a, AttrSignatureScheme, e.SignatureScheme)
	setAttr(a, AttrIdempotencyKey, e.IdempotencyKey)
	setAttr(a, AttrPayloadVersion, e.PayloadVersion)
	setAttr(a, AttrSchemaVersion, e.SchemaVersion)
	setAttr(a, AttrCESpecVersion, CloudEventsSpecVersion)
	setAttr(a, AttrCEID, e.ID)
	setAttr(a, AttrCEType, CloudEventsTypePrefix+e.Type)
	setAttr(a, AttrCESource, CloudEventsSource)
	t := e.OccurredAt
	if t.IsZero() {
		t = e.ReceivedAt
	}
	setAttr(a, AttrCETime, t.UTC().Format(time.RFC3339Nano))
	setAttr(a, AttrCESubject, e.Resource)
	setAttr(a, AttrCEDataContentType, "application/json")
	setAttr(a, AttrContentType, "application/json")
	if e.Confirmed {
		setAttr(a, AttrConfirmed, "true")
		setAttr(a, AttrAPIState, e.APIState)
	}
	addMetadataAttrs(a, e.UserMetadata)
	return Message{Data: data, Attributes: a}, nil
}

// ReasonUnclassified is the quarantine reason of an error that carries no
// [MalformedError]: a body Parse accepted but NewMessage could not encode.
const ReasonUnclassified = "unclassified"

// QuarantineReason is the stable code of why a body was quarantined: the
// Reason of a *MalformedError in err's chain, else [ReasonUnclassified]. It
// is the quarantine_reason attribute of the message [NewQuarantineMessage]
// builds from err, so a log line or metric that uses it agrees with the
// message.
func QuarantineReason(err error) string {
	if me, ok := errors.AsType[*MalformedError](err); ok && me.Reason != "" {
		return me.Reason
	}
	return ReasonUnclassified
}

// Normalized is what [Normalize] makes of one authentic delivery.
type Normalized struct {
	// Family is the topic family Message belongs on: the event's family, or
	// FamilyQuarantine when the body could not be understood.
	Family Family
	// Event is the normalized event; the zero Event when quarantined.
	Event Event
	// Message is the Pub/Sub message to publish to Family's topic.
	Message Message
	// Reason is, when quarantined, the stable quarantine code (see
	// [QuarantineReason]), equal to Message's quarantine_reason attribute;
	// "" otherwise.
	Reason string
	// Err is, when quarantined, why: an [ErrMalformed] from Parse or an
	// error of NewMessage. It is nil otherwise.
	Err error
}

// Quarantined reports whether the delivery goes to the quarantine topic.
func (n Normalized) Quarantined() bool { return n.Family == FamilyQuarantine }

// Normalize turns an authentic delivery into the one message to publish:
// it runs [Parse] and [NewMessage], and when either fails it builds the
// quarantine message of body instead, so every delivery yields a message.
// It is the producer's whole recipe in one call.
func Normalize(body []byte, meta Meta) Normalized {
	e, err := Parse(body, meta)
	if err == nil {
		var msg Message
		if msg, err = NewMessage(e); err == nil {
			return Normalized{Family: e.Family, Event: e, Message: msg}
		}
	}
	q := NewQuarantineMessage(body, meta, err)
	return Normalized{
		Family:  FamilyQuarantine,
		Message: q,
		Reason:  q.Attributes[AttrQuarantineReason],
		Err:     err,
	}
}

// NewQuarantineMessage builds the quarantine-topic message of an authentic
// delivery whose body could not be understood: Data is body verbatim, and
// the attributes carry m and [QuarantineReason] of reason. It never fails.
func NewQuarantineMessage(body []byte, m Meta, reason error) Message {
	return quarantineMessage(body, m, QuarantineReason(reason))
}

// quarantineMessage builds a quarantine message of body with reason r.
func quarantineMessage(body []byte, m Meta, r string) Message {
	a := make(map[string]string, 18)
	setAttr(a, AttrWebhookID, m.ID)
	setAttr(a, AttrSignatureScheme, m.Scheme)
	setAttr(a, AttrIdempotencyKey, m.IdempotencyKey)
	setAttr(a, AttrEventFamily, string(FamilyQuarantine))
	setAttr(a, AttrQuarantineReason, r)
	setAttr(a, AttrSchemaVersion, SchemaVersion)
	setAttr(a, AttrCESpecVersion, CloudEventsSpecVersion)
	setAttr(a, AttrCEID, m.ID)
	setAttr(a, AttrCEType, CloudEventsQuarantineType)
	setAttr(a, AttrCESource, CloudEventsSource)
	if !m.ReceivedAt.IsZero() {
		ts := m.ReceivedAt.UTC().Format(time.RFC3339Nano)
		setAttr(a, AttrReceivedAt, ts)
		setAttr(a, AttrCETime, ts)
	}
	return Message{Data: body, Attributes: a}
}

// ReasonUnconfirmed is the quarantine reason of an authentic, well-formed
// delivery that the Gemini API contradicted: it reported another state, or
// no such resource. See [NewUnconfirmedMessage].
const ReasonUnconfirmed = "unconfirmed"

// Dispute is what the Gemini API said about an event it did not confirm.
type Dispute struct {
	// Reason is the stable code of the disagreement: "state_mismatch",
	// "not_found", "invalid_id" or "rejected".
	Reason string
	// Resource is the API resource that was read; "" when data.id named none.
	Resource string
	// APIState is the state the API reported; "" when it found no resource.
	APIState string
	// Detail is what the API said, in words; it must hold no secret.
	Detail string
	// CheckedAt is when the API answered.
	CheckedAt time.Time
}

// NewUnconfirmedMessage builds the quarantine-topic message of an authentic
// delivery, understood as e, that the Gemini API contradicted: Data is body
// verbatim, quarantine_reason is [ReasonUnconfirmed], and the attributes
// also carry e's type and resource and what the API said (d), so that a
// person or `geminihook replay` can decide. It never fails.
func NewUnconfirmedMessage(body []byte, m Meta, e Event, d Dispute) Message {
	q := quarantineMessage(body, m, ReasonUnconfirmed)
	a := q.Attributes
	setAttr(a, AttrEventType, e.Type)
	setAttr(a, AttrResource, e.Resource)
	setAttr(a, AttrDisputeReason, d.Reason)
	setAttr(a, AttrAPIResource, d.Resource)
	setAttr(a, AttrAPIState, d.APIState)
	setAttr(a, AttrAPIDetail, d.Detail)
	if !d.CheckedAt.IsZero() {
		setAttr(a, AttrCheckedAt, d.CheckedAt.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// Decode turns a message received from a family topic back into its Event.
// It reads Data only; attributes may have been truncated. It fails with
// ErrUnsupportedSchemaVersion for an event of another schema version and with
// ErrInvalidMessage for anything else that is not an event (for example a
// quarantine message). Unknown fields are ignored, so a consumer keeps
// working when fields are added.
func Decode(m Message) (Event, error) {
	if m.Attributes[AttrEventFamily] == string(FamilyQuarantine) {
		return Event{}, fmt.Errorf("events: decode: %w: a quarantine message (use DecodeQuarantine)", ErrInvalidMessage)
	}
	var e Event
	if err := json.Unmarshal(m.Data, &e); err != nil {
		// Another schema version may change field types: say so when the
		// data names one. The decoder's error text can quote message bytes,
		// so it stays out of the error.
		var v struct {
			SchemaVersion string `json:"schema_version"`
		}
		if json.Unmarshal(m.Data, &v) == nil && v.SchemaVersion != "" && v.SchemaVersion != SchemaVersion {
			return Event{}, fmt.Errorf("events: decode: %w: %q", ErrUnsupportedSchemaVersion, truncate(v.SchemaVersion, 16))
		}
		return Event{}, fmt.Errorf("events: decode: %w: data is not an event object", ErrInvalidMessage)
	}
	if e.SchemaVersion != SchemaVersion {
		if e.SchemaVersion == "" {
			return Event{}, fmt.Errorf("events: decode: %w: no schema_version", ErrInvalidMessage)
		}
		return Event{}, fmt.Errorf("events: decode: %w: %q", ErrUnsupportedSchemaVersion, truncate(e.SchemaVersion, 16))
	}
	if err := validate(&e); err != nil {
		return Event{}, fmt.Errorf("events: decode: %w: %w", ErrInvalidMessage, err)
	}
	return e, nil
}

// DecodeQuarantine returns what a quarantine message carries: the body
// verbatim, the delivery's Meta (ID, IdempotencyKey, Scheme and ReceivedAt; JWT claims are
// not kept) and the quarantine reason, so the body can be run through
// [Parse] again. It fails with ErrInvalidMessage when m is not a quarantine
// message.
func DecodeQuarantine(m Message) (body []byte, meta Meta, reason string, err error) {
	if m.Attributes[AttrEventFamily] != string(FamilyQuarantine) {
		return nil, Meta{}, "", fmt.Errorf("events: decode quarantine: %w: event_family is not quarantine", ErrInvalidMessage)
	}
	meta = Meta{ID: m.Attributes[AttrWebhookID], IdempotencyKey: m.Attributes[AttrIdempotencyKey], Scheme: m.Attributes[AttrSignatureScheme]}
	if meta.ID == "" {
		return nil, Meta{}, "", fmt.Errorf("events: decode quarantine: %w: no webhook_id", ErrInvalidMessage)
	}
	if ts, ok := m.Attributes[AttrReceivedAt]; ok {
		t, perr := time.Parse(time.RFC3339Nano, ts)
		if perr != nil {
			return nil, Meta{}, "", fmt.Errorf("events: decode quarantine: %w: received_at is not RFC 3339", ErrInvalidMessage)
		}
		meta.ReceivedAt = t.UTC()
	}
	return m.Data, meta, m.Attributes[AttrQuarantineReason], nil
}

// setAttr sets a[k] = v within Pub/Sub's limits: an empty value is omitted,
// invalid UTF-8 is replaced by U+FFFD and a long value is truncated.
func setAttr(a map[string]string, k, v string) {
	if v == "" || len(a) >= MaxAttributes {
		return
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	a[k] = truncate(v, MaxAttributeValueBytes)
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// addMetadataAttrs copies string values of user_metadata into meta_<key>
// attributes, for subscription filters. Only keys of 1 to 64 characters from
// [A-Za-z0-9_-], written without escapes, qualify; of those with a non-empty
// string value, the first MaxMetadataAttributes in byte order are copied. A
// repeated key counts once, with its last value. um must be a valid JSON
// object (appendEvent checked it).
func addMetadataAttrs(a map[string]string, um []byte) {
	type member struct{ key, val []byte }
	var keep [MaxMetadataAttributes]member // the smallest keys seen, sorted
	n := 0
	eachMember(um, func(key, val []byte) {
		if len(key) < 2 || !metadataKeyOK(key[1:len(key)-1]) || len(val) < 3 || val[0] != '"' {
			return
		}
		i, found := 0, false
		for ; i < n; i++ {
			if c := bytes.Compare(key, keep[i].key); c <= 0 {
				found = c == 0
				break
			}
		}
		switch {
		case found:
			keep[i].val = val
			return
		case i == MaxMetadataAttributes:
			return
		case n < MaxMetadataAttributes:
			n++
		}
		copy(keep[i+1:n], keep[i:n-1])
		keep[i] = member{key, val}
	})
	for _, m := range keep[:n] {
		if s, ok := rawString(m.val); ok {
			setAttr(a, AttrMetadataPrefix+string(m.key[1:len(m.key)-1]), s)
		}
	}
}

// eachMember calls fn with the raw key (quoted) and raw value of each member
// of the JSON object obj, which must be valid JSON.
func eachMember(obj []byte, fn func(key, val []byte)) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i = skipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		k := skipValue(obj, i)
		key := obj[i:k]
		i = skipSpace(obj, k)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		v := skipSpace(obj, i+1)
		end := skipValue(obj, v)
		fn(key, obj[v:end])
		i = skipSpace(obj, end)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	inString := false
	for ; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
				if depth == 0 {
					return i + 1
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the end of the enclosing object: a scalar ended
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n', ':':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

func metadataKeyOK(k []byte) bool {
	if len(k) == 0 || len(k) > maxMetadataKeyBytes {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
