package geminihook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/verify"
)

func newTestLogger(w io.Writer) *slog.Logger { return logging.New(w, slog.LevelDebug) }

func decodeAnswer(t *testing.T, r response) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatalf("answer %q is not JSON: %v", r.body, err)
	}
	return a
}

// TestEveryEventTypeBothSchemes sends every catalog type through HMAC and
// JWT and checks each lands, normalized, on its family topic.
func TestEveryEventTypeBothSchemes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	n := 0
	for _, scheme := range []string{"hmac", "jwt"} {
		for i, typ := range samples.Types {
			id := fmt.Sprintf("msg_%s_%d", scheme, i)
			body := h.sample(typ, i)
			var r request
			if scheme == "hmac" {
				r = h.hmacRequest(id, body, h.secret)
			} else {
				r = h.jwtRequest(id, body, nil)
			}
			res := h.do(r)
			if res.status != http.StatusOK {
				t.Fatalf("%s %s: status %d %s", scheme, typ, res.status, res.body)
			}
			a := decodeAnswer(t, res)
			family := strings.SplitN(typ, ".", 2)[0]
			if a.Result != resultPublished || a.ID != id || a.Family != family {
				t.Errorf("%s %s: answer %+v", scheme, typ, a)
			}
			n++
			msgs := h.messages(events.Family(family))
			m := msgs[len(msgs)-1]
			e, err := events.Decode(events.Message{Data: m.Data, Attributes: m.Attributes})
			if err != nil {
				t.Fatalf("%s %s: decode: %v", scheme, typ, err)
			}
			if e.ID != id || e.Type != typ || e.SignatureScheme != scheme || string(e.Payload) != string(body) || e.Resource == "" {
				t.Errorf("%s %s: event %+v", scheme, typ, e)
			}
			if m.Attributes["webhook_id"] != id || m.Attributes["signature_scheme"] != scheme || m.Attributes["ce-specversion"] != "1.0" {
				t.Errorf("%s %s: attributes %v", scheme, typ, m.Attributes)
			}
		}
	}
	if h.total() != n {
		t.Fatalf("%d messages for %d deliveries", h.total(), n)
	}
}

// TestStatusContract covers every answer of the contract with its body,
// headers and publish count.
func TestStatusContract(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_MAX_BODY_BYTES": "2048"}})
	body := h.sample("batch.succeeded", 1)
	valid := func(id string) request { return h.hmacRequest(id, body, h.secret) }
	other := verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

	cases := []struct {
		name    string
		req     request
		status  int
		reason  string
		publish int
	}{
		{"published", valid("msg_ok"), 200, "", 1},
		{"duplicate", valid("msg_ok"), 200, "", 0},
		{"GET", request{method: http.MethodGet}, 405, "method_not_allowed", 0},
		{"PUT signed", func() request { r := valid("msg_put"); r.method = http.MethodPut; return r }(), 405, "method_not_allowed", 0},
		{"too large", h.hmacRequest("msg_big", []byte(`{"type":"batch.succeeded","pad":"`+strings.Repeat("x", 3000)+`"}`), h.secret), 413, "body_too_large", 0},
		{"no headers", request{body: body}, 400, "missing_header", 0},
		{"no id", func() request { r := valid("msg_x"); r.header.Del(verify.HeaderID); return r }(), 400, "missing_header", 0},
		{"bad timestamp", func() request { r := valid("msg_x"); r.header.Set(verify.HeaderTimestamp, "soon"); return r }(), 400, "malformed_header", 0},
		{"signature neither scheme", func() request { r := valid("msg_x"); r.header.Set(verify.HeaderSignature, "sha256=abc"); return r }(), 400, "malformed_header", 0},
		{"wrong secret", h.hmacRequest("msg_wrong", body, other), 401, "no_matching_signature", 0},
		{"tampered body", func() request {
			r := valid("msg_t")
			r.body = []byte(strings.Replace(string(body), "batch-000001", "batch-000002", 1))
			return r
		}(), 401, "no_matching_signature", 0},
		{"old", func() request {
			r := valid("msg_old")
			r.header = verify.SignHeaders(h.secret, "msg_old", h.clock.Now().Add(-6*time.Minute), body)
			return r
		}(), 401, "timestamp_too_old", 0},
		{"future", func() request {
			r := valid("msg_new")
			r.header = verify.SignHeaders(h.secret, "msg_new", h.clock.Now().Add(6*time.Minute), body)
			return r
		}(), 401, "timestamp_too_new", 0},
		{"jwt wrong audience", h.jwtRequest("msg_aud", body, map[string]any{"aud": "https://elsewhere.example"}), 401, "audience_mismatch", 0},
		{"jwt expired", h.jwtRequest("msg_exp", body, map[string]any{"exp": h.clock.Now().Add(-time.Hour).Unix()}), 401, "invalid_token", 0},
		{"quarantined", h.hmacRequest("msg_q", []byte(`{"type":"batch.succeeded","version":"v9","data":{}}`), h.secret), 200, "", 1},
		{"unknown type", h.hmacRequest("msg_ping", []byte(`{"type":"webhook.ping","version":"v1","data":{}}`), h.secret), 200, "", 1},
	}
	for _, tc := range cases {
		before := h.total()
		res := h.do(tc.req)
		if res.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, res.status, tc.status, res.body)
			continue
		}
		if got := h.total() - before; got != tc.publish {
			t.Errorf("%s: %d messages published, want %d", tc.name, got, tc.publish)
		}
		a := decodeAnswer(t, res)
		if a.Reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, a.Reason, tc.reason)
		}
		if ct := res.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		if tc.status == 405 && res.header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q, want POST", tc.name, res.header.Get("Allow"))
		}
		if tc.status == 410 {
			t.Errorf("%s: 410 disables the endpoint at the sender", tc.name)
		}
		if tc.status < 300 && res.header.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After on a success", tc.name)
		}
	}
	if n := len(h.messages(events.FamilyQuarantine)); n != 1 {
		t.Errorf("quarantine topic holds %d messages, want 1", n)
	} else if m := h.messages(events.FamilyQuarantine)[0]; string(m.Data) != `{"type":"batch.succeeded","version":"v9","data":{}}` || m.Attributes["quarantine_reason"] == "" {
		t.Errorf("quarantine message %q %v: want the raw body and a reason", m.Data, m.Attributes)
	}
	if n := len(h.messages(events.FamilyOther)); n != 1 {
		t.Errorf("other topic holds %d messages, want 1", n)
	}
	// The quarantine line carries the stable reason the metric counts.
	if !strings.Contains(h.logs.String(), `"result":"quarantined","status":200`) ||
		!strings.Contains(h.logs.String(), `"reason":"unsupported_version"`) {
		t.Errorf("no quarantine log line with reason unsupported_version:\n%s", h.logs.String())
	}
}

