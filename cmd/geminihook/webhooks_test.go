package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
)

func TestListWebhooks(t *testing.T) {
	e := newMgmtEnv(t)
	out := e.mustRun(append([]string{"list"}, e.apiFlags()...)...)
	if !strings.Contains(out, "no webhooks registered") {
		t.Fatalf("empty list:\n%s", out)
	}
	e.gemini.PageSize = 1
	id1, _ := e.gemini.AddWebhook("one", "https://one.example/", []string{"batch.failed"})
	id2, _ := e.gemini.AddWebhook("two", "https://two.example/", []string{"video.generated", "batch.succeeded"})
	out = e.mustRun(append([]string{"list"}, e.apiFlags()...)...)
	for _, want := range []string{"ID", id1, id2, "https://two.example/", "video.generated,batch.succeeded", "enabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out = e.mustRun(append([]string{"list", "--json"}, e.apiFlags()...)...)
	var got []struct {
		ID               string   `json:"id"`
		URI              string   `json:"uri"`
		SubscribedEvents []string `json:"subscribed_events"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 || got[1].ID != id2 || len(got[1].SubscribedEvents) != 2 {
		t.Fatalf("json list %v %v:\n%s", got, err, out)
	}
	e.assertNoSecretLeaked()

	t.Setenv(apiKeyEnv, "")
	code, _, errOut := e.run(append([]string{"list"}, e.apiFlags()...)...)
	if code != 1 || !strings.Contains(errOut, "no Gemini API key") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestDeleteWebhook(t *testing.T) {
	e := newMgmtEnv(t)
	id, _ := e.gemini.AddWebhook("one", "https://one.example/", []string{"batch.failed"})
	keep, _ := e.gemini.AddWebhook("two", "https://two.example/", []string{"batch.failed"})
	out := e.mustRun(append(append([]string{"delete"}, e.apiFlags()...), id)...)
	if !strings.Contains(out, "deleted webhook") || !strings.Contains(out, id) {
		t.Fatalf("output:\n%s", out)
	}
	if hooks := e.gemini.Webhooks(); len(hooks) != 1 || hooks[0].ID != keep {
		t.Fatalf("left %v", hooks)
	}
	code, _, errOut := e.run(append(append([]string{"delete"}, e.apiFlags()...), "--webhook", id)...)
	if code != 1 || !strings.Contains(errOut, "404 NOT_FOUND: Webhook not found.") {
		t.Fatalf("second delete: exit %d: %s", code, errOut)
	}
	code, _, _ = e.run(append([]string{"delete"}, e.apiFlags()...)...)
	if code != 2 {
		t.Fatalf("delete without id: exit %d", code)
	}
	if n := e.gemini.CallCount(geminiapitest.OpDelete); n != 1 {
		t.Fatalf("delete calls %d", n)
	}
}

func TestListWithAPIKeyFromSecretManager(t *testing.T) {
	e := newMgmtEnv(t)
	t.Setenv(apiKeyEnv, "")
	e.gemini.AddWebhook("one", "https://one.example/", []string{"batch.failed"})
	keySecret := "projects/proj/secrets/api-key"
	e.sm.AddVersion(keySecret, []byte(testAPIKey))
	out := e.mustRun(append([]string{"list", "--api-key-secret", keySecret}, e.apiFlags()...)...)
	if !strings.Contains(out, "https://one.example/") {
		t.Fatalf("output:\n%s", out)
	}
	code, _, errOut := e.run(append([]string{"list", "--api-key-secret", "projects/proj/secrets/none"}, e.apiFlags()...)...)
	if code != 1 || !strings.Contains(errOut, "read API key: access secret version projects/proj/secrets/none/versions/latest") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = e.run(append([]string{"list", "--api-key-secret", "api-key"}, e.apiFlags()...)...)
	if code != 2 || !strings.Contains(errOut, "--api-key-secret") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(e.output.String(), testAPIKey) {
		t.Fatal("the API key was printed")
	}
}
