package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// SchemaVersion is the version of the Event JSON, carried in its
// "schema_version" field and in the "schema_version" attribute. It is a
// decimal integer in a string and is bumped only on a breaking change
// (removing a field, changing a field's type or meaning). Fields are added
// without a bump; consumers must ignore fields they do not know.
const SchemaVersion = "1"

// Signature schemes, as reported by the verifier in [Meta].Scheme.
const (
	// SchemeHMAC: a static webhook signed with a Standard Webhooks HMAC secret.
	SchemeHMAC = "hmac"
	// SchemeJWT: a dynamic webhook signed with an RS256 JWT.
	SchemeJWT = "jwt"
)

// MaxDepth is the deepest nesting of arrays and objects accepted in a body;
// the top-level object is depth 1. Deeper bodies are malformed
// ([ReasonTooDeep]). The bound keeps the published event readable by common
// JSON parsers with default limits (for example serde_json's 128 and Ruby's
// 100), since the event wraps the body one level deeper.
const MaxDepth = 64

// Meta is what the receiver knows about a delivery besides its body, from
// signature verification.
type Meta struct {
	// ID is the webhook-id header (for a JWT delivery, which the token does
	// not cover, information only).
	ID string
	// IdempotencyKey is the key the receiver deduplicated the delivery on,
	// derived from what its signature covers ("hmac:" + webhook-id, or
	// "jwt:" + a key derived from the token). Empty when unknown.
	IdempotencyKey string
	// ReceivedAt is when the delivery arrived.
	ReceivedAt time.Time
	// Scheme is the verified signature scheme: SchemeHMAC or SchemeJWT.
	Scheme string
	// Claims holds the claims of a verified JWT; nil for HMAC. When the body
	// carries no user_metadata and Claims["user_metadata"] is a JSON object,
	// the event takes it from there.
	Claims map[string]any
}

// Event is the normalized completion event: the data of every Pub/Sub
// message on a family topic. SCHEMA.md documents every field.
//
// Times are in UTC. The zero OccurredAt means the body had no usable
// "timestamp"; it is then omitted from the JSON.
type Event struct {
	// SchemaVersion is [SchemaVersion] for events built by this package.
	SchemaVersion string `json:"schema_version"`
	// ID is the webhook-id header. Retries of one HMAC delivery share it;
	// for a JWT delivery the token does not cover it (information only).
	ID string `json:"id"`
	// Type is Gemini's event type verbatim ("batch.completed" stays as sent).
	Type string `json:"type"`
	// Family is the topic family of Type.
	Family Family `json:"family"`
	// Outcome is the normalized result of Type.
	Outcome Outcome `json:"outcome"`
	// Resource is Gemini's data.id verbatim: a bare id or a resource name.
	// Empty when the body has none (pings).
	Resource string `json:"resource"`
	// ResourceID is the last "/"-separated segment of Resource: "abc" for
	// "batches/abc", the whole value for a bare id.
	ResourceID string `json:"resource_id,omitempty"`
	// OccurredAt is the body's "timestamp" (RFC 3339). Zero when absent or
	// unparseable; the event is kept either way.
	OccurredAt time.Time `json:"occurred_at,omitzero"`
	// ReceivedAt is when the receiver got the delivery.
	ReceivedAt time.Time `json:"received_at"`
	// OutputURI is data.output_file_uri, or else data.video_uri.
	OutputURI string `json:"output_uri,omitempty"`
	// FileName is data.file_name (video generation: the Files API name).
	FileName string `json:"file_name,omitempty"`
	// Error is the job's error, from data.error_code/data.error_message or a
	// nested data.error object; nil when the body carries none.
	Error *Error `json:"error,omitempty"`
	// UserMetadata is the user_metadata object echoed by Gemini, compacted:
	// from the top level, else from data, else from the JWT claims.
	UserMetadata json.RawMessage `json:"user_metadata,omitempty"`
	// SignatureScheme is how the delivery was authenticated: "hmac" or "jwt".
	SignatureScheme string `json:"signature_scheme"`
	// IdempotencyKey is the key the receiver deduplicated on, derived from
	// what the signature covers: "hmac:" + id, or "jwt:" + a key of the
	// token. Omitted when empty (events built without one).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// PayloadVersion is the body's "version" verbatim; "" when the body had
	// none (such bodies are read as "v1").
	PayloadVersion string `json:"payload_version"`
	// Payload is the original body with leading and trailing JSON whitespace
	// removed; the bytes in between are kept verbatim. Parse copies it: it
	// never aliases the body passed in.
	Payload json.RawMessage `json:"payload"`
	// Confirmed reports that the Gemini API was asked and reported the
	// state Type claims (see [Event.WithConfirmation]). False, and omitted
	// from the JSON, when the event was not checked.
	Confirmed bool `json:"confirmed,omitempty"`
	// ConfirmedAt is when the API reported APIState; zero unless Confirmed.
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	// APIState is the state the API reported ("JOB_STATE_SUCCEEDED",
	// "completed"); empty unless Confirmed.
	APIState string `json:"api_state,omitempty"`
	// BodyOutputURI is the body's output location, kept when the API
	// reported another one (OutputURI then holds the API's).
	BodyOutputURI string `json:"body_output_uri,omitempty"`
	// BodyError is the body's error, kept when the API reported another
	// one (Error then holds the API's).
	BodyError *Error `json:"body_error,omitempty"`
}

