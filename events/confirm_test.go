package events

import (
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"
)

// checkedAt is when the API answered in the confirmation cases.
var checkedAt = time.Date(2026, 5, 4, 12, 0, 5, 400000000, time.UTC)

// TestWithConfirmation checks that the API wins where it reported a value,
// that the body's differing value is kept beside it, and that a value the
// API did not report leaves the body's.
func TestWithConfirmation(t *testing.T) {
	bodyErr := &Error{Code: "INVALID_ARGUMENT", Message: "body"}
	apiErr := &Error{Code: "3", Message: "api"}
	for _, tc := range []struct {
		name             string
		bodyURI          string
		bodyErr          *Error
		c                Confirmation
		wantURI, keptURI string
		wantErr, keptErr *Error
	}{
		{name: "same output", bodyURI: "files/o", c: Confirmation{OutputURI: "files/o"}, wantURI: "files/o"},
		{name: "api output differs", bodyURI: "gs://b/o", c: Confirmation{OutputURI: "files/o"}, wantURI: "files/o", keptURI: "gs://b/o"},
		{name: "api output only", c: Confirmation{OutputURI: "files/o"}, wantURI: "files/o"},
		{name: "api reports no output", bodyURI: "gs://b/o", wantURI: "gs://b/o"},
		{name: "same error", bodyErr: bodyErr, c: Confirmation{Error: &Error{Code: bodyErr.Code, Message: bodyErr.Message}}, wantErr: bodyErr},
		{name: "api error differs", bodyErr: bodyErr, c: Confirmation{Error: apiErr}, wantErr: apiErr, keptErr: bodyErr},
		{name: "api error only", c: Confirmation{Error: apiErr}, wantErr: apiErr},
		{name: "api reports no error", bodyErr: bodyErr, wantErr: bodyErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Event{OutputURI: tc.bodyURI, Error: tc.bodyErr}
			tc.c.At, tc.c.APIState = checkedAt.In(time.FixedZone("x", 3600)), "JOB_STATE_SUCCEEDED"
			got := e.WithConfirmation(tc.c)
			if !got.Confirmed || !got.ConfirmedAt.Equal(checkedAt) || got.ConfirmedAt.Location() != time.UTC || got.APIState != "JOB_STATE_SUCCEEDED" {
				t.Errorf("confirmed %v at %v state %q", got.Confirmed, got.ConfirmedAt, got.APIState)
			}
			if got.OutputURI != tc.wantURI || got.BodyOutputURI != tc.keptURI {
				t.Errorf("output_uri %q body_output_uri %q, want %q %q", got.OutputURI, got.BodyOutputURI, tc.wantURI, tc.keptURI)
			}
			if !reflect.DeepEqual(got.Error, tc.wantErr) || !reflect.DeepEqual(got.BodyError, tc.keptErr) {
				t.Errorf("error %v body_error %v, want %v %v", got.Error, got.BodyError, tc.wantErr, tc.keptErr)
			}
			if tc.c.Error != nil && got.Error == tc.c.Error {
				t.Error("the event aliases the confirmation's error")
			}
		})
	}
}

