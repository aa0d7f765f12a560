package geminihook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/events"
)

// TestQuarantineReasonAgrees sends every malformed golden body of events
// as an authentic delivery and checks that the three places naming why it
// was quarantined agree: the answer's log line field "reason" (which the
// quarantined-deliveries metric extracts as its label, see
// terraform/monitoring.tf: EXTRACT(jsonPayload.reason)) and the message's
// quarantine_reason attribute on Pub/Sub.
func TestQuarantineReasonAgrees(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	paths, err := filepath.Glob(filepath.Join("events", "testdata", "cases", "malformed-*.json"))
	if err != nil || len(paths) < 10 {
		t.Fatalf("found %d malformed cases: %v", len(paths), err)
	}
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		id := "msg_" + strings.TrimSuffix(filepath.Base(p), ".json")
		res := h.do(h.hmacRequest(id, body, h.secret))
		if a := decodeAnswer(t, res); res.status != 200 || a.Result != resultQuarantined {
			t.Fatalf("%s: answer %d %s", p, res.status, res.body)
		}
	}
	h.ps.Wait()
	attr := map[string]string{}
	for _, m := range h.messages(events.FamilyQuarantine) {
		attr[m.Attributes[events.AttrWebhookID]] = m.Attributes[events.AttrQuarantineReason]
	}
	logged := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["message"] == "delivery" {
			logged[str(m["webhook_id"])] = str(m["reason"])
		}
	}
	if len(attr) != len(paths) || len(logged) != len(paths) {
		t.Fatalf("%d cases, %d quarantine messages, %d delivery lines", len(paths), len(attr), len(logged))
	}
	for id, reason := range attr {
		if reason == "" || reason == events.ReasonUnclassified || logged[id] != reason {
			t.Errorf("%s: attribute %q, log reason %q", id, reason, logged[id])
		}
	}
}
