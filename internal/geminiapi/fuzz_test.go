package geminiapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzWebhookJSON: any answer decodes or fails without panicking, and a
// decoded secret never shows in the formatted webhook or in the error.
func FuzzWebhookJSON(f *testing.F) {
	f.Add([]byte(`{"id":"a","name":"webhooks/a","uri":"https://x","subscribed_events":["batch.failed"],"new_signing_secret":"whsec_c2VjcmV0c2VjcmV0"}`))
	f.Add([]byte(`{"name":"webhooks/b","newSigningSecret":"whsec_QUJD","signingSecrets":[{"truncatedSecret":"whsec_...QUJD","expireTime":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"new_signing_secret":7}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var w Webhook
		err := json.Unmarshal(b, &w)
		s := w.NewSigningSecret.Reveal()
		if err != nil {
			if s != "" {
				t.Fatal("secret set on a failed decode")
			}
			return
		}
		// The formatted and JSON forms do not depend on the secret at all.
		show := func(w Webhook) string {
			m, _ := json.Marshal(w)
			return fmt.Sprintf("%v %+v %#v %s %s", w, w, &w, w.NewSigningSecret, m)
		}
		without := w
		without.NewSigningSecret = Secret{}
		if s != "" && show(w) != show(without) {
			t.Fatalf("the secret changes the printed webhook: %q", show(w))
		}
	})
}

// FuzzParseError: any error body yields a bounded, single-line message.
func FuzzParseError(f *testing.F) {
	f.Add(403, []byte(`{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`))
	f.Add(502, []byte("<html>\n<body>bad gateway</body></html>"))
	f.Add(500, []byte(strings.Repeat("x", 1000)))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError(status, body)
		if e.Status != status {
			t.Fatal("status lost")
		}
		if e.Code == "" && (len(e.Message) > 204 || strings.ContainsAny(e.Message, "\n\r\t")) {
			t.Fatalf("unbounded message %q", e.Message)
		}
		_ = e.Error()
	})
}