// TestConfirmedGolden builds confirmed events from golden cases, compares
// their messages with golden files, validates them against the JSON Schema
// and decodes them back.
func TestConfirmedGolden(t *testing.T) {
	schema := compileSchema(t)
	cases := map[string]testCase{}
	for _, tc := range loadCases(t) {
		cases[tc.name] = tc
	}
	for _, c := range []struct {
		name, input string
		conf        Confirmation
	}{
		{"confirmed.batch.succeeded", "batch.succeeded", Confirmation{At: checkedAt, APIState: "JOB_STATE_SUCCEEDED", OutputURI: "files/batch-output"}},
		{"confirmed.interaction.failed", "interaction.failed", Confirmation{At: checkedAt, APIState: "failed", Error: &Error{Code: "13", Message: "internal error"}}},
		{"confirmed.video.generated", "video.generated", Confirmation{At: checkedAt, APIState: "SUCCEEDED"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, ok := cases[c.input]
			if !ok {
				t.Fatalf("no case %s", c.input)
			}
			e, err := Parse(tc.body, tc.meta)
			if err != nil {
				t.Fatal(err)
			}
			e = e.WithConfirmation(c.conf)
			m, err := NewMessage(e)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, c.name+".message.json", marshalIndent(t, goldenMessage{Attributes: m.Attributes, Data: string(m.Data)}))
			checkAttributes(t, m.Attributes)
			if m.Attributes[AttrConfirmed] != "true" || m.Attributes[AttrAPIState] != c.conf.APIState {
				t.Errorf("attributes confirmed=%q api_state=%q", m.Attributes[AttrConfirmed], m.Attributes[AttrAPIState])
			}
			if err := validateSchema(schema, m.Data); err != nil {
				t.Errorf("schema: %v", err)
			}
			d, err := Decode(m)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(d, e) {
				t.Errorf("Decode = %#v\nwant %#v", d, e)
			}
		})
	}
}

// TestUnconfirmedGolden checks the quarantine message of a disputed event.
func TestUnconfirmedGolden(t *testing.T) {
	var tc testCase
	for _, c := range loadCases(t) {
		if c.name == "batch.succeeded" {
			tc = c
		}
	}
	e, err := Parse(tc.body, tc.meta)
	if err != nil {
		t.Fatal(err)
	}
	d := Dispute{Reason: "state_mismatch", Resource: "batches/batch_123456", APIState: "JOB_STATE_FAILED",
		Detail: "the Gemini API reports batches/batch_123456 in state JOB_STATE_FAILED; the event claims JOB_STATE_SUCCEEDED", CheckedAt: checkedAt}
	q := NewUnconfirmedMessage(tc.body, tc.meta, e, d)
	checkGolden(t, "unconfirmed.batch.succeeded.quarantine.json", marshalIndent(t, goldenQuarantine{
		Attributes: q.Attributes,
		DataBase64: base64.StdEncoding.EncodeToString(q.Data),
	}))
	checkAttributes(t, q.Attributes)
	if _, err := Decode(q); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Decode(unconfirmed) error = %v, want ErrInvalidMessage", err)
	}
	body, meta, reason, err := DecodeQuarantine(q)
	if err != nil || reason != ReasonUnconfirmed || string(body) != string(tc.body) || meta.ID != tc.meta.ID {
		t.Errorf("DecodeQuarantine = %q, %+v, %q, %v", body, meta, reason, err)
	}
	// A replay runs the body through Parse again: it is the same event.
	if again, err := Parse(body, meta); err != nil || again.Type != e.Type || again.Resource != e.Resource {
		t.Errorf("Parse(replayed body) = %+v, %v", again, err)
	}
}

// TestValidateConfirmation refuses confirmation fields that contradict
// each other.
func TestValidateConfirmation(t *testing.T) {
	base := Event{SchemaVersion: SchemaVersion, ID: "i", Type: "batch.succeeded", Family: FamilyBatch,
		Outcome: OutcomeSucceeded, ReceivedAt: receivedAt, Payload: []byte(`{}`)}
	for name, mod := range map[string]func(*Event){
		"confirmed without time":  func(e *Event) { e.Confirmed = true },
		"time without confirmed":  func(e *Event) { e.ConfirmedAt = checkedAt },
		"state without confirmed": func(e *Event) { e.APIState = "JOB_STATE_SUCCEEDED" },
		"time out of range": func(e *Event) {
			e.Confirmed, e.ConfirmedAt = true, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
	} {
		e := base
		mod(&e)
		if _, err := NewMessage(e); err == nil {
			t.Errorf("%s: NewMessage accepted it", name)
		}
	}
	if _, err := NewMessage(base); err != nil {
		t.Fatalf("base event: %v", err)
	}
}
