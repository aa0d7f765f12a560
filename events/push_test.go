package events

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadPush wraps a real message in the envelope a push subscription
// POSTs and reads it back to the same event.
func TestReadPush(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	e, err := Parse([]byte(`{"type":"batch.failed","version":"v1","timestamp":"2026-11-29T11:59:00Z","data":{"id":"batches/b1","error_code":"INTERNAL","error_message":"boom"}}`),
		Meta{ID: "msg_push", ReceivedAt: at, Scheme: SchemeHMAC})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	envelope, _ := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString(m.Data),
			"attributes":  m.Attributes,
			"messageId":   "123",
			"publishTime": "2026-11-29T12:00:01Z",
		},
		"subscription": "projects/p/subscriptions/s",
	})
	got, err := ReadPush(strings.NewReader(string(envelope)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("ReadPush = %+v, want %+v", got, m)
	}
	back, err := Decode(got)
	if err != nil || back.ID != "msg_push" || back.Outcome != OutcomeFailed || back.Error == nil || back.Error.Message != "boom" {
		t.Fatalf("Decode(ReadPush(...)) = %+v, %v", back, err)
	}

	for name, body := range map[string]string{
		"not JSON":    "hello",
		"no message":  `{"subscription":"s"}`,
		"bad base64":  `{"message":{"data":"%%%"}}`,
		"wrong shape": `{"message":"x"}`,
		"too large":   `{"message":{"data":"` + strings.Repeat("A", MaxPushBytes) + `"}}`,
	} {
		if _, err := ReadPush(strings.NewReader(body)); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: %v, want ErrInvalidMessage", name, err)
		}
	}
}

// ExampleReadPush shows a push endpoint in a downstream service.
func ExampleReadPush() {
	data := `{"schema_version":"1","id":"msg_1","type":"video.generated","family":"video","outcome":"succeeded",` +
		`"resource":"op-1","received_at":"2026-11-29T12:00:00Z","signature_scheme":"hmac","payload_version":"v1",` +
		`"payload":{"type":"video.generated","data":{"id":"op-1"}}}`
	body := `{"message":{"data":"` + base64.StdEncoding.EncodeToString([]byte(data)) + `"},"subscription":"projects/p/subscriptions/videos"}`

	// In an http.HandlerFunc: m, err := events.ReadPush(r.Body)
	m, err := ReadPush(strings.NewReader(body))
	if err != nil {
		fmt.Println("not a push request:", err) // answer 2xx anyway: it will never decode
		return
	}
	e, err := Decode(m)
	if err != nil {
		fmt.Println("not an event:", err)
		return
	}
	fmt.Println(e.Family, e.Outcome, e.Resource)
	// Output: video succeeded op-1
}

// FuzzReadPush: any input either fails with ErrInvalidMessage or yields a
// message that survives a round trip through a fresh envelope.
func FuzzReadPush(f *testing.F) {
	f.Add(`{"message":{"data":"e30=","attributes":{"a":"b"}},"subscription":"s"}`)
	f.Add(`{"message":{}}`)
	f.Add(`{"message":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := ReadPush(strings.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("error %v does not wrap ErrInvalidMessage", err)
			}
			return
		}
		again, _ := json.Marshal(map[string]any{"message": map[string]any{"data": m.Data, "attributes": m.Attributes}})
		m2, err := ReadPush(strings.NewReader(string(again)))
		if err != nil || string(m2.Data) != string(m.Data) || len(m2.Attributes) != len(m.Attributes) {
			t.Fatalf("round trip: %+v vs %+v, %v", m2, m, err)
		}
	})
}