// TestPublishFailureNeverAnswers200 injects Pub/Sub failures and checks no
// delivery is acknowledged unless its message was stored, then that the
// retry after recovery publishes it.
func TestPublishFailureNeverAnswers200(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	for _, tc := range []struct {
		name  string
		err   error
		delay time.Duration
	}{
		{"refused", status.Error(codes.PermissionDenied, "injected"), 0},
		{"unavailable until the deadline", status.Error(codes.Unavailable, "injected"), 0},
		{"slower than the deadline", nil, 2500 * time.Millisecond},
	} {
		h.publish.set(tc.err, tc.delay)
		id := "msg_" + strings.ReplaceAll(tc.name, " ", "_")
		body := h.sample("batch.succeeded", 7)
		before := h.total()
		res := h.do(h.hmacRequest(id, body, h.secret))
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Fatalf("%s: status %d Retry-After %q, want 503 with Retry-After", tc.name, res.status, res.header.Get("Retry-After"))
		}
		if a := decodeAnswer(t, res); a.Reason != "publish_failed" {
			t.Errorf("%s: reason %q", tc.name, a.Reason)
		}
		if tc.delay == 0 && h.total() != before {
			t.Fatalf("%s: a message was stored although the publish failed", tc.name)
		}
		h.publish.set(nil, 0)
		h.ps.Wait()
		stored := h.total() - before
		// A publish that ended unanswered keeps its claim until the
		// client's own answer comes (#13.3): a retry meanwhile is busy.
		res = h.do(h.hmacRequest(id, body, h.secret))
		for i := 0; i < 100 && res.status == http.StatusServiceUnavailable && decodeAnswer(t, res).Reason == "busy"; i++ {
			time.Sleep(20 * time.Millisecond)
			res = h.do(h.hmacRequest(id, body, h.secret))
		}
		if res.status != http.StatusOK {
			t.Fatalf("%s: retry after recovery: %d %s", tc.name, res.status, res.body)
		}
		// The slow publish may have landed late (at-least-once): the retry
		// then publishes again, which consumers dedupe on the webhook id.
		if got := h.total() - before; got != stored+1 {
			t.Fatalf("%s: %d messages after the retry, want %d", tc.name, got, stored+1)
		}
	}
}

