package geminihook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/leaktest"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// The tests of this file reproduce the attacks of issue #12 against the
// real handler (real Pub/Sub client against pstest, JWKS over httptest)
// and count what reaches Pub/Sub.

// answerOf decodes an answer and fails unless it has status and result.
func answerOf(t *testing.T, what string, res response, status int, result string) answer {
	t.Helper()
	a := decodeAnswer(t, res)
	if res.status != status || a.Result != result {
		t.Fatalf("%s: %d %s, want %d %s", what, res.status, res.body, status, result)
	}
	return a
}

// TestJWTReplayPublishesOnce: one valid token replayed with five bodies
// (turning a failure into a success with another output_uri) and five
// fresh webhook-ids, or none, publishes once; the rest are duplicates.
func TestJWTReplayPublishesOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		claims map[string]any
	}{
		{"token with jti", map[string]any{"jti": "evt-replayed"}},
		{"token without jti", map[string]any{"jti": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			first := h.jwtRequest("msg_genuine", []byte(`{"type":"batch.failed","version":"v1","data":{"id":"batches/b1","error_code":"INTERNAL"}}`), tc.claims)
			answerOf(t, "genuine delivery", h.do(first), 200, resultPublished)
			token := first.header.Get(verify.HeaderSignature)
			for i := range 5 {
				body := fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/b1","output_file_uri":"gs://attacker-%d/out.jsonl"}}`, i)
				hd := http.Header{}
				hd.Set(verify.HeaderSignature, token)
				if i < 4 {
					hd.Set(verify.HeaderID, fmt.Sprintf("msg_forged_%d", i))
					hd.Set(verify.HeaderTimestamp, strconv.FormatInt(h.clock.Now().Unix(), 10))
				}
				h.clock.Add(30 * time.Second) // within the token's lifetime
				answerOf(t, fmt.Sprintf("replay %d", i), h.do(request{body: body, header: hd}), 200, resultDuplicate)
			}
			h.ps.Wait()
			msgs := h.messages(events.FamilyBatch)
			if len(msgs) != 1 || h.total() != 1 {
				t.Fatalf("%d messages on the batch topic, %d in all; want exactly 1", len(msgs), h.total())
			}
			ev, err := events.Decode(events.Message{Data: msgs[0].Data, Attributes: msgs[0].Attributes})
			if err != nil || ev.Outcome != events.OutcomeFailed || strings.Contains(string(msgs[0].Data), "attacker") {
				t.Fatalf("published event %+v, %v; want the genuine failure", ev, err)
			}
			key := msgs[0].Attributes[events.AttrIdempotencyKey]
			if !strings.HasPrefix(key, verify.KeyPrefixJWT) || ev.IdempotencyKey != key || msgs[0].Attributes[events.AttrWebhookID] != "msg_genuine" {
				t.Fatalf("idempotency_key %q (event %q), webhook_id %q", key, ev.IdempotencyKey, msgs[0].Attributes[events.AttrWebhookID])
			}
			if strings.Contains(h.logs.String(), token) {
				t.Fatal("the log holds the token")
			}
		})
	}
}

