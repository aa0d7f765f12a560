package geminiapitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

	"github.com/geminihook/geminihook/internal/geminiapi"
	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func sdk(t *testing.T, s *geminiapitest.Server, key string) *interactions.Webhooks {
	t.Helper()
	api, err := geminiapi.New(ctx(t), key, geminiapi.Options{BaseURL: s.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// raw sends a request the SDK would never send, and returns the status and
// decoded JSON answer.
func raw(t *testing.T, s *geminiapitest.Server, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer is not JSON: %q", b)
	}
	return resp.StatusCode, m
}

func TestFakeRefusesWhatTheAPIRefuses(t *testing.T) {
	s := geminiapitest.NewServer("k")
	defer s.Close()
	id, _ := s.AddWebhook("", "https://x.example/", []string{"batch.failed"})
	tests := []struct {
		name, method, path, key, body string
		status                        int
		errStatus, msg                string
	}{
		{"no key", "GET", "/v1beta/webhooks", "", "", 403, "PERMISSION_DENIED", "unregistered callers"},
		{"wrong key", "GET", "/v1beta/webhooks", "x", "", 400, "INVALID_ARGUMENT", "API key not valid"},
		{"other version", "GET", "/v1/webhooks", "k", "", 404, "NOT_FOUND", "not found"},
		{"unknown route", "PUT", "/v1beta/webhooks/a", "k", "", 404, "NOT_FOUND", "not found"},
		{"camelCase key", "POST", "/v1beta/webhooks", "k", `{"uri":"https://x","subscribedEvents":["batch.failed"]}`, 400, "INVALID_ARGUMENT", `Unknown name "subscribedEvents"`},
		{"output-only id", "POST", "/v1beta/webhooks", "k", `{"id":"mine","uri":"https://x","subscribed_events":["batch.failed"]}`, 400, "INVALID_ARGUMENT", `Unknown name "id"`},
		{"case-folded key", "POST", "/v1beta/webhooks", "k", `{"URI":"https://x","subscribed_events":["batch.failed"]}`, 400, "INVALID_ARGUMENT", `Unknown name "URI"`},
		{"cancelled event", "POST", "/v1beta/webhooks", "k", `{"uri":"https://x","subscribed_events":["batch.cancelled"]}`, 400, "INVALID_ARGUMENT", "batch.succeeded, batch.expired, batch.failed, interaction.requires_action, interaction.completed, interaction.failed, video.generated"},
		{"http uri", "POST", "/v1beta/webhooks", "k", `{"uri":"http://x","subscribed_events":["batch.failed"]}`, 400, "INVALID_ARGUMENT", "https"},
		{"no events", "POST", "/v1beta/webhooks", "k", `{"uri":"https://x"}`, 400, "INVALID_ARGUMENT", "subscribed_events"},
		{"bad json", "POST", "/v1beta/webhooks", "k", `{`, 400, "INVALID_ARGUMENT", "Invalid JSON"},
		{"uppercase revocation", "POST", "/v1beta/webhooks/" + id + ":rotateSigningSecret", "k", `{"revocation_behavior":"REVOKE_PREVIOUS_SECRETS_AFTER_H24"}`, 400, "INVALID_ARGUMENT", "RevocationBehavior"},
		{"camelCase revocation key", "POST", "/v1beta/webhooks/" + id + ":rotateSigningSecret", "k", `{"revocationBehavior":"revoke_previous_secrets_after_h24"}`, 400, "INVALID_ARGUMENT", `Unknown name "revocationBehavior"`},
		{"unknown state", "PATCH", "/v1beta/webhooks/" + id + "?update_mask=state", "k", `{"state":"paused"}`, 400, "INVALID_ARGUMENT", "WebhookUpdateState"},
		{"unknown mask", "PATCH", "/v1beta/webhooks/" + id + "?update_mask=id", "k", `{}`, 400, "INVALID_ARGUMENT", "update_mask"},
		{"bad page token", "GET", "/v1beta/webhooks?page_token=zz", "k", "", 400, "INVALID_ARGUMENT", "page token"},
		{"missing", "GET", "/v1beta/webhooks/nope", "k", "", 404, "NOT_FOUND", "Webhook not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := raw(t, s, tt.method, tt.path, tt.key, tt.body)
			e, _ := m["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if code != tt.status || e["status"] != tt.errStatus || e["code"] != float64(tt.status) || !strings.Contains(msg, tt.msg) {
				t.Fatalf("got %d %v, want %d %s %q", code, m, tt.status, tt.errStatus, tt.msg)
			}
		})
	}
	if n := len(s.Webhooks()); n != 1 {
		t.Fatalf("a refused request created a webhook: %d", n)
	}
}

func TestFakeSpeaksTheLaunchedShapeThroughTheSDK(t *testing.T) {
	s := geminiapitest.NewServer("k")
	defer s.Close()
	api := sdk(t, s, "k")
	name := "prod"
	// A pre-launch client's webhook_id would be ignored, as the API does.
	created, err := api.Create(ctx(t), operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		Name: &name, URI: "https://fn.example/", SubscribedEvents: geminiapitest.SubscribableEvents,
	}}, geminiapi.NoRetry())
	if err != nil {
		t.Fatal(err)
	}
	w := created.GetWebhook()
	if w.ID == nil || strings.Contains(*w.ID, "/") || len(*w.ID) != 36 || w.GetName() == nil || *w.Name != "prod" {
		t.Fatalf("id %v name %v", w.ID, w.Name)
	}
	if w.NewSigningSecret == nil || !strings.HasPrefix(*w.NewSigningSecret, "whsec_") || *w.State != webhooks.WebhookStateEnabled || w.CreateTime == nil {
		t.Fatalf("create answer %+v", w)
	}
	calls := s.Calls()
	if got := string(calls[len(calls)-1].Body); !strings.Contains(got, `"subscribed_events"`) {
		t.Fatalf("the SDK sent %s", got)
	}

	got, err := api.Get(ctx(t), operations.GetWebhookRequest{ID: *w.ID})
	if err != nil {
		t.Fatal(err)
	}
	g := got.GetWebhook()
	if g.NewSigningSecret != nil || len(g.SigningSecrets) != 1 || !strings.HasPrefix(*g.SigningSecrets[0].TruncatedSecret, "whsec_...") ||
		!strings.HasSuffix(*w.NewSigningSecret, strings.TrimPrefix(*g.SigningSecrets[0].TruncatedSecret, "whsec_...")) {
		t.Fatalf("get answer %+v", g)
	}

	rot, err := api.RotateSigningSecret(ctx(t), operations.RotateSigningSecretRequest{ID: *w.ID, Body: webhooks.RotateSigningSecretRequest{
		RevocationBehavior: webhooks.RevocationBehaviorRevokePreviousSecretsAfterH24.ToPointer(),
	}}, geminiapi.NoRetry())
	if err != nil {
		t.Fatal(err)
	}
	sec := rot.GetWebhookRotateSigningSecretResponse().GetSecret()
	if sec == nil || !strings.HasPrefix(*sec, "whsec_") || *sec == *w.NewSigningSecret {
		t.Fatal("rotate returned no new secret")
	}
	got, _ = api.Get(ctx(t), operations.GetWebhookRequest{ID: *w.ID})
	if ss := got.GetWebhook().SigningSecrets; len(ss) != 2 || ss[0].ExpireTime != nil || ss[1].ExpireTime == nil {
		t.Fatalf("after a graceful rotation: %+v", ss)
	}

	disabled := webhooks.WebhookUpdateStateDisabled
	mask := "state"
	up, err := api.Update(ctx(t), operations.UpdateWebhookRequest{ID: *w.ID, UpdateMask: &mask, Body: webhooks.WebhookUpdate{State: &disabled}})
	if err != nil || *up.GetWebhook().State != webhooks.WebhookStateDisabled {
		t.Fatalf("update: %v", err)
	}

	if _, err := api.Ping(ctx(t), operations.PingWebhookRequest{ID: *w.ID, Body: &webhooks.PingWebhookRequest{}}); err != nil || s.Pings(*w.ID) != 1 {
		t.Fatalf("ping: %v, %d pings", err, s.Pings(*w.ID))
	}
	if _, err := api.Delete(ctx(t), operations.DeleteWebhookRequest{ID: *w.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = api.Get(ctx(t), operations.GetWebhookRequest{ID: *w.ID})
	err = geminiapi.Wrap("get webhook", err)
	if !geminiapi.IsNotFound(err) || err.Error() != "get webhook: 404 NOT_FOUND: Webhook not found." {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestFakeRefusesUnknownEventsThroughTheSDK(t *testing.T) {
	s := geminiapitest.NewServer("k")
	defer s.Close()
	_, err := sdk(t, s, "k").Create(ctx(t), operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		URI: "https://fn.example/", SubscribedEvents: []webhooks.WebhookSubscribedEvent{"interaction.cancelled"},
	}}, geminiapi.NoRetry())
	err = geminiapi.Wrap("create webhook", err)
	if err == nil || !strings.Contains(err.Error(), "400 INVALID_ARGUMENT") || !strings.Contains(err.Error(), "interaction.cancelled") {
		t.Fatalf("got %v", err)
	}
	_, err = sdk(t, s, "wrong").List(ctx(t), operations.ListWebhooksRequest{})
	if err = geminiapi.Wrap("list webhooks", err); err == nil || !strings.Contains(err.Error(), "400 INVALID_ARGUMENT: API key not valid") {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestListAllFollowsPages(t *testing.T) {
	s := geminiapitest.NewServer("k")
	defer s.Close()
	s.PageSize = 2
	var ids []string
	for range 5 {
		id, _ := s.AddWebhook("", "https://x.example/", []string{"batch.failed"})
		ids = append(ids, id)
	}
	all, err := geminiapi.ListAll(ctx(t), sdk(t, s, "k"))
	if err != nil || len(all) != 5 {
		t.Fatalf("%d webhooks, %v", len(all), err)
	}
	for i, w := range all {
		if *w.ID != ids[i] {
			t.Fatalf("webhook %d is %s, want %s", i, *w.ID, ids[i])
		}
	}
	if n := s.CallCount(geminiapitest.OpList); n != 3 {
		t.Fatalf("%d list calls for 5 webhooks in pages of 2", n)
	}
}

func TestNoRetrySendsOnce(t *testing.T) {
	s := geminiapitest.NewServer("k")
	defer s.Close()
	s.Fail(geminiapitest.OpCreate, http.StatusServiceUnavailable, "try later")
	_, err := sdk(t, s, "k").Create(ctx(t), operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		URI: "https://fn.example/", SubscribedEvents: geminiapitest.SubscribableEvents[:1],
	}}, geminiapi.NoRetry())
	if err = geminiapi.Wrap("create webhook", err); err == nil || !strings.Contains(err.Error(), "503 UNAVAILABLE: try later") {
		t.Fatalf("got %v", err)
	}
	if n := s.CallCount(geminiapitest.OpCreate); n != 1 {
		t.Fatalf("create sent %d times", n)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		key string
		o   geminiapi.Options
	}{
		{"", geminiapi.Options{}},
		{"k", geminiapi.Options{APIVersion: "v2"}},
		{"k", geminiapi.Options{BaseURL: "generativelanguage.googleapis.com"}},
	} {
		if _, err := geminiapi.New(context.Background(), tc.key, tc.o); err == nil {
			t.Errorf("New(%q, %+v) accepted", tc.key, tc.o)
		}
	}
}
