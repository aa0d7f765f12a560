package geminihook

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// leakCheck collects what must never reach a log line or an answer.
type leakCheck struct {
	t       *testing.T
	secrets []string
	answers []string
}

func (l *leakCheck) hide(s ...string) {
	for _, v := range s {
		if len(v) >= 8 {
			l.secrets = append(l.secrets, v)
		}
	}
}

// send sends r, remembering its signature and body as secrets and its
// answer for the final search.
func (l *leakCheck) send(h *harness, r request) response {
	l.hide(r.header.Get(verify.HeaderSignature), string(r.body))
	if sig := r.header.Get(verify.HeaderSignature); strings.HasPrefix(sig, "v1,") {
		l.hide(sig[3:]) // the bare base64 too
	}
	res := h.do(r)
	l.answers = append(l.answers, res.body)
	return res
}

func (l *leakCheck) check(h *harness) {
	l.t.Helper()
	assertNoLeak(l.t, "logs", h.logs.String(), l.secrets...)
	assertNoLeak(l.t, "answers", strings.Join(l.answers, "\n"), l.secrets...)
}

// TestLogsHoldNoSecrets runs accepted, rejected, quarantined and failed
// deliveries of both schemes, with Pub/Sub, Secret Manager and the JWKS
// failing in turn, and searches every log line and answer for the secrets,
// signatures, tokens and bodies involved.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{noSecret: true, publish: publish.Options{Timeout: time.Second}})
	l := &leakCheck{t: t}
	raw := h.addKnownSecret()
	l.hide(raw, strings.TrimPrefix(raw, "whsec_"))
	// A version whose payload is not a secret: its text must not be logged
	// when the keyring reports the version unusable.
	bad := "whsec_!!not-a-secret-but-still-private!!"
	h.sm.AddVersion(testSecret, []byte(bad))
	l.hide(bad)
	forged, _ := verify.GenerateSecret()
	l.hide(forged, strings.TrimPrefix(forged, "whsec_"))

	body := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"type":"batch.failed","version":"v1","data":{"id":"batches/%d","error":{"code":3,"message":"PRIVATE-ERROR-TEXT-%d"},"user_metadata":{"owner":"PRIVATE-OWNER-%d"}}}`, i, i, i))
	}
	steps := []struct {
		name   string
		setup  func()
		req    func(i int) request
		status int // -1: any refusal
	}{
		{"hmac accepted", nil, func(i int) request { return h.hmacRequest(fmt.Sprint("msg_", i), body(i), h.secret) }, 200},
		{"jwt accepted", nil, func(i int) request { return h.jwtRequest(fmt.Sprint("msg_", i), body(i), nil) }, 200},
		{"hmac forged", nil, func(i int) request {
			return h.hmacRequest(fmt.Sprint("msg_", i), body(i), verify.MustParseSecret(forged))
		}, 401},
		{"jwt wrong audience", nil, func(i int) request {
			return h.jwtRequest(fmt.Sprint("msg_", i), body(i), map[string]any{"aud": "https://elsewhere.example"})
		}, 401},
		{"jwt alg none carrying a secret-looking kid", nil, func(i int) request {
			tok, _ := verifytestMintNone(h, raw)
			r := h.jwtRequest(fmt.Sprint("msg_", i), body(i), nil)
			r.header.Set(verify.HeaderSignature, tok)
			return r
		}, 401},
		{"quarantined", nil, func(i int) request {
			return h.hmacRequest(fmt.Sprint("msg_", i), []byte("PRIVATE-UNPARSEABLE-BODY "+fmt.Sprint(i)), h.secret)
		}, 200},
		{"publish failing", func() { h.publish.set(status.Error(codes.Unavailable, "injected"), 0) }, func(i int) request {
			return h.hmacRequest(fmt.Sprint("msg_", i), body(i), h.secret)
		}, 503},
		{"publish slow", func() { h.publish.set(nil, 1500*time.Millisecond) }, func(i int) request {
			return h.jwtRequest(fmt.Sprint("msg_", i), body(i), nil)
		}, 503},
		{"JWKS failing, new kid", func() {
			h.publish.set(nil, 0)
			h.jwks.Fail(http.StatusInternalServerError)
			h.clock.Add(2 * time.Minute)
		}, func(i int) request {
			r := h.jwtRequest(fmt.Sprint("msg_", i), body(i), nil)
			r.header.Set(verify.HeaderSignature, otherKeyToken(h))
			return r
		}, -1},
		{"Secret Manager failing, new version", func() {
			h.jwks.Fail(0)
			h.sm.Fail("", status.Error(codes.Unavailable, "injected"))
			raw2 := h.addKnownSecret()
			l.hide(raw2, strings.TrimPrefix(raw2, "whsec_"))
			h.clock.Add(time.Minute)
		}, func(i int) request { return h.hmacRequest(fmt.Sprint("msg_", i), body(i), h.secret) }, 503},
	}
	for i, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		if res := l.send(h, s.req(i)); res.status != s.status && (s.status != -1 || res.status < 400) {
			t.Errorf("%s: status %d, want %d (%s)", s.name, res.status, s.status, res.body)
		}
	}
	for i := range steps {
		l.hide(fmt.Sprint("PRIVATE-ERROR-TEXT-", i), fmt.Sprint("PRIVATE-OWNER-", i))
	}
	l.hide("PRIVATE-UNPARSEABLE-BODY")
	l.check(h)
	if !strings.Contains(h.logs.String(), "secret version not usable") {
		t.Error("the unusable secret version was not reported: the search above proved nothing about it")
	}
}

// TestMisconfiguredSecretNotLogged: a literal GEMINI_WEBHOOK_SECRET that does
// not parse makes the function unready (503), and neither the log nor the
// answer quotes it.
func TestMisconfiguredSecretNotLogged(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"whsec_c2VjcmV0LXRoYXQtaXMtbm90LXZhbGlk!!",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_%%%private%%%",
		"projects/p/secrets/s/versions/1/extra-private-suffix",
	} {
		h := newHarness(t, harnessOptions{env: map[string]string{"GEMINI_WEBHOOK_SECRET": v}})
		l := &leakCheck{t: t}
		l.hide(v)
		for _, f := range strings.Fields(v) {
			l.hide(f, strings.TrimPrefix(f, "whsec_"))
		}
		res := l.send(h, h.hmacRequest("msg_1", h.sample("batch.succeeded", 1), h.secret))
		if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "not_ready") {
			t.Errorf("misconfigured secret: %d %s, want 503 not_ready", res.status, res.body)
		}
		if !strings.Contains(h.logs.String(), "GEMINI_WEBHOOK_SECRET") {
			t.Error("the configuration error does not name the variable")
		}
		l.check(h)
	}
}

// verifytestMintNone mints an unsigned token whose kid is s.
func verifytestMintNone(h *harness, s string) (string, error) {
	c := map[string]any{"aud": testURL, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Minute).Unix()}
	return mintWith("none", map[string]any{"kid": s}, c, nil)
}

// mintWith is verifytest.MintWith.
var mintWith = verifytest.MintWith

// otherKeyToken is a valid-looking token signed by a key the JWKS never
// served.
func otherKeyToken(h *harness) string {
	k := verifytest.MustKey("gemini-key-never-served")
	return k.MustMint(map[string]any{"aud": testURL, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Minute).Unix()})
}