// TestSchemesDoNotShadow: a JWT delivery carrying webhook-id X does not
// make the genuine HMAC delivery X a duplicate, nor the other way round.
func TestSchemesDoNotShadow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := h.sample("batch.succeeded", 1)
	answerOf(t, "JWT with id X", h.do(h.jwtRequest("msg_X", body, map[string]any{"jti": "jti-1"})), 200, resultPublished)
	answerOf(t, "HMAC with id X", h.do(h.hmacRequest("msg_X", body, h.secret)), 200, resultPublished)
	answerOf(t, "HMAC with id Y", h.do(h.hmacRequest("msg_Y", body, h.secret)), 200, resultPublished)
	answerOf(t, "JWT with id Y", h.do(h.jwtRequest("msg_Y", body, map[string]any{"jti": "jti-2"})), 200, resultPublished)
	// A JWT whose jti spells an HMAC key, and an HMAC id that spells a
	// JWT key, stay in their own namespaces.
	answerOf(t, "JWT with jti hmac:msg_X", h.do(h.jwtRequest("msg_Z", body, map[string]any{"jti": "hmac:msg_X"})), 200, resultPublished)
	answerOf(t, "HMAC with a JWT key as id", h.do(h.hmacRequest("jwt:0:jti-1", body, h.secret)), 200, resultPublished)
	// Each again is a duplicate within its own scheme.
	answerOf(t, "HMAC X again", h.do(h.hmacRequest("msg_X", body, h.secret)), 200, resultDuplicate)
	answerOf(t, "JWT jti-1 again, other id", h.do(h.jwtRequest("msg_other", body, map[string]any{"jti": "jti-1"})), 200, resultDuplicate)
	h.ps.Wait()
	msgs := h.messages(events.FamilyBatch)
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6", len(msgs))
	}
	keys := map[string]string{}
	for _, m := range msgs {
		k := m.Attributes[events.AttrIdempotencyKey]
		if prev, dup := keys[k]; dup || k == "" {
			t.Fatalf("idempotency_key %q twice (%s, %s)", k, prev, m.Attributes[events.AttrWebhookID])
		}
		keys[k] = m.Attributes[events.AttrWebhookID]
	}
	for k, id := range map[string]string{"hmac:msg_X": "msg_X", "jwt:0:jti-1": "msg_X", "hmac:jwt:0:jti-1": "jwt:0:jti-1"} {
		if keys[k] != id {
			t.Errorf("key %q carried webhook_id %q, want %q", k, keys[k], id)
		}
	}
}

// wireRequest writes raw (a request head without Content-Length or the
// final blank line) and body on a connection to a real HTTP server in
// front of h's handler, and returns the parsed answer.
func wireRequest(t *testing.T, h *harness, head string, body []byte) response {
	t.Helper()
	srv := httptest.NewServer(h.fn)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	b.WriteString(head)
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(rb)}
}