// TestConcurrentDuplicatesPublishOnce sends one delivery many times at once.
func TestConcurrentDuplicatesPublishOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	r := h.hmacRequest("msg_dup", h.sample("video.generated", 3), h.secret)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() { statuses[i] = h.do(r).status })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: %d", i, s)
		}
	}
	if n := len(h.messages(events.FamilyVideo)); n != 1 {
		t.Fatalf("%d messages for one webhook-id, want 1", n)
	}
}

// TestRotation: two enabled versions both verify; a version added while
// serving is picked up on the first miss; a disabled version stops working
// once the keys are re-read.
func TestRotation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	oldKey := h.secret
	oldVersion := h.sm.Versions(testSecret)[0].GetName()
	h.addSecretVersion()
	newKey := h.secret
	body := h.sample("batch.succeeded", 1)
	for i, k := range []verify.Secret{oldKey, newKey} {
		if res := h.do(h.hmacRequest(fmt.Sprintf("msg_both_%d", i), body, k)); res.status != 200 {
			t.Fatalf("key %d of two enabled versions: %d %s", i, res.status, res.body)
		}
	}
	// Rotation while serving: a third version, used at once by the sender.
	h.clock.Add(time.Minute) // past the re-read interval
	h.addSecretVersion()
	listsBefore := h.sm.Calls("ListSecretVersions")
	if res := h.do(h.hmacRequest("msg_rotated", body, h.secret)); res.status != 200 {
		t.Fatalf("new version added while serving: %d %s", res.status, res.body)
	}
	if got := h.sm.Calls("ListSecretVersions") - listsBefore; got != 1 {
		t.Errorf("the miss re-read the versions %d times, want 1", got)
	}
	// A forged flood right after does not re-read again (rate limit).
	listsBefore = h.sm.Calls("ListSecretVersions")
	forged := verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	for i := range 50 {
		if res := h.do(h.hmacRequest(fmt.Sprintf("msg_forged_%d", i), body, forged)); res.status != 401 {
			t.Fatalf("forged delivery: %d", res.status)
		}
	}
	if got := h.sm.Calls("ListSecretVersions") - listsBefore; got != 0 {
		t.Errorf("50 forged deliveries caused %d re-reads within the interval, want 0", got)
	}
	// Disable the oldest version; after the TTL it is no longer accepted.
	if err := h.sm.SetState(oldVersion, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	// Past the TTL the cached keys still answer at once while a re-read
	// runs in the background; once it is done the old version is gone.
	h.clock.Add(6 * time.Minute)
	if res := h.do(h.hmacRequest("msg_newest", body, h.secret)); res.status != 200 {
		t.Fatalf("newest version: %d", res.status)
	}
	h.fn.srv.secrets.Wait()
	if res := h.do(h.hmacRequest("msg_old_disabled", body, oldKey)); res.status != 401 {
		t.Fatalf("disabled version still accepted after the re-read: %d", res.status)
	}
}

// TestSecretManagerDown: before the first load deliveries get 503; after a
// load, the cached keys keep serving through an outage.
func TestSecretManagerDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := h.sample("interaction.completed", 1)
	h.sm.Fail("", status.Error(codes.Unavailable, "injected outage"))
	res := h.do(h.hmacRequest("msg_cold", body, h.secret))
	if res.status != 503 || res.header.Get("Retry-After") == "" || decodeAnswer(t, res).Reason != "key_set_unavailable" {
		t.Fatalf("outage before the first load: %d %s, want 503 key_set_unavailable", res.status, res.body)
	}
	if h.total() != 0 {
		t.Fatal("published without keys")
	}
	h.sm.Recover()
	h.clock.Add(5 * time.Second) // past the empty-keyring retry interval
	if res := h.do(h.hmacRequest("msg_cold", body, h.secret)); res.status != 200 {
		t.Fatalf("after recovery: %d %s", res.status, res.body)
	}
	h.sm.Fail("", status.Error(codes.Unavailable, "injected outage"))
	h.clock.Add(10 * time.Minute) // keys are stale: the re-read fails
	if res := h.do(h.hmacRequest("msg_warm", body, h.secret)); res.status != 200 {
		t.Fatalf("outage after warm-up: %d %s, want cached keys to serve", res.status, res.body)
	}
	// Checksum corruption is a failed read too: cached keys keep serving.
	h.sm.Recover()
	h.sm.CorruptCRC32C(true)
	h.clock.Add(10 * time.Minute)
	if res := h.do(h.hmacRequest("msg_crc", body, h.secret)); res.status != 200 {
		t.Fatalf("corrupt checksum after warm-up: %d %s", res.status, res.body)
	}
}

