package geminihook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genai"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/geminijobs"
	"github.com/geminihook/geminihook/internal/leaktest"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/internal/secrets"
)

const (
	testAPIKeySecret = "projects/test-project/secrets/gemini-api-key"
	testAPIKey       = "AIzaSyTest-0123456789abcdefghijklmnopq"
)

// confirmHarness is the harness with a local Gemini API, served by
// internal/geminijobs under httptest and read by the real SDK, and the API
// key in the harness's Secret Manager.
type confirmHarness struct {
	*harness
	api *geminijobs.Server
}

// newConfirmHarness starts the harness with GEMINI_CONFIRM=mode ("" leaves
// it unset) and the key in Secret Manager. Backoff is short so that
// retries fit a test.
func newConfirmHarness(t testing.TB, mode string, o harnessOptions) *confirmHarness {
	t.Helper()
	api := geminijobs.New(geminijobs.Options{APIKey: testAPIKey})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	env := map[string]string{"GEMINI_API_KEY_SECRET": testAPIKeySecret, "GEMINI_API_BASE_URL": srv.URL, "GEMINI_CONFIRM": mode}
	for k, v := range o.env {
		env[k] = v
	}
	o.env = env
	if o.confirm.MinBackoff == 0 {
		o.confirm.MinBackoff, o.confirm.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	h := newHarness(t, o)
	if err := h.sm.CreateSecret(testAPIKeySecret); err != nil {
		t.Fatal(err)
	}
	h.sm.AddVersion(testAPIKeySecret, []byte(testAPIKey+"\n"))
	return &confirmHarness{harness: h, api: api}
}

// deliver sends a sample of typ about resource n, JWT-signed or HMAC-signed.
func (h *confirmHarness) deliver(id, typ string, n int, jwt bool) response {
	h.t.Helper()
	body := h.sample(typ, n)
	if jwt {
		return h.do(h.jwtRequest(id, body, nil))
	}
	return h.do(h.hmacRequest(id, body, h.secret))
}

// seed makes the API agree (or not) with sample n of typ.
func (h *confirmHarness) seed(typ string, n int, agree bool) {
	h.t.Helper()
	e, err := events.Parse(h.sample(typ, n), events.Meta{ID: "x", ReceivedAt: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := devstack.Seed(h.api, typ, e.Resource, agree); err != nil {
		h.t.Fatal(err)
	}
}

// published decodes the only message on f's topic.
func (h *confirmHarness) published(f events.Family) (events.Event, map[string]string) {
	h.t.Helper()
	ms := h.messages(f)
	if len(ms) != 1 {
		h.t.Fatalf("%d messages on %s, want 1", len(ms), f)
	}
	e, err := events.Decode(events.Message{Data: ms[0].Data, Attributes: ms[0].Attributes})
	if err != nil {
		h.t.Fatal(err)
	}
	return e, ms[0].Attributes
}

func (h *confirmHarness) wantAnswer(r response, status int, result, reason string) {
	h.t.Helper()
	var a answer
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		h.t.Fatalf("answer %q is not JSON: %v", r.body, err)
	}
	if r.status != status || a.Result != result || a.Reason != reason {
		h.t.Fatalf("answered %d %+v, want %d %s %s", r.status, a, status, result, reason)
	}
	if status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
		h.t.Error("503 without Retry-After")
	}
}

// TestConfirmEachFamily confirms one delivery of every confirmable type
// through the real handler: each is published with confirmed, confirmed_at
// and the API's state, and the API's output location wins over the body's
// with the body's kept.
func TestConfirmEachFamily(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{})
	for i, typ := range samples.Types {
		t.Run(typ, func(t *testing.T) {
			h.ps.ClearMessages()
			h.seed(typ, i, true)
			calls := h.api.Calls()
			r := h.deliver(fmt.Sprintf("msg_%d", i), typ, i, i%2 == 0)
			h.wantAnswer(r, 200, resultPublished, "")
			info, _ := events.Lookup(typ)
			e, attrs := h.published(info.Family)
			want, _ := confirm.ExpectedState(typ)
			if !e.Confirmed || e.APIState != want || !e.ConfirmedAt.Equal(h.clock.Now()) {
				t.Errorf("confirmed %v state %q at %v; want %s at %v", e.Confirmed, e.APIState, e.ConfirmedAt, want, h.clock.Now())
			}
			if attrs[events.AttrConfirmed] != "true" || attrs[events.AttrAPIState] != want {
				t.Errorf("attributes %v", attrs)
			}
			if got := h.api.Calls() - calls; got != 1 {
				t.Errorf("%d API calls, want 1", got)
			}
			body, _ := events.Parse(h.sample(typ, i), events.Meta{ID: "x"})
			switch typ {
			case "batch.succeeded":
				if !strings.HasPrefix(e.OutputURI, "files/") || e.BodyOutputURI != body.OutputURI {
					t.Errorf("output_uri %q body_output_uri %q; want the API's files/ name and the body's %q", e.OutputURI, e.BodyOutputURI, body.OutputURI)
				}
			case "batch.failed":
				// The SDK reads no batch error: the body's stands alone.
				if e.Error == nil || *e.Error != *body.Error || e.BodyError != nil {
					t.Errorf("error %v body_error %v", e.Error, e.BodyError)
				}
			}
		})
	}
	if !strings.Contains(h.logs.String(), `"confirmed":true`) {
		t.Error("no delivery log line says confirmed")
	}
	assertNoLeak(t, "logs", h.logs.String(), testAPIKey)
}