// TestAudienceNeverFromRequest: a token Gemini minted for another
// endpoint (aud=https://attacker.example/hook, verifiable with the shared
// JWKS) is never accepted by pointing Host, an absolute-form target,
// X-Forwarded-Proto or X-Forwarded-Host at that endpoint: with an audience
// configured it is audience_mismatch, without one dynamic webhooks are off.
func TestAudienceNeverFromRequest(t *testing.T) {
	t.Parallel()
	const foreign = "https://attacker.example/hook"
	type attack struct {
		name string
		send func(h *harness, token string, body []byte) response
	}
	headers := func(h *harness, token string) string {
		return fmt.Sprintf("webhook-id: msg_spoof\r\nwebhook-timestamp: %d\r\nwebhook-signature: %s\r\n", h.clock.Now().Unix(), token)
	}
	attacks := []attack{
		{"Host and path", func(h *harness, token string, body []byte) response {
			return wireRequest(t, h, "POST /hook HTTP/1.1\r\nHost: attacker.example\r\nX-Forwarded-Proto: https\r\n"+headers(h, token), body)
		}},
		{"absolute-form target", func(h *harness, token string, body []byte) response {
			return wireRequest(t, h, "POST https://attacker.example/hook HTTP/1.1\r\nHost: attacker.example\r\n"+headers(h, token), body)
		}},
		{"X-Forwarded-Host", func(h *harness, token string, body []byte) response {
			return wireRequest(t, h, "POST /hook HTTP/1.1\r\nHost: "+strings.TrimPrefix(testURL, "https://")+"\r\nX-Forwarded-Host: attacker.example\r\nX-Forwarded-Proto: https\r\n"+headers(h, token), body)
		}},
		{"X-Forwarded-Proto http", func(h *harness, token string, body []byte) response {
			return wireRequest(t, h, "POST /hook HTTP/1.1\r\nHost: attacker.example\r\nX-Forwarded-Proto: http\r\n"+headers(h, token), body)
		}},
	}
	for _, cfg := range []struct {
		name     string
		env      map[string]string
		status   int
		reason   string
		ownToken int // status of a token for the configured audience sent to the spoofed target
	}{
		{"audience configured", nil, 401, "audience_mismatch", 200},
		{"no audience", map[string]string{"GEMINI_JWT_AUDIENCE": ""}, 401, "scheme_disabled", 401},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{env: cfg.env})
			body := h.sample("batch.succeeded", 1)
			for i, a := range attacks {
				auds := []string{foreign, "http://attacker.example/hook", "attacker.example"}
				for _, aud := range auds {
					token := h.key.MustMint(map[string]any{"aud": aud, "jti": fmt.Sprint("spoof-", i, aud), "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Hour).Unix()})
					res := a.send(h, token, body)
					ans := decodeAnswer(t, res)
					if res.status != cfg.status || ans.Reason != cfg.reason {
						t.Errorf("%s, aud %s: %d %s, want %d %s", a.name, aud, res.status, res.body, cfg.status, cfg.reason)
					}
				}
				// The audience is configuration: a token for it is accepted
				// whatever the request says about its own URL.
				own := h.key.MustMint(map[string]any{"aud": testURL, "jti": fmt.Sprint("own-", i), "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Hour).Unix()})
				if res := a.send(h, own, body); res.status != cfg.ownToken {
					t.Errorf("%s, token for the configured audience: %d %s, want %d", a.name, res.status, res.body, cfg.ownToken)
				}
			}
			h.ps.Wait()
			if want := map[int]int{200: len(attacks), 401: 0}[cfg.ownToken]; h.total() != want {
				t.Fatalf("%d messages published, want %d", h.total(), want)
			}
			if cfg.status == 401 && cfg.reason == "scheme_disabled" && h.jwks.Fetches() != 0 {
				t.Fatal("JWKS fetched although dynamic webhooks are off")
			}
			if cfg.reason == "audience_mismatch" && !strings.Contains(h.logs.String(), `received aud \"https://attacker.example/hook\"`) {
				t.Errorf("the rejection log does not name the received audience:\n%s", h.logs.String())
			}
		})
	}
}

// TestRejectionLogNamesClaims: an audience or issuer rejection is logged
// with its own reason and the received and expected aud and iss; the
// token never appears.
func TestRejectionLogNamesClaims(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_JWT_ISSUER": "https://gemini.example/"}})
	body := h.sample("batch.succeeded", 1)
	for _, tc := range []struct {
		claims map[string]any
		reason string
		want   string
	}{
		{map[string]any{"aud": "https://unexpected.example/x", "iss": "https://gemini.example/"}, "audience_mismatch",
			`received aud \"https://unexpected.example/x\" iss \"https://gemini.example/\"; expected aud [\"` + testURL + `\"] iss \"https://gemini.example/\"`},
		{map[string]any{"iss": "https://other.example/"}, "issuer_mismatch",
			`received aud \"` + testURL + `\" iss \"https://other.example/\"; expected aud [\"` + testURL + `\"] iss \"https://gemini.example/\"`},
	} {
		r := h.jwtRequest("msg_"+tc.reason, body, tc.claims)
		res := h.do(r)
		if a := decodeAnswer(t, res); res.status != 401 || a.Reason != tc.reason {
			t.Fatalf("%s: %d %s", tc.reason, res.status, res.body)
		}
		logs := h.logs.String()
		if !strings.Contains(logs, `"reason":"`+tc.reason+`"`) || !strings.Contains(logs, tc.want) {
			t.Errorf("log lacks reason %s and %s:\n%s", tc.reason, tc.want, logs)
		}
		assertNoLeak(t, "logs", logs, r.header.Get(verify.HeaderSignature))
	}
	if h.total() != 0 {
		t.Fatalf("%d messages published", h.total())
	}
}

// TestUnknownKidWhileRateLimited: a key Google rotated in after the last
// JWKS fetch is "retry later" (503, Retry-After the time left until a
// refetch is allowed) rather than "forged" (401), and is accepted once the
// refetch runs; a flood of random kids costs at most one fetch per interval.
func TestUnknownKidWhileRateLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := h.sample("batch.succeeded", 1)
	answerOf(t, "warm-up", h.do(h.jwtRequest("msg_warm", body, nil)), 200, resultPublished)
	if h.jwks.Fetches() != 1 {
		t.Fatalf("%d JWKS fetches after warm-up", h.jwks.Fetches())
	}
	rotated := verifytest.MustKey("gemini-key-2")
	h.jwks.SetKeys(h.key, rotated)
	mintRotated := func(id string) request {
		r := h.jwtRequest(id, body, nil)
		r.header.Set(verify.HeaderSignature, rotated.MustMint(map[string]any{"aud": testURL, "jti": id, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Hour).Unix()}))
		return r
	}
	for _, step := range []struct {
		advance time.Duration
		retry   string
	}{{10 * time.Second, "50"}, {49 * time.Second, "1"}} {
		h.clock.Add(step.advance)
		res := h.do(mintRotated("msg_rotated"))
		a := answerOf(t, "rotated-in key before a refetch is allowed", res, 503, resultUnavailable)
		if a.Reason != "key_refresh_pending" || res.header.Get("Retry-After") != step.retry {
			t.Fatalf("reason %q, Retry-After %q; want key_refresh_pending, %s", a.Reason, res.header.Get("Retry-After"), step.retry)
		}
	}
	if h.jwks.Fetches() != 1 || h.total() != 1 {
		t.Fatalf("%d fetches, %d messages inside the interval; want 1 and 1", h.jwks.Fetches(), h.total())
	}
	if !strings.Contains(h.logs.String(), `"result":"unavailable"`) || strings.Contains(h.logs.String(), `"reason":"invalid_token"`) {
		t.Error("the rotated-in key was logged as a rejection")
	}
	h.clock.Add(time.Second) // a refetch is allowed now
	answerOf(t, "the retry once a refetch is allowed", h.do(mintRotated("msg_rotated")), 200, resultPublished)
	if h.jwks.Fetches() != 2 {
		t.Fatalf("%d fetches, want 2", h.jwks.Fetches())
	}

	// A flood of random kids: within the interval none fetches; past it,
	// the whole flood shares at most one fetch.
	attacker := verifytest.MustKey("attacker")
	flood := func(round int) map[string]int {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 25 {
					r := h.jwtRequest(fmt.Sprintf("msg_flood_%d_%d_%d", round, w, i), body, nil)
					tok, err := verifytest.MintWith("RS256", map[string]any{"kid": fmt.Sprintf("kid-%d-%d-%d", round, w, i)},
						map[string]any{"aud": testURL, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Hour).Unix()}, attacker.Private())
					if err != nil {
						t.Error(err)
						return
					}
					r.header.Set(verify.HeaderSignature, tok)
					res := h.do(r)
					a := decodeAnswer(t, res)
					mu.Lock()
					got[fmt.Sprint(res.status, " ", a.Reason, " ", res.header.Get("Retry-After") != "")]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return got
	}
	h.clock.Add(30 * time.Second)
	if got := flood(1); got["503 key_refresh_pending true"] != 100 {
		t.Fatalf("flood inside the interval: %v, want 100 × 503 key_refresh_pending with Retry-After", got)
	}
	if h.jwks.Fetches() != 2 {
		t.Fatalf("%d fetches after a flood inside the interval, want 2", h.jwks.Fetches())
	}
	h.clock.Add(time.Minute)
	got := flood(2)
	if got["401 invalid_token false"] < 1 || got["401 invalid_token false"]+got["503 key_refresh_pending true"] != 100 {
		t.Fatalf("flood past the interval: %v", got)
	}
	if h.jwks.Fetches() != 3 {
		t.Fatalf("%d fetches after a flood past the interval, want 3", h.jwks.Fetches())
	}
	if h.total() != 2 {
		t.Fatalf("%d messages, want 2", h.total())
	}
}