// Confirmation is what the Gemini API reported about an event's resource
// when it agreed with the event.
type Confirmation struct {
	// At is when the API answered.
	At time.Time
	// APIState is the state the API reported.
	APIState string
	// OutputURI is the output location the API reported; "" when none.
	OutputURI string
	// Error is the error the API reported; nil when none.
	Error *Error
}

// WithConfirmation returns e marked confirmed by c. The API wins: an output
// location or error the API reported replaces the body's, and the body's
// value, when it differs, is kept in BodyOutputURI or BodyError. A value the
// API did not report leaves the body's in place.
func (e Event) WithConfirmation(c Confirmation) Event {
	e.Confirmed = true
	e.ConfirmedAt = c.At.UTC()
	e.APIState = c.APIState
	if c.OutputURI != "" && c.OutputURI != e.OutputURI {
		e.BodyOutputURI, e.OutputURI = e.OutputURI, c.OutputURI
	}
	if c.Error != nil && (e.Error == nil || *c.Error != *e.Error) {
		apiErr := *c.Error
		e.BodyError, e.Error = e.Error, &apiErr
	}
	return e
}

// Error is the error a failed job reports.
type Error struct {
	// Code is the error code as text; numeric codes keep their JSON literal ("3").
	Code string `json:"code"`
	// Message is the human-readable error message.
	Message string `json:"message"`
}

// ErrMalformed is wrapped by every error [Parse] returns: the body cannot be
// understood and belongs on the quarantine topic.
var ErrMalformed = errors.New("events: malformed payload")

// Reasons a body is malformed, carried in [MalformedError].Reason and in the
// quarantine_reason attribute. They are stable and safe to log or use as a
// metric label.
const (
	ReasonInvalidUTF8        = "invalid_utf8"        // the body is not valid UTF-8
	ReasonTooDeep            = "too_deep"            // nesting deeper than MaxDepth
	ReasonInvalidJSON        = "invalid_json"        // not JSON (including empty bodies)
	ReasonNotObject          = "not_object"          // JSON, but not an object
	ReasonMissingType        = "missing_type"        // no "type", or null
	ReasonTypeNotString      = "type_not_string"     // "type" is not a string
	ReasonEmptyType          = "empty_type"          // "type" is ""
	ReasonUnsupportedVersion = "unsupported_version" // "version" present and not "v1"
	ReasonDataNotObject      = "data_not_object"     // "data" present and not an object or null
	ReasonDuplicateKey       = "duplicate_key"       // a key repeated within one object, anywhere
	ReasonCaseVariantKey     = "case_variant_key"    // a key differing only in case from a field Parse reads, at its level
	ReasonNumberOutOfRange   = "number_out_of_range" // a number over MaxNumberLength bytes or beyond float64
	ReasonMessageTooLarge    = "message_too_large"   // the event's message would exceed MaxMessageBytes
)

// MalformedError reports why a body cannot be understood. It never holds
// body bytes.
type MalformedError struct {
	// Reason is one of the Reason constants.
	Reason string
}