// TestCorruptChecksumRejected: a payload whose CRC32C does not match is
// never used as a key.
func TestCorruptChecksumRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.sm.CorruptCRC32C(true)
	res := h.do(h.hmacRequest("msg_crc", h.sample("batch.failed", 1), h.secret))
	if res.status != 503 {
		t.Fatalf("only a corrupt version: %d %s, want 503", res.status, res.body)
	}
}

// TestConfiguredAudienceAndIssuer uses GEMINI_JWT_AUDIENCE and ISSUER.
func TestConfiguredAudienceAndIssuer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{env: map[string]string{
		"GEMINI_JWT_AUDIENCE": "https://hooks.example.com/gemini, other",
		"GEMINI_JWT_ISSUER":   "https://accounts.google.com",
	}})
	body := h.sample("batch.succeeded", 1)
	ok := h.jwtRequest("msg_1", body, map[string]any{"aud": "https://hooks.example.com/gemini", "iss": "https://accounts.google.com"})
	if res := h.do(ok); res.status != 200 {
		t.Fatalf("configured audience: %d %s", res.status, res.body)
	}
	if res := h.do(h.jwtRequest("msg_2", body, map[string]any{"aud": "https://hooks.example.com/gemini"})); res.status != 401 {
		t.Fatalf("missing issuer: %d", res.status)
	}
	if res := h.do(h.jwtRequest("msg_3", body, map[string]any{"iss": "https://accounts.google.com"})); res.status != 401 {
		t.Fatalf("the request's own URL as audience: %d, want 401", res.status)
	}
}

// TestSchemesSwitchedOff: dynamic webhooks off rejects JWTs; no secret
// rejects HMAC.
func TestSchemesSwitchedOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_DYNAMIC_WEBHOOKS": "off"}})
	body := h.sample("batch.succeeded", 1)
	if res := h.do(h.jwtRequest("msg_j", body, nil)); res.status != 401 || decodeAnswer(t, res).Reason != "scheme_disabled" {
		t.Fatalf("JWT with dynamic webhooks off: %d %s", res.status, res.body)
	}
	if h.jwks.Fetches() != 0 {
		t.Fatal("JWKS fetched although dynamic webhooks are off")
	}
	h2 := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_WEBHOOK_SECRET": ""}})
	if res := h2.do(h2.hmacRequest("msg_h", body, h2.secret)); res.status != 401 || decodeAnswer(t, res).Reason != "scheme_disabled" {
		t.Fatalf("HMAC without a secret: %d %s", res.status, res.body)
	}
	if res := h2.do(h2.jwtRequest("msg_j", body, nil)); res.status != 200 {
		t.Fatalf("JWT without a secret: %d %s", res.status, res.body)
	}
}

// TestJWKSUnavailable: no key material at all is 503, not 401.
func TestJWKSUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.jwks.Fail(http.StatusInternalServerError)
	res := h.do(h.jwtRequest("msg_j", h.sample("batch.succeeded", 1), nil))
	if res.status != 503 || decodeAnswer(t, res).Reason != "key_set_unavailable" {
		t.Fatalf("JWKS down with nothing cached: %d %s", res.status, res.body)
	}
}

// TestLiteralSecrets: a whsec_ list in the environment, for local use.
func TestLiteralSecrets(t *testing.T) {
	t.Parallel()
	a, _ := verify.GenerateSecret()
	b, _ := verify.GenerateSecret()
	h := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_WEBHOOK_SECRET": a + " " + b}})
	body := h.sample("batch.succeeded", 1)
	for i, s := range []string{a, b} {
		if res := h.do(h.hmacRequest(fmt.Sprint("msg_", i), body, verify.MustParseSecret(s))); res.status != 200 {
			t.Fatalf("literal secret %d: %d %s", i, res.status, res.body)
		}
	}
	if h.sm.Calls("ListSecretVersions")+h.sm.Calls("AccessSecretVersion") != 0 {
		t.Fatal("Secret Manager called with literal secrets")
	}
	assertNoLeak(t, "logs", h.logs.String(), a, b)
}