// TestDynamicWebhooksMatrix runs the real handler under each combination
// of GEMINI_DYNAMIC_WEBHOOKS and GEMINI_JWT_AUDIENCE: what a JWT delivery
// and an HMAC delivery are answered, and whether the JWKS is ever read.
func TestDynamicWebhooksMatrix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode, audience string
		jwt            int
		jwtReason      string
		hmac           int
	}{
		{"", testURL, 200, "", 200},
		{"", "", 401, "scheme_disabled", 200},
		{"auto", testURL, 200, "", 200},
		{"auto", "", 401, "scheme_disabled", 200},
		{"on", testURL, 200, "", 200},
		{"on", "", 503, "not_ready", 503}, // a configuration error: nothing is served
		{"off", testURL, 401, "scheme_disabled", 200},
		{"off", "", 401, "scheme_disabled", 200},
	} {
		t.Run(fmt.Sprintf("mode %q audience %q", tc.mode, tc.audience), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_DYNAMIC_WEBHOOKS": tc.mode, "GEMINI_JWT_AUDIENCE": tc.audience}})
			body := h.sample("batch.succeeded", 1)
			res := h.do(h.jwtRequest("msg_jwt", body, nil))
			if a := decodeAnswer(t, res); res.status != tc.jwt || a.Reason != tc.jwtReason {
				t.Errorf("JWT: %d %s, want %d %s", res.status, res.body, tc.jwt, tc.jwtReason)
			}
			if res := h.do(h.hmacRequest("msg_hmac", body, h.secret)); res.status != tc.hmac {
				t.Errorf("HMAC: %d %s, want %d", res.status, res.body, tc.hmac)
			}
			if fetched := h.jwks.Fetches() > 0; fetched != (tc.jwt == 200) {
				t.Errorf("JWKS fetched: %v", fetched)
			}
			if tc.jwt == 503 && !strings.Contains(h.logs.String(), "GEMINI_JWT_AUDIENCE") {
				t.Errorf("the configuration error does not name GEMINI_JWT_AUDIENCE:\n%s", h.logs.String())
			}
		})
	}
}

