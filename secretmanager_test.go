package geminihook

import (
	"context"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
)

// TestOneSecretManagerClient: with the webhook secret and the Gemini API
// key both in Secret Manager, the function reads both through one client
// (one connection to the server) and closes it once.
func TestOneSecretManagerClient(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{})
	h.seed("batch.succeeded", 1, true)
	h.wantAnswer(h.deliver("msg_hmac", "batch.succeeded", 1, false), 200, resultPublished, "")
	if e, _ := h.published(events.FamilyBatch); !e.Confirmed {
		t.Fatal("the delivery was not confirmed: the API key was not read")
	}
	if n := h.sm.Calls("ListSecretVersions") + h.sm.Calls("AccessSecretVersion"); n < 2 {
		t.Fatalf("%d Secret Manager calls, want the webhook secret and the API key read", n)
	}
	if n := h.sm.Connections(); n != 1 {
		t.Errorf("%d connections to Secret Manager, want 1 shared client", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Closing a client twice fails (grpc: the client connection is closing).
	if err := h.fn.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestSecretManagerClientOnlyWhenNeeded: a literal webhook secret and a
// literal API key create no Secret Manager client at all.
func TestSecretManagerClientOnlyWhenNeeded(t *testing.T) {
	raw := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := newConfirmHarness(t, "all", harnessOptions{env: map[string]string{
		"GEMINI_WEBHOOK_SECRET": raw, "GEMINI_API_KEY_SECRET": "literal:" + testAPIKey,
	}})
	s, err := h.fn.server(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.sm != nil {
		t.Error("a Secret Manager client exists though no secret comes from Secret Manager")
	}
	if n := h.sm.Connections(); n != 0 {
		t.Errorf("%d connections to Secret Manager, want none", n)
	}
}