// TestConfirmDisputed quarantines a delivery the API contradicts, and one
// for a resource the API does not know, keeping the body and what the API
// said; the answer is 200, so Gemini does not retry.
func TestConfirmDisputed(t *testing.T) {
	h := newConfirmHarness(t, "dynamic", harnessOptions{})
	h.seed("batch.succeeded", 1, false)
	for _, tc := range []struct {
		id, typ    string
		n          int
		reason     string
		apiState   string
		apiHasName bool
	}{
		{"msg_mismatch", "batch.succeeded", 1, confirm.ReasonStateMismatch, string(genai.JobStateRunning), true},
		{"msg_unknown", "interaction.completed", 2, confirm.ReasonNotFound, "", true},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			h.ps.ClearMessages()
			r := h.deliver(tc.id, tc.typ, tc.n, true)
			h.wantAnswer(r, 200, resultQuarantined, "")
			qs := h.messages(events.FamilyQuarantine)
			if len(qs) != 1 || h.total() != 1 {
				t.Fatalf("%d quarantine messages of %d", len(qs), h.total())
			}
			body, meta, reason, err := events.DecodeQuarantine(events.Message{Data: qs[0].Data, Attributes: qs[0].Attributes})
			if err != nil || reason != events.ReasonUnconfirmed || string(body) != string(h.sample(tc.typ, tc.n)) || meta.ID != tc.id {
				t.Fatalf("DecodeQuarantine = %q %+v %q %v", body, meta, reason, err)
			}
			a := qs[0].Attributes
			if a[events.AttrDisputeReason] != tc.reason || a[events.AttrAPIState] != tc.apiState ||
				a[events.AttrEventType] != tc.typ || a[events.AttrAPIResource] == "" || a[events.AttrAPIDetail] == "" || a[events.AttrCheckedAt] == "" {
				t.Errorf("attributes %v", a)
			}
			if !strings.Contains(h.logs.String(), `"result":"quarantined","status":200`) || !strings.Contains(h.logs.String(), `"reason":"unconfirmed"`) {
				t.Errorf("no quarantine log line with reason unconfirmed:\n%s", h.logs.String())
			}
		})
	}
	assertNoLeak(t, "logs", h.logs.String(), testAPIKey)
}