// TestJWKSFetchEndsAtShutdown: a background refresh of the key set stuck
// on a JWKS endpoint that does not answer is ended by Shutdown, not left
// to run out its timeout after the server is gone.
//
// Not parallel: it looks for fetch goroutines process-wide, and parallel
// tests fetch from JWKS endpoints of their own.
func TestJWKSFetchEndsAtShutdown(t *testing.T) {
	const fetch = "geminihook/verify.(*RemoteKeySet).fetch"
	leaktest.WaitGone(t, 10*time.Second, fetch)
	h := newHarness(t, harnessOptions{})
	body := h.sample("batch.succeeded", 1)
	if o := h.send(h.jwtRequest("msg_jwks_1", body, nil)); o.status != 200 {
		t.Fatalf("first JWT delivery: %+v", o)
	}
	fetches := h.jwks.Fetches()
	h.jwks.Delay(time.Hour)
	h.clock.Add(verify.DefaultMaxAge)
	// Served from the stale set; the refresh starts in the background.
	if o := h.send(h.jwtRequest("msg_jwks_2", h.sample("batch.succeeded", 2), nil)); o.status != 200 {
		t.Fatalf("JWT delivery on the stale set: %+v", o)
	}
	for deadline := time.Now().Add(10 * time.Second); h.jwks.Fetches() < fetches+1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh did not reach the JWKS endpoint")
		}
	}
	if len(leaktest.Running(fetch)) == 0 {
		t.Fatal("no fetch running: the check below would prove nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.fn.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if g := leaktest.Running(fetch); len(g) != 0 {
		t.Fatalf("%d JWKS fetches left after Shutdown:\n%s", len(g), strings.Join(g, "\n\n"))
	}
}