// Error returns "events: malformed payload: " followed by the reason.
func (e *MalformedError) Error() string { return ErrMalformed.Error() + ": " + e.Reason }

// Unwrap returns ErrMalformed.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

func malformed(reason string) error { return &MalformedError{Reason: reason} }

// rawView is a JSON value seen in place: UnmarshalJSON keeps a slice of
// the input instead of a copy. json.Unmarshal hands it a slice of the body,
// so a rawView is valid only while Parse runs and must never be stored in an
// Event.
type rawView []byte

// UnmarshalJSON keeps b without copying it.
func (r *rawView) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// wireBody is the part of a Gemini body the event uses. Values are kept raw
// so that a field of an unexpected type never fails the whole body; only a
// "data" that is not an object (or null) does.
type wireBody struct {
	Type              rawView  `json:"type"`
	Version           rawView  `json:"version"`
	Timestamp         rawView  `json:"timestamp"`
	Data              wireData `json:"data"`
	UserMetadata      rawView  `json:"user_metadata"`
	UserMetadataCamel rawView  `json:"userMetadata"`
}

type wireData struct {
	ID                rawView `json:"id"`
	OutputFileURI     rawView `json:"output_file_uri"`
	VideoURI          rawView `json:"video_uri"`
	FileName          rawView `json:"file_name"`
	ErrorCode         rawView `json:"error_code"`
	ErrorMessage      rawView `json:"error_message"`
	Error             rawView `json:"error"`
	UserMetadata      rawView `json:"user_metadata"`
	UserMetadataCamel rawView `json:"userMetadata"`
}

type wireError struct {
	Code    rawView `json:"code"`
	Message rawView `json:"message"`
}

// Parse normalizes a verified webhook body into an Event.
//
//   - A body of a known type gives its family and outcome.
//   - A well-formed body of an unknown type (a ping, a future event) gives
//     FamilyOther and OutcomeUnknown.
//   - A body that cannot be understood gives an error wrapping ErrMalformed,
//     a *MalformedError; the Event is then the zero value.
//
// Field names are matched exactly. Bodies that consumers would read
// differently are malformed: a key repeated within any object
// ([ReasonDuplicateKey]), a key differing only in case from a field Parse
// reads at the same level ([ReasonCaseVariantKey]; keys inside
// user_metadata may differ in case), a number that common parsers refuse
// ([ReasonNumberOutOfRange]). So is a body whose event's message would
// exceed Pub/Sub's limit ([ReasonMessageTooLarge]); its quarantine message
// fits for any body up to MaxBodyBytes.
// Unknown fields are kept in Payload and never cause an error. SCHEMA.md lists
// every leniency. Each run of invalid UTF-8 in m.ID, m.IdempotencyKey or m.Scheme is replaced
// by one U+FFFD so the event survives a JSON round trip.
func Parse(body []byte, m Meta) (Event, error) {
	if !utf8.Valid(body) {
		return Event{}, malformed(ReasonInvalidUTF8)
	}
	if tooDeep(body, MaxDepth) {
		return Event{}, malformed(ReasonTooDeep)
	}
	var w wireBody
	if err := json.Unmarshal(body, &w); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
			return Event{}, malformed(ReasonInvalidJSON)
		}
		// Syntax is checked before any value is decoded, so a type error
		// means valid JSON of an unexpected shape.
		if payloadStart(body) != '{' {
			return Event{}, malformed(ReasonNotObject)
		}
		return Event{}, malformed(ReasonDataNotObject)
	}
	if payloadStart(body) != '{' { // null decodes without error
		return Event{}, malformed(ReasonNotObject)
	}
	// With no repeated key and no case variant of a read field, what
	// encoding/json matched above is exactly the field of that name.
	if reason := strictCheck(body); reason != "" {
		return Event{}, malformed(reason)
	}
	if isAbsent(w.Type) {
		return Event{}, malformed(ReasonMissingType)
	}
	typ, ok := rawString(w.Type)
	if !ok {
		return Event{}, malformed(ReasonTypeNotString)
	}
	if typ == "" {
		return Event{}, malformed(ReasonEmptyType)
	}
	var version string
	if !isAbsent(w.Version) {
		if v, ok := rawString(w.Version); !ok || v != "v1" {
			return Event{}, malformed(ReasonUnsupportedVersion)
		}
		version = "v1"
	}

	info, _ := Lookup(typ)
	e := Event{
		SchemaVersion:   SchemaVersion,
		ID:              strings.ToValidUTF8(m.ID, "\uFFFD"),
		Type:            typ,
		Family:          info.Family,
		Outcome:         info.Outcome,
		ReceivedAt:      m.ReceivedAt.UTC(),
		SignatureScheme: strings.ToValidUTF8(m.Scheme, "\uFFFD"),
		IdempotencyKey:  strings.ToValidUTF8(m.IdempotencyKey, "\uFFFD"),
		PayloadVersion:  version,
		Payload:         json.RawMessage(bytes.Clone(bytes.Trim(body, jsonSpace))),
	}
	if ts, ok := rawString(w.Timestamp); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			if t = t.UTC(); t.Year() >= 0 && t.Year() <= 9999 {
				e.OccurredAt = t
			}
		}
	}
	um := firstObject(w.UserMetadata, w.UserMetadataCamel)
	d := &w.Data // all fields empty when data is absent or null
	e.Resource, _ = rawScalar(d.ID)
	e.ResourceID = lastSegment(e.Resource)
	e.OutputURI, _ = rawString(d.OutputFileURI)
	if e.OutputURI == "" {
		e.OutputURI, _ = rawString(d.VideoURI)
	}
	e.FileName, _ = rawString(d.FileName)
	e.Error = parseError(d)
	if um == nil {
		um = firstObject(d.UserMetadata, d.UserMetadataCamel)
	}
	if um != nil {
		var buf bytes.Buffer
		buf.Grow(len(um))
		_ = json.Compact(&buf, um) // um is a valid object: Compact cannot fail
		e.UserMetadata = buf.Bytes()
	} else if v, ok := m.Claims["user_metadata"].(map[string]any); ok {
		if b, err := json.Marshal(v); err == nil {
			e.UserMetadata = b
		}
	}
	if !fitsMessage(&e) {
		return Event{}, malformed(ReasonMessageTooLarge)
	}
	return e, nil
}

