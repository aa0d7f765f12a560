package samples

import (
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
)

// TestEveryTypeParses checks that each sample is understood by events as
// its own type, with the fields Gemini documents for it.
func TestEveryTypeParses(t *testing.T) {
	if len(Types) != len(events.Types()) {
		t.Fatalf("%d sample types, events knows %d", len(Types), len(events.Types()))
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i, typ := range Types {
		e, err := events.Parse(Body(typ, i, at), events.Meta{ID: ID("t", i), ReceivedAt: at, Scheme: events.SchemeHMAC})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		info, ok := events.Lookup(typ)
		if !ok || e.Family != info.Family || e.Outcome != info.Outcome || e.Type != typ {
			t.Errorf("%s: parsed as %s/%s", typ, e.Family, e.Outcome)
		}
		if e.Resource == "" || !e.OccurredAt.Equal(at) {
			t.Errorf("%s: resource %q occurred_at %v", typ, e.Resource, e.OccurredAt)
		}
		switch typ {
		case "batch.succeeded", "video.generated":
			if e.OutputURI == "" {
				t.Errorf("%s: no output URI", typ)
			}
		case "batch.failed", "interaction.failed":
			if e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("%s: no error", typ)
			}
		}
	}
	e, err := events.Parse(Body("webhook.ping", 1, at), events.Meta{ID: "x", ReceivedAt: at, Scheme: events.SchemeHMAC})
	if err != nil || e.Family != events.FamilyOther {
		t.Fatalf("unknown type: %v %v", e.Family, err)
	}
	if ID("run", 1) == ID("run", 2) || ID("a", 1) == ID("b", 1) {
		t.Fatal("IDs are not distinct")
	}
}
