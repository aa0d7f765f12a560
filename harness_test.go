package geminihook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/internal/smtest"
	"github.com/geminihook/geminihook/internal/syncbuf"
	"github.com/geminihook/geminihook/internal/testclock"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

const (
	testProject = "test-project"
	testSecret  = "projects/test-project/secrets/gemini-webhook"
	// testURL is the function's URL as Cloud Run would show it; requests
	// carry its host and X-Forwarded-Proto: https.
	testURL = "https://geminihook-abc123-uc.a.run.app"
)

// fault is a pstest reactor whose behaviour tests change while serving.
type fault struct {
	mu    sync.Mutex
	err   error
	delay time.Duration
	calls int // Publish calls that reached the server
}

func (f *fault) set(err error, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.delay = err, delay
}

// React implements pstest.Reactor.
func (f *fault) React(any) (bool, any, error) {
	f.mu.Lock()
	err, delay := f.err, f.delay
	f.calls++
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if err != nil {
		return true, nil, err
	}
	return false, nil, nil
}

// harness runs the real function against in-process Pub/Sub, Secret
// Manager and JWKS servers, with the real clients.
type harness struct {
	t       testing.TB
	clock   *testclock.Clock
	ps      *pstest.Server
	publish *fault
	sm      *smtest.Server
	jwks    *verifytest.Server
	key     *verifytest.Key
	secret  verify.Secret // the newest secret version's key
	logs    *syncbuf.Buffer
	fn      *function
	env     map[string]string
}

type harnessOptions struct {
	env map[string]string // overrides; "" deletes
	// ownLogger leaves the function its own logger (at GEMINI_LOG_LEVEL),
	// writing to h.logs, instead of a test logger at debug.
	ownLogger  bool
	noSecret   bool // do not add a first secret version
	publish    publish.Options
	secretOpts secrets.Options
	confirm    confirm.Options // the confirmation's knobs (backoff, cache)
	budget     time.Duration   // the confirmation's budget; default confirmBudget
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		clock:   testclock.New(time.Unix(1_800_000_000, 0)),
		publish: &fault{},
		logs:    &syncbuf.Buffer{},
	}
	h.ps = pstest.NewServerWithAddress("127.0.0.1:0", pstest.ServerReactorOption{FuncName: "Publish", Reactor: h.publish})
	t.Cleanup(func() { h.ps.Close() })
	for _, f := range events.Families() {
		if _, err := h.ps.GServer.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/" + testProject + "/topics/" + events.Topic("gemini-", f)}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	h.sm, err = smtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.sm.Close)
	if err := h.sm.CreateSecret(testSecret); err != nil {
		t.Fatal(err)
	}
	if !o.noSecret {
		h.addSecretVersion()
	}
	h.key = verifytest.MustKey("gemini-key-1")
	h.jwks = verifytest.NewServer(h.key)
	t.Cleanup(h.jwks.Close)

	h.env = map[string]string{
		"GOOGLE_CLOUD_PROJECT":  testProject,
		"GEMINI_WEBHOOK_SECRET": testSecret,
		"GEMINI_JWKS_URL":       h.jwks.URL,
		"GEMINI_JWT_AUDIENCE":   testURL, // as Terraform sets it: the function's own URL
	}
	for k, v := range o.env {
		if v == "" {
			delete(h.env, k)
		} else {
			h.env[k] = v
		}
	}
	if o.publish.Timeout == 0 {
		o.publish.Timeout = 2 * time.Second
	}
	logger := newTestLogger(h.logs)
	if o.ownLogger {
		logger = nil
	}
	h.fn = newFunction(func(k string) string { return h.env[k] }, buildOptions{
		pubsubOptions: []option.ClientOption{
			option.WithEndpoint(h.ps.Addr),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		},
		secretManagerOptions: h.sm.ClientOptions(),
		now:                  h.clock.Now,
		logger:               logger,
		logOutput:            h.logs,
		publish:              o.publish,
		secrets:              o.secretOpts,
		jwksMinRefresh:       time.Minute,
		confirm:              o.confirm,
		confirmBudget:        o.budget,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.fn.Shutdown(ctx)
	})
	return h
}

// addSecretVersion adds a fresh secret as the newest version and returns
// its version name; h.secret becomes that key.
func (h *harness) addSecretVersion() string {
	raw, err := verify.GenerateSecret()
	if err != nil {
		h.t.Fatal(err)
	}
	h.secret = verify.MustParseSecret(raw)
	return h.sm.AddVersion(testSecret, []byte(raw))
}

// request is one delivery to send.
type request struct {
	method  string
	body    []byte
	header  http.Header
	noProto bool // leave out X-Forwarded-Proto
}

// hmacRequest signs body with key at the harness clock.
func (h *harness) hmacRequest(id string, body []byte, key verify.Secret) request {
	return request{body: body, header: verify.SignHeaders(key, id, h.clock.Now(), body)}
}

// jwtRequest carries a token minted by the harness key for claims (with
// defaults for aud, iat, exp, and jti: id, so each delivery has its own
// token; a nil claim removes a default).
func (h *harness) jwtRequest(id string, body []byte, claims map[string]any) request {
	c := map[string]any{"aud": testURL, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(5 * time.Minute).Unix(), "jti": id}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	hd := http.Header{}
	hd.Set(verify.HeaderID, id)
	hd.Set(verify.HeaderTimestamp, strconv.FormatInt(h.clock.Now().Unix(), 10))
	hd.Set(verify.HeaderSignature, h.key.MustMint(c))
	return request{body: body, header: hd}
}

// response is what the function answered.
type response struct {
	status int
	header http.Header
	body   string
}

// count reports how many Publish calls reached the server.
func (f *fault) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// do sends r through the real handler.
func (h *harness) do(r request) response {
	h.t.Helper()
	return h.doOn(h.fn, r)
}

// doOn sends r through fn, one of several instances sharing h's servers.
func (h *harness) doOn(fn *function, r request) response {
	h.t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	// Cloud Run terminates TLS: the container sees plain HTTP with the
	// service's Host and X-Forwarded-Proto.
	req := httptest.NewRequest(method, "http://"+strings.TrimPrefix(testURL, "https://")+"/", bytes.NewReader(r.body))
	for k, v := range r.header {
		req.Header[k] = v
	}
	if !r.noProto {
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	rec := httptest.NewRecorder()
	fn.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

// messages returns what Pub/Sub holds for family's topic.
func (h *harness) messages(f events.Family) []*pstest.Message {
	var out []*pstest.Message
	topic := "projects/" + testProject + "/topics/" + events.Topic("gemini-", f)
	for _, m := range h.ps.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// total returns the number of messages on every topic.
func (h *harness) total() int { return len(h.ps.Messages()) }

// sample returns a realistic body of eventType.
func (h *harness) sample(eventType string, n int) []byte {
	return samples.Body(eventType, n, h.clock.Now())
}

// assertNoLeak fails when the logs or an answer contain any of secrets.
func assertNoLeak(t testing.TB, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret, signature, token or body: %.40q…", where, s)
		}
	}
}