// parseError reads the flat error_code/error_message pair, falling back to a
// nested {"code","message"} object for each part that is missing.
func parseError(d *wireData) *Error {
	code, _ := rawScalar(d.ErrorCode)
	msg, _ := rawString(d.ErrorMessage)
	if (code == "" || msg == "") && len(d.Error) > 0 && d.Error[0] == '{' {
		var we wireError
		if json.Unmarshal(d.Error, &we) == nil {
			if code == "" {
				code, _ = rawScalar(we.Code)
			}
			if msg == "" {
				msg, _ = rawString(we.Message)
			}
		}
	}
	if code == "" && msg == "" {
		return nil
	}
	return &Error{Code: code, Message: msg}
}

// isAbsent reports whether a field was missing or null.
func isAbsent(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// rawString returns the value of a raw JSON string. ok is false when raw is
// not a string.
func rawString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	return unescapeString(raw)
}

// unescapeString decodes a JSON string with escapes. It is apart from
// rawString so that only this path pays for the decoder's heap variable.
func unescapeString(raw []byte) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// rawScalar returns a raw JSON string's value or a raw JSON number's literal.
func rawScalar(raw []byte) (string, bool) {
	if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return string(raw), true
	}
	return rawString(raw)
}

// firstObject returns the first candidate that is a JSON object.
func firstObject(candidates ...rawView) []byte {
	for _, c := range candidates {
		if len(c) > 0 && c[0] == '{' {
			return c
		}
	}
	return nil
}

// lastSegment returns what follows the last '/' in s.
func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}

// jsonSpace is the insignificant whitespace of JSON (RFC 8259).
const jsonSpace = " \t\r\n"

// payloadStart returns the first non-whitespace byte of b, or 0.
func payloadStart(b []byte) byte {
	b = bytes.TrimLeft(b, jsonSpace)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// tooDeep reports whether b nests arrays and objects deeper than limit. It
// skips string contents and needs no valid JSON: invalid input is rejected
// later by the decoder.
func tooDeep(b []byte, limit int) bool {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