// TestConfirmRetries: a 429 is retried within the delivery; 5xx past the
// attempts answers 503 with nothing published, and the retry after the API
// recovers publishes once.
func TestConfirmRetries(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{confirm: confirm.Options{MaxAttempts: 3}})
	h.seed("batch.succeeded", 1, true)
	h.seed("video.generated", 2, true)

	h.api.FailNext(1, http.StatusTooManyRequests)
	h.wantAnswer(h.deliver("msg_429", "batch.succeeded", 1, false), 200, resultPublished, "")
	if e, _ := h.published(events.FamilyBatch); !e.Confirmed || h.api.Calls() != 2 {
		t.Fatalf("confirmed %v after %d calls, want after 2", e.Confirmed, h.api.Calls())
	}

	h.api.FailNext(3, http.StatusInternalServerError)
	before := h.api.Calls()
	h.wantAnswer(h.deliver("msg_5xx", "video.generated", 2, true), 503, resultUnavailable, "gemini_unavailable")
	if n := len(h.messages(events.FamilyVideo)); n != 0 {
		t.Fatalf("%d video messages after a 503", n)
	}
	if got := h.api.Calls() - before; got != 3 {
		t.Errorf("%d calls, want 3 attempts", got)
	}
	if !strings.Contains(h.logs.String(), `"level":"ERROR"`) && !strings.Contains(h.logs.String(), `"severity":"ERROR"`) {
		t.Errorf("the 503 is not logged as an error:\n%s", h.logs.String())
	}
	// Gemini retries the same delivery: the claim was released.
	h.wantAnswer(h.deliver("msg_5xx", "video.generated", 2, true), 200, resultPublished, "")
	h.wantAnswer(h.deliver("msg_5xx", "video.generated", 2, true), 200, resultDuplicate, "")
	if e, _ := h.published(events.FamilyVideo); !e.Confirmed || e.ID != "msg_5xx" {
		t.Fatalf("published %+v", e)
	}
	assertNoLeak(t, "logs", h.logs.String(), testAPIKey)
}

// TestConfirmTimeout answers 503 when the API does not answer within the
// delivery's budget.
func TestConfirmTimeout(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{budget: 300 * time.Millisecond,
		confirm: confirm.Options{AttemptTimeout: 100 * time.Millisecond}})
	h.seed("interaction.failed", 1, true)
	h.api.SetDelay(time.Second)
	h.wantAnswer(h.deliver("msg_slow", "interaction.failed", 1, true), 503, resultUnavailable, "gemini_unavailable")
	if h.total() != 0 {
		t.Fatalf("%d messages after a timeout", h.total())
	}
	h.api.SetDelay(0)
	h.wantAnswer(h.deliver("msg_slow", "interaction.failed", 1, true), 200, resultPublished, "")
}

// TestConfirmKeyRefused answers 503 not_ready, with an error log line, when
// the API refuses the key; the key never appears in logs or answers.
func TestConfirmKeyRefused(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{})
	h.seed("batch.cancelled", 1, true)
	h.api.RevokeKey(true)
	r := h.deliver("msg_revoked", "batch.cancelled", 1, false)
	h.wantAnswer(r, 503, resultUnavailable, "not_ready")
	if h.total() != 0 {
		t.Fatalf("%d messages with a refused key", h.total())
	}
	line := logLine(t, h.logs.String(), "msg_revoked")
	if line["level"] != "ERROR" && line["severity"] != "ERROR" || line["reason"] != "not_ready" ||
		!strings.Contains(fmt.Sprint(line["error"]), "refused the API key") {
		t.Errorf("log line %v", line)
	}
	h.api.RevokeKey(false)
	h.wantAnswer(h.deliver("msg_revoked", "batch.cancelled", 1, false), 200, resultPublished, "")
	assertNoLeak(t, "logs", h.logs.String(), testAPIKey)
	assertNoLeak(t, "answer", r.body, testAPIKey)
}

