package events

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestNormalize runs every golden case through Normalize: an understood
// body yields exactly what Parse and NewMessage make of it, and a malformed
// one the quarantine message whose quarantine_reason attribute is the
// Reason Normalize reports and the Parse error's own reason.
func TestNormalize(t *testing.T) {
	for _, tc := range loadCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			n := Normalize(tc.body, tc.meta)
			e, perr := Parse(tc.body, tc.meta)
			if strings.HasPrefix(tc.name, "malformed-") {
				var me *MalformedError
				if !errors.As(perr, &me) {
					t.Fatalf("Parse error %v is not a *MalformedError", perr)
				}
				if !n.Quarantined() || n.Family != FamilyQuarantine || !errors.Is(n.Err, ErrMalformed) {
					t.Fatalf("Normalize = family %q, err %v; want quarantine with ErrMalformed", n.Family, n.Err)
				}
				if n.Reason == "" || n.Reason == ReasonUnclassified || n.Reason != me.Reason ||
					n.Message.Attributes[AttrQuarantineReason] != n.Reason || QuarantineReason(n.Err) != n.Reason {
					t.Fatalf("reason %q, attribute %q, QuarantineReason %q; Parse says %q",
						n.Reason, n.Message.Attributes[AttrQuarantineReason], QuarantineReason(n.Err), me.Reason)
				}
				if want := NewQuarantineMessage(tc.body, tc.meta, perr); !reflect.DeepEqual(n.Message, want) {
					t.Fatalf("message %+v, want %+v", n.Message, want)
				}
				if !reflect.DeepEqual(n.Event, Event{}) {
					t.Fatalf("quarantined with an event: %+v", n.Event)
				}
				return
			}
			if perr != nil {
				t.Fatalf("Parse: %v", perr)
			}
			want, err := NewMessage(e)
			if err != nil {
				t.Fatalf("NewMessage: %v", err)
			}
			if n.Quarantined() || n.Family != e.Family || n.Reason != "" || n.Err != nil {
				t.Fatalf("Normalize = family %q, reason %q, err %v; want %q", n.Family, n.Reason, n.Err, e.Family)
			}
			if !reflect.DeepEqual(n.Event, e) || !reflect.DeepEqual(n.Message, want) {
				t.Fatal("Normalize differs from Parse and NewMessage")
			}
			if _, ok := n.Message.Attributes[AttrQuarantineReason]; ok {
				t.Fatal("an event message carries quarantine_reason")
			}
		})
	}
}

// TestNormalizeUnencodable covers a body Parse accepts and NewMessage
// refuses: it is quarantined as unclassified, consistently.
func TestNormalizeUnencodable(t *testing.T) {
	meta := Meta{ID: "msg_far", ReceivedAt: time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC), Scheme: SchemeHMAC}
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/1"}}`)
	if _, err := Parse(body, meta); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	n := Normalize(body, meta)
	if !n.Quarantined() || n.Err == nil || errors.Is(n.Err, ErrMalformed) {
		t.Fatalf("Normalize = family %q, err %v; want quarantine for an encoding error", n.Family, n.Err)
	}
	if n.Reason != ReasonUnclassified || n.Message.Attributes[AttrQuarantineReason] != ReasonUnclassified {
		t.Fatalf("reason %q, attribute %q; want %q", n.Reason, n.Message.Attributes[AttrQuarantineReason], ReasonUnclassified)
	}
	if string(n.Message.Data) != string(body) {
		t.Fatal("quarantine data is not the body verbatim")
	}
}
