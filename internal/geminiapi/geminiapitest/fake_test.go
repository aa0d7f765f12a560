package geminiapitest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func do(t *testing.T, s *Server, method, path, key, body string) (int, map[string]any) {
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
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestFakeEnforcesKeyAndRoutes(t *testing.T) {
	s := NewServer("k")
	defer s.Close()
	tests := []struct {
		name, method, path, key, body string
		status                        int
		errStatus                     string
	}{
		{"no key", "GET", "/v1beta/webhooks", "", "", 403, "PERMISSION_DENIED"},
		{"wrong key", "GET", "/v1beta/webhooks", "x", "", 403, "PERMISSION_DENIED"},
		{"other version", "GET", "/v1/webhooks", "k", "", 404, "NOT_FOUND"},
		{"unknown route", "PUT", "/v1beta/webhooks/a", "k", "", 404, "NOT_FOUND"},
		{"http uri", "POST", "/v1beta/webhooks", "k", `{"uri":"http://x","subscribed_events":["a"]}`, 400, "INVALID_ARGUMENT"},
		{"no events", "POST", "/v1beta/webhooks", "k", `{"uri":"https://x"}`, 400, "INVALID_ARGUMENT"},
		{"bad json", "POST", "/v1beta/webhooks", "k", `{`, 400, "INVALID_ARGUMENT"},
		{"uppercase revocation", "POST", "/v1beta/webhooks/a:rotateSigningSecret", "k", `{"revocation_behavior":"REVOKE_PREVIOUS_SECRETS_AFTER_H24"}`, 400, "INVALID_ARGUMENT"},
		{"bad page token", "GET", "/v1beta/webhooks?page_token=zz", "k", "", 400, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := do(t, s, tt.method, tt.path, tt.key, tt.body)
			e, _ := m["error"].(map[string]any)
			if code != tt.status || e["status"] != tt.errStatus || e["code"] != float64(tt.status) || e["message"] == "" {
				t.Fatalf("got %d %v", code, m)
			}
		})
	}
}

func TestFakeCreateWithIDAndCamelCase(t *testing.T) {
	s := NewServer("k")
	defer s.Close()
	s.CamelCase, s.OmitID = true, true
	code, m := do(t, s, "POST", "/v1beta/webhooks?webhook_id=mine", "k", `{"name":"n","uri":"https://x","subscribed_events":["a"]}`)
	if code != 200 || m["name"] != "webhooks/mine" || m["id"] != nil || !strings.HasPrefix(m["newSigningSecret"].(string), "whsec_") || m["subscribedEvents"] == nil {
		t.Fatalf("create %d %v", code, m)
	}
	if code, _ := do(t, s, "POST", "/v1beta/webhooks?webhook_id=mine", "k", `{"uri":"https://y","subscribed_events":["a"]}`); code != 409 {
		t.Fatalf("duplicate id: %d", code)
	}
	code, m = do(t, s, "GET", "/v1beta/webhooks/mine", "k", "")
	if code != 200 || m["newSigningSecret"] != nil {
		t.Fatalf("get shows the secret again: %v", m)
	}
	if w, ok := s.Webhook("mine"); !ok || w.DisplayName != "n" || len(w.Secrets) != 1 {
		t.Fatalf("stored %+v", w)
	}
}
