package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/geminihook/geminihook/internal/jsonstr"
)

// MarshalJSON returns the event's JSON: the same bytes as the data of
// [NewMessage]. Payload and UserMetadata are written verbatim.
func (e Event) MarshalJSON() ([]byte, error) {
	return appendEvent(nil, &e)
}

// errInvalidEvent is wrapped by encoding errors of events that Parse never
// produces (hand-built events with missing fields or invalid raw JSON).
var errInvalidEvent = errors.New("invalid event")

// appendEvent appends the JSON of e to b, fields in the order SCHEMA.md
// lists them.
func appendEvent(b []byte, e *Event) ([]byte, error) {
	if err := validate(e); err != nil {
		return nil, err
	}
	b = append(b, `{"schema_version":`...)
	b = jsonstr.Append(b, e.SchemaVersion)
	b = append(b, `,"id":`...)
	b = jsonstr.Append(b, e.ID)
	b = append(b, `,"type":`...)
	b = jsonstr.Append(b, e.Type)
	b = append(b, `,"family":`...)
	b = jsonstr.Append(b, string(e.Family))
	b = append(b, `,"outcome":`...)
	b = jsonstr.Append(b, string(e.Outcome))
	b = append(b, `,"resource":`...)
	b = jsonstr.Append(b, e.Resource)
	if e.ResourceID != "" {
		b = append(b, `,"resource_id":`...)
		b = jsonstr.Append(b, e.ResourceID)
	}
	if !e.OccurredAt.IsZero() {
		b = append(b, `,"occurred_at":`...)
		b = appendTime(b, e.OccurredAt)
	}
	b = append(b, `,"received_at":`...)
	b = appendTime(b, e.ReceivedAt)
	if e.OutputURI != "" {
		b = append(b, `,"output_uri":`...)
		b = jsonstr.Append(b, e.OutputURI)
	}
	if e.FileName != "" {
		b = append(b, `,"file_name":`...)
		b = jsonstr.Append(b, e.FileName)
	}
	if e.Error != nil {
		b = appendError(append(b, `,"error":`...), e.Error)
	}
	if len(e.UserMetadata) > 0 {
		b = append(b, `,"user_metadata":`...)
		b = append(b, e.UserMetadata...)
	}
	b = append(b, `,"signature_scheme":`...)
	b = jsonstr.Append(b, e.SignatureScheme)
	if e.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = jsonstr.Append(b, e.IdempotencyKey)
	}
	b = append(b, `,"payload_version":`...)
	b = jsonstr.Append(b, e.PayloadVersion)
	b = append(b, `,"payload":`...)
	b = append(b, e.Payload...)
	if e.Confirmed {
		b = append(b, `,"confirmed":true,"confirmed_at":`...)
		b = appendTime(b, e.ConfirmedAt)
		if e.APIState != "" {
			b = append(b, `,"api_state":`...)
			b = jsonstr.Append(b, e.APIState)
		}
	}
	if e.BodyOutputURI != "" {
		b = append(b, `,"body_output_uri":`...)
		b = jsonstr.Append(b, e.BodyOutputURI)
	}
	if e.BodyError != nil {
		b = appendError(append(b, `,"body_error":`...), e.BodyError)
	}
	return append(b, '}'), nil
}

// appendError appends err as a JSON object.
func appendError(b []byte, err *Error) []byte {
	b = append(b, `{"code":`...)
	b = jsonstr.Append(b, err.Code)
	b = append(b, `,"message":`...)
	b = jsonstr.Append(b, err.Message)
	return append(b, '}')
}

// validate checks what the JSON form needs and Parse guarantees.
func validate(e *Event) error {
	switch {
	case e.SchemaVersion == "":
		return fmt.Errorf("%w: empty schema_version", errInvalidEvent)
	case e.ID == "":
		return fmt.Errorf("%w: empty id", errInvalidEvent)
	case e.Type == "":
		return fmt.Errorf("%w: empty type", errInvalidEvent)
	case e.Family == "":
		return fmt.Errorf("%w: empty family", errInvalidEvent)
	case e.Outcome == "":
		return fmt.Errorf("%w: empty outcome", errInvalidEvent)
	case !inJSONRange(e.ReceivedAt) || !inJSONRange(e.OccurredAt) || !inJSONRange(e.ConfirmedAt):
		return fmt.Errorf("%w: time outside years 0000-9999", errInvalidEvent)
	case !isObject(e.Payload):
		return fmt.Errorf("%w: payload is not a JSON object", errInvalidEvent)
	case len(e.UserMetadata) > 0 && !isObject(e.UserMetadata):
		return fmt.Errorf("%w: user_metadata is not a JSON object", errInvalidEvent)
	case e.Confirmed && e.ConfirmedAt.IsZero():
		return fmt.Errorf("%w: confirmed without confirmed_at", errInvalidEvent)
	case !e.Confirmed && (!e.ConfirmedAt.IsZero() || e.APIState != ""):
		return fmt.Errorf("%w: confirmed_at or api_state on an unconfirmed event", errInvalidEvent)
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	return payloadStart(raw) == '{' && json.Valid(raw)
}

func inJSONRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// appendTime appends t in UTC as an RFC 3339 JSON string with the fraction
// trimmed of trailing zeros, as time.Time's MarshalJSON writes it.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