// logLine returns the delivery log line of webhook id.
func logLine(t *testing.T, logs, id string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["webhook_id"] == id && m["message"] == "delivery" {
			return m
		}
	}
	t.Fatalf("no delivery line for %s in\n%s", id, logs)
	return nil
}

// TestConfirmFlood sends many deliveries about one resource at once: one
// API call serves them all, and each is published confirmed.
func TestConfirmFlood(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{})
	h.seed("batch.expired", 7, true)
	h.api.SetDelay(50 * time.Millisecond)
	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() { statuses[i] = h.deliver(fmt.Sprintf("msg_flood_%d", i), "batch.expired", 7, i%2 == 0).status })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("delivery %d answered %d", i, s)
		}
	}
	if c := h.api.Calls(); c != 1 {
		t.Errorf("%d API calls for one resource, want 1", c)
	}
	ms := h.messages(events.FamilyBatch)
	if len(ms) != n {
		t.Fatalf("%d messages, want %d", len(ms), n)
	}
	for _, m := range ms {
		if m.Attributes[events.AttrConfirmed] != "true" {
			t.Fatalf("unconfirmed message %v", m.Attributes)
		}
	}
}

// TestConfirmDuplicate: a duplicate delivery is answered before
// confirmation, so it makes no call even with the confirmer's cache off.
func TestConfirmDuplicate(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{confirm: confirm.Options{CacheSize: -1}})
	h.seed("interaction.requires_action", 3, true)
	h.wantAnswer(h.deliver("msg_dup", "interaction.requires_action", 3, true), 200, resultPublished, "")
	h.wantAnswer(h.deliver("msg_dup", "interaction.requires_action", 3, true), 200, resultDuplicate, "")
	if c := h.api.Calls(); c != 1 {
		t.Errorf("%d API calls, want 1", c)
	}
	// Another delivery about the resource is asked again: no cache.
	h.wantAnswer(h.deliver("msg_dup2", "interaction.requires_action", 3, true), 200, resultPublished, "")
	if c := h.api.Calls(); c != 2 {
		t.Errorf("%d API calls, want 2", c)
	}
}

// TestConfirmSkipped: pings, malformed bodies and, under dynamic, HMAC
// deliveries are published without a call.
func TestConfirmSkipped(t *testing.T) {
	h := newConfirmHarness(t, "", harnessOptions{}) // a key: dynamic by default
	h.wantAnswer(h.deliver("msg_hmac", "batch.succeeded", 1, false), 200, resultPublished, "")
	h.wantAnswer(h.deliver("msg_ping", "webhook.ping", 2, true), 200, resultPublished, "")
	h.wantAnswer(h.do(h.jwtRequest("msg_bad", []byte(`{"type":""}`), nil)), 200, resultQuarantined, "")
	if c := h.api.Calls(); c != 0 {
		t.Errorf("%d API calls, want none", c)
	}
	if e, a := h.published(events.FamilyBatch); e.Confirmed || a[events.AttrConfirmed] != "" {
		t.Errorf("an unchecked event is marked confirmed: %+v", e)
	}
	if e, _ := h.published(events.FamilyOther); e.Confirmed {
		t.Errorf("a ping is marked confirmed")
	}
	if q := h.messages(events.FamilyQuarantine); len(q) != 1 || q[0].Attributes[events.AttrQuarantineReason] != events.ReasonEmptyType {
		t.Errorf("quarantine %v", q)
	}
	// A JWT delivery is confirmed under dynamic.
	h.seed("batch.succeeded", 4, true)
	h.wantAnswer(h.deliver("msg_jwt", "batch.succeeded", 4, true), 200, resultPublished, "")
	if c := h.api.Calls(); c != 1 {
		t.Errorf("%d API calls, want 1", c)
	}
}