// TestBadConfigurationIs503: the function never exits; every delivery is
// answered 503 so nothing is lost until the configuration is fixed, and
// the log names every problem at once.
func TestBadConfigurationIs503(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{env: map[string]string{
		"GOOGLE_CLOUD_PROJECT":       "",
		"GEMINI_TIMESTAMP_TOLERANCE": "forever",
		"GEMINI_TOPIC_PREFIX":        "9bad",
	}})
	res := h.do(h.hmacRequest("msg_1", h.sample("batch.succeeded", 1), h.secret))
	if res.status != 503 || res.header.Get("Retry-After") == "" {
		t.Fatalf("bad configuration: %d, want 503", res.status)
	}
	logs := h.logs.String()
	for _, v := range []string{"GOOGLE_CLOUD_PROJECT", "GEMINI_TIMESTAMP_TOLERANCE", "GEMINI_TOPIC_PREFIX"} {
		if !strings.Contains(logs, v) {
			t.Errorf("log does not name %s: %s", v, logs)
		}
	}
	checkSingleLineFields(t, logs) // three problems, one line
	// Fixing the environment needs no restart of the instance's handler.
	h.env["GOOGLE_CLOUD_PROJECT"] = testProject
	delete(h.env, "GEMINI_TIMESTAMP_TOLERANCE")
	delete(h.env, "GEMINI_TOPIC_PREFIX")
	if res := h.do(h.hmacRequest("msg_1", h.sample("batch.succeeded", 1), h.secret)); res.status != 200 {
		t.Fatalf("after the fix: %d %s", res.status, res.body)
	}
}

// TestLogsOneLinePerDeliveryWithoutSecrets reads the log lines.
func TestLogsOneLinePerDeliveryWithoutSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := h.sample("batch.failed", 1)
	ok := h.hmacRequest("msg_log_ok", body, h.secret)
	bad := h.hmacRequest("msg_log_bad", body, verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	jwt := h.jwtRequest("msg_log_jwt", body, map[string]any{"aud": "https://wrong.example"})
	ok.header.Set("X-Cloud-Trace-Context", "4bf92f3577b34da6a3ce929d0e0e4736/1;o=1")
	for _, r := range []request{ok, bad, jwt} {
		h.do(r)
	}
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	var deliveries []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["message"] == "delivery" {
			deliveries = append(deliveries, m)
		}
	}
	if len(deliveries) != 3 {
		t.Fatalf("%d delivery lines for 3 deliveries", len(deliveries))
	}
	want := []struct{ result, reason, id, scheme string }{
		{"published", "", "msg_log_ok", "hmac"},
		{"rejected", "no_matching_signature", "", "hmac"},
		{"rejected", "audience_mismatch", "", "jwt"},
	}
	for i, w := range want {
		d := deliveries[i]
		if d["result"] != w.result || str(d["reason"]) != w.reason || str(d["webhook_id"]) != w.id || d["scheme"] != w.scheme || d["latency_ms"] == nil || d["status"] == nil {
			t.Errorf("line %d: %v, want %+v", i, d, w)
		}
	}
	if deliveries[0]["event_type"] != "batch.failed" || deliveries[0][logging.TraceKey] != "projects/test-project/traces/4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("published line lacks event type or trace: %v", deliveries[0])
	}
	logs := h.logs.String()
	assertNoLeak(t, "logs", logs, string(body), ok.header.Get(verify.HeaderSignature),
		strings.TrimPrefix(ok.header.Get(verify.HeaderSignature), "v1,"),
		bad.header.Get(verify.HeaderSignature), jwt.header.Get(verify.HeaderSignature))
	for _, s := range h.secretPayloads() {
		assertNoLeak(t, "logs", logs, s, strings.TrimPrefix(s, "whsec_"))
	}
}

// secretPayloads returns every secret version's payload.
func (h *harness) secretPayloads() []string {
	var out []string
	for _, v := range h.sm.Versions(testSecret) {
		out = append(out, string(h.sm.Payload(v.GetName())))
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestShutdownDrains: deliveries in flight finish and are published;
// deliveries after Shutdown get 503.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.publish.set(nil, 300*time.Millisecond)
	body := h.sample("batch.succeeded", 1)
	var wg sync.WaitGroup
	statuses := make([]int, 5)
	for i := range statuses {
		r := h.hmacRequest(fmt.Sprint("msg_inflight_", i), body, h.secret)
		wg.Go(func() { statuses[i] = h.do(r).status })
	}
	time.Sleep(100 * time.Millisecond) // let them reach the publish
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.fn.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	if ok != len(h.ps.Messages()) {
		t.Fatalf("%d answered 200 but %d published", ok, len(h.ps.Messages()))
	}
	if ok == 0 {
		t.Fatal("no delivery in flight finished")
	}
	if res := h.do(h.hmacRequest("msg_late", body, h.secret)); res.status != 503 || decodeAnswer(t, res).Reason != "shutting_down" {
		t.Fatalf("after shutdown: %d %s", res.status, res.body)
	}
}
