package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

// TestPingThroughTheFunction closes the loop that TestPingWaitsForTheDelivery
// stubs: Gemini's ping (the fake) is delivered, signed, to the real function
// (the built binary running serve), which publishes it to the other topic,
// where 'geminihook ping' must see it arrive.
func TestPingThroughTheFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := soak.Build(ctx, t.TempDir()) // before the env below empties PATH
	if err != nil {
		t.Fatal(err)
	}
	e := newMgmtEnv(t)
	secret, err := verify.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	fn, err := soak.Serve(ctx, bin, map[string]string{
		"GOOGLE_CLOUD_PROJECT":    testProject,
		"PUBSUB_EMULATOR_HOST":    e.ps.Addr,
		"GEMINI_WEBHOOK_SECRET":   secret,
		"GEMINI_DYNAMIC_WEBHOOKS": "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Kill()

	id, _ := e.gemini.AddWebhook("loop", fn.URL, []string{"batch.succeeded"})
	delivered := make(chan int, 1)
	e.gemini.OnPing = func(hook, uri string) {
		// What Gemini does on a ping: a signed POST to the webhook's URI.
		// The ping's body is undocumented; any well-formed unknown type
		// goes to the other topic.
		body := []byte(`{"type":"webhook.ping","version":"v1","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `","data":{"id":"` + hook + `"}}`)
		req, _ := http.NewRequest(http.MethodPost, uri, bytes.NewReader(body))
		for k, v := range verify.SignHeaders(verify.MustParseSecret(secret), "msg_ping_loop", time.Now(), body) {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("deliver ping: %v", err)
			delivered <- 0
			return
		}
		resp.Body.Close()
		delivered <- resp.StatusCode
	}
	out := e.mustRun(append(append([]string{"ping"}, e.apiFlags()...), "--wait", "30s", id)...)
	if status := <-delivered; status != http.StatusOK {
		t.Fatalf("the function answered the ping %d\n%s", status, fn.Output())
	}
	if !strings.Contains(out, "delivered to projects/proj/topics/gemini-other:") || !strings.Contains(out, "webhook.ping") || !strings.Contains(out, "id=msg_ping_loop") {
		t.Fatalf("ping did not see the delivery:\n%s\nfunction output:\n%s", out, fn.Output())
	}
	if strings.Contains(fn.Output(), secret) || strings.Contains(out, secret) {
		t.Fatal("the signing secret was printed")
	}
}