// TestConfirmKeyUnreadable answers 503 while the API key cannot be read
// from Secret Manager, and publishes once it can.
func TestConfirmKeyUnreadable(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{})
	h.seed("batch.failed", 1, true)
	h.sm.Fail("AccessSecretVersion", status.Error(codes.PermissionDenied, "injected outage"))
	h.wantAnswer(h.deliver("msg_nokey", "batch.failed", 1, true), 503, resultUnavailable, "gemini_unavailable")
	h.sm.Recover()
	h.clock.Add(time.Minute) // past the retry interval of a failed read
	h.wantAnswer(h.deliver("msg_nokey", "batch.failed", 1, true), 200, resultPublished, "")
}

// TestConfirmLiteralKey: "literal:KEY" is a local key; the function
// confirms with it.
func TestConfirmLiteralKey(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{env: map[string]string{"GEMINI_API_KEY_SECRET": "literal:" + testAPIKey}})
	h.seed("batch.succeeded", 1, true)
	h.wantAnswer(h.deliver("msg_lit", "batch.succeeded", 1, true), 200, resultPublished, "")
	if e, _ := h.published(events.FamilyBatch); !e.Confirmed {
		t.Error("not confirmed")
	}
	if n := h.sm.Calls("AccessSecretVersion"); n != 0 {
		t.Errorf("%d Secret Manager reads of the API key", n)
	}
}

