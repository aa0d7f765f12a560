package main

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/samples"
)

// The contract floor is only a floor of the contract if it publishes what
// the function publishes: for every sample type, the same topic family and
// the same attributes (keys and values; ce-time is the delivery's time
// rather than the event's, of the same length) as events.Normalize.
func TestContractMessageMatchesNormalize(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	r := &router{}
	for i, typ := range samples.Types {
		id := "msg_floor_" + typ
		body := samples.Body(typ, i, at)
		n := events.Normalize(body, events.Meta{ID: id, IdempotencyKey: "hmac:" + id, ReceivedAt: at, Scheme: "hmac"})
		if n.Quarantined() {
			t.Fatalf("%s: sample quarantined: %v", typ, n.Err)
		}
		_, msg := r.message(id, body, at)
		if got := events.Family(msg.Attributes[events.AttrEventFamily]); got != n.Family {
			t.Errorf("%s: family %q, the function's %q", typ, got, n.Family)
		}
		want := maps.Clone(n.Message.Attributes)
		got := maps.Clone(msg.Attributes)
		if len(got[events.AttrCETime]) != len(at.Format(time.RFC3339Nano)) {
			t.Errorf("%s: ce-time %q", typ, got[events.AttrCETime])
		}
		delete(want, events.AttrCETime)
		delete(got, events.AttrCETime)
		if !maps.Equal(got, want) {
			t.Errorf("%s: attributes differ\n got keys %v\nwant keys %v\n got %v\nwant %v", typ,
				slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)), got, want)
		}
	}
}