// TestConfirmConfig is the GEMINI_CONFIRM × key matrix, through loadConfig
// and, for bad combinations, through the handler (503 not_ready).
func TestConfirmConfig(t *testing.T) {
	const name = testAPIKeySecret
	for _, tc := range []struct {
		key, mode, dynamic string
		want               string // "" means a configuration error naming wantErr
		wantErr            string
	}{
		{key: "", mode: "", want: confirmOff},
		{key: name, mode: "", want: confirmDynamic},
		{key: name + "/versions/3", mode: "", want: confirmDynamic},
		{key: "literal:k", mode: "", want: confirmDynamic},
		{key: name, mode: "off", want: confirmOff},
		{key: name, mode: "ALL", want: confirmAll},
		{key: name, mode: "dynamic", want: confirmDynamic},
		{key: "", mode: "off", want: confirmOff},
		{key: "", mode: "all", wantErr: "GEMINI_CONFIRM"},
		{key: "", mode: "dynamic", wantErr: "GEMINI_CONFIRM"},
		{key: name, mode: "sometimes", wantErr: "GEMINI_CONFIRM"},
		{key: name, mode: "dynamic", dynamic: "off", wantErr: "GEMINI_CONFIRM"},
		{key: name, mode: "", dynamic: "off", want: confirmDynamic},
		{key: testAPIKey, mode: "", wantErr: "GEMINI_API_KEY_SECRET"},
		{key: "literal:", mode: "", wantErr: "GEMINI_API_KEY_SECRET"},
		{key: "projects/p/secrets", mode: "", wantErr: "GEMINI_API_KEY_SECRET"},
	} {
		t.Run(tc.key+"|"+tc.mode+"|"+tc.dynamic, func(t *testing.T) {
			env := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "GEMINI_WEBHOOK_SECRET": testSecret,
				"GEMINI_API_KEY_SECRET": tc.key, "GEMINI_CONFIRM": tc.mode, "GEMINI_DYNAMIC_WEBHOOKS": tc.dynamic,
				"GEMINI_JWT_AUDIENCE": "https://example.test/hook"}
			c, err := loadConfig(func(k string) string { return env[k] })
			if tc.wantErr == "" {
				if err != nil || c.Confirm != tc.want {
					t.Fatalf("confirm %q, %v; want %q", c.Confirm, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testAPIKey) || strings.Contains(err.Error(), "literal:k") {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
	// Through the handler: reported with every other problem, 503 not_ready.
	h := newConfirmHarness(t, "all", harnessOptions{env: map[string]string{
		"GEMINI_API_KEY_SECRET": testAPIKey, "GEMINI_API_BASE_URL": "ftp://x", "GEMINI_TOPIC_PREFIX": "goog"}})
	r := h.deliver("msg_cfg", "batch.succeeded", 1, false)
	h.wantAnswer(r, 503, resultUnavailable, "not_ready")
	for _, v := range []string{"GEMINI_API_KEY_SECRET", "GEMINI_API_BASE_URL", "GEMINI_TOPIC_PREFIX"} {
		if !strings.Contains(h.logs.String(), v) {
			t.Errorf("the not-ready log does not name %s", v)
		}
	}
	assertNoLeak(t, "logs", h.logs.String(), testAPIKey)
}

// TestConfirmKeyRereadAfterRefusal: a refused key is read again from
// Secret Manager (a rotation may have replaced it), at most once per
// MinRefreshInterval, while an accepted one is not re-read before MaxAge.
func TestConfirmKeyRereadAfterRefusal(t *testing.T) {
	h := newConfirmHarness(t, "all", harnessOptions{})
	h.seed("batch.succeeded", 1, true)
	h.wantAnswer(h.deliver("msg_k1", "batch.succeeded", 1, true), 200, resultPublished, "")
	reads := h.sm.Calls("AccessSecretVersion")
	h.wantAnswer(h.deliver("msg_k2", "batch.succeeded", 1, true), 200, resultPublished, "")
	if n := h.sm.Calls("AccessSecretVersion"); n != reads {
		t.Fatalf("the key was read %d times more while accepted", n-reads)
	}
	h.api.RevokeKey(true)
	h.seed("batch.failed", 2, true)
	h.wantAnswer(h.deliver("msg_k3", "batch.failed", 2, true), 503, resultUnavailable, "not_ready")
	h.clock.Add(31 * time.Second)
	h.api.RevokeKey(false)
	h.wantAnswer(h.deliver("msg_k3", "batch.failed", 2, true), 200, resultPublished, "")
	for deadline := time.Now().Add(5 * time.Second); h.sm.Calls("AccessSecretVersion") == reads; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the refused key was not read again")
		}
	}
}

// TestSecretReadsEndAtShutdown: background re-reads of the API key and of
// the signing secrets, hanging on Secret Manager, are cancelled and waited
// for by Shutdown, before the Secret Manager client is closed: none
// outlives the function.
func TestSecretReadsEndAtShutdown(t *testing.T) {
	leaktest.WaitGone(t, 10*time.Second, "geminihook/internal/secrets.")
	h := newConfirmHarness(t, "all", harnessOptions{})
	h.seed("batch.succeeded", 1, true)
	h.seed("batch.succeeded", 2, true)
	h.wantAnswer(h.deliver("msg_s1", "batch.succeeded", 1, false), 200, resultPublished, "")
	reads := h.sm.Calls("AccessSecretVersion")
	h.sm.Delay("AccessSecretVersion", time.Hour)
	h.clock.Add(secrets.DefaultMaxAge)
	// Served with the key and secrets held; both re-reads start.
	h.wantAnswer(h.deliver("msg_s2", "batch.succeeded", 2, false), 200, resultPublished, "")
	for deadline := time.Now().Add(10 * time.Second); h.sm.Calls("AccessSecretVersion") < reads+2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background re-reads did not reach Secret Manager")
		}
	}
	if n := len(secretsGoroutines()); n < 2 {
		t.Fatalf("%d background re-reads running, want 2: the check below would prove little", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.fn.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if g := secretsGoroutines(); len(g) != 0 {
		t.Fatalf("%d goroutines of internal/secrets left after Shutdown:\n%s", len(g), strings.Join(g, "\n\n"))
	}
}

// secretsGoroutines returns the stacks of the goroutines running
// internal/secrets code.
func secretsGoroutines() []string { return leaktest.Running("geminihook/internal/secrets.") }
