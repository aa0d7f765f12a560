package geminihook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	idem "github.com/geminihook/geminihook/internal/idempotency"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/syncbuf"
	"github.com/geminihook/geminihook/internal/testclock"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recordingPublisher is a publisher that keeps what it was given and fails
// with err when err is set, as the real one fails when Pub/Sub does.
type recordingPublisher struct {
	mu       sync.Mutex
	err      error
	tooLarge bool // refuse every message but quarantine ones with publish.ErrTooLarge
	sent     []publishedMessage
}

type publishedMessage struct {
	family events.Family
	msg    events.Message
}

func (p *recordingPublisher) Publish(_ context.Context, f events.Family, m events.Message) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return "", fmt.Errorf("publish %s: %w", f, p.err)
	}
	if p.tooLarge && f != events.FamilyQuarantine {
		return "", fmt.Errorf("publish %s: %w", f, publish.ErrTooLarge)
	}
	p.sent = append(p.sent, publishedMessage{f, m})
	return strconv.Itoa(len(p.sent)), nil
}

// busyStore is an idempotency store whose every key is held elsewhere, as
// a shared store answers while another instance handles the delivery.
type busyStore struct{}

func (busyStore) Claim(context.Context, string) (claimState, claim, error) {
	return 0, nil, &retryAfterError{err: errBusy, after: 6200 * time.Millisecond}
}

// downStore is an idempotency store that cannot answer.
type downStore struct{}

func (downStore) Claim(context.Context, string) (claimState, claim, error) {
	return 0, nil, fmt.Errorf("claim: %w", idem.ErrUnavailable)
}

// unrecordedStore hands out claims whose Published fails, as a shared
// store does when its write is lost after the publish succeeded.
type unrecordedStore struct{}

func (unrecordedStore) Claim(context.Context, string) (claimState, claim, error) {
	return claimNew, unrecordedClaim{}, nil
}

type unrecordedClaim struct{}

func (unrecordedClaim) Published(context.Context, string) error {
	return errors.New("record claim: deadline exceeded")
}
func (unrecordedClaim) Release(context.Context) error { return nil }
func (unrecordedClaim) Abandon()                      {}

// unit is the function with its server built in memory: the real verifier
// and the memory idempotency store, a recording publisher, no gRPC.
type unit struct {
	fn     *function
	srv    *server
	pub    *recordingPublisher
	secret verify.Secret
	key    *verifytest.Key
	clock  *testclock.Clock
	logs   *syncbuf.Buffer
}

func newUnit(t *testing.T) *unit {
	t.Helper()
	u := &unit{
		pub:   &recordingPublisher{},
		key:   verifytest.MustKey("unit-key"),
		clock: testclock.New(time.Unix(1_800_000_000, 0)),
		logs:  &syncbuf.Buffer{},
	}
	raw, err := verify.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	u.secret = verify.MustParseSecret(raw)
	v, err := verify.New(verify.Options{
		Keyring:   verify.StaticKeyring{u.secret},
		KeySet:    verify.NewStaticKeySet(u.key.Public()),
		Audiences: []string{testURL},
		Now:       u.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	u.srv = &server{
		cfg:       config{Project: testProject, TopicPrefix: DefaultTopicPrefix, MaxBodyBytes: 4096, Tolerance: DefaultTimestampTolerance},
		verifier:  v,
		publisher: u.pub,
		seen:      guarded{idem.NewGuard(idem.NewMemory(idem.MemoryOptions{Now: u.clock.Now}), idem.Options{CacheSize: -1, Now: u.clock.Now})},
	}
	u.fn = newFunction(func(string) string { return "" }, buildOptions{now: u.clock.Now, logger: newTestLogger(u.logs)})
	u.fn.srv = u.srv
	return u
}

// send serves r and returns the answer and the delivery's log line.
func (u *unit) send(t *testing.T, r *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	before := len(u.logs.String())
	rec := httptest.NewRecorder()
	u.fn.ServeHTTP(rec, r)
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(u.logs.String()[before:]), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if m["message"] == "delivery" {
			if line != nil {
				t.Fatal("two delivery lines for one request")
			}
			line = m
		}
	}
	if line == nil {
		t.Fatal("no delivery line")
	}
	return rec, line
}

// signed is an HMAC delivery of body for id at the unit's clock.
func (u *unit) signed(id string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, testURL+"/", strings.NewReader(string(body)))
	for k, v := range verify.SignHeaders(u.secret, id, u.clock.Now(), body) {
		r.Header[k] = v
	}
	return r
}

// TestAnswerAndLogMapping drives each outcome through the handler and
// checks the status, the answer, Retry-After and the log line's fields.
func TestAnswerAndLogMapping(t *testing.T) {
	t.Parallel()
	batch := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/1"}}`)
	tests := []struct {
		name    string
		setup   func(t *testing.T, u *unit)
		req     func(u *unit) *http.Request
		status  int
		result  string
		reason  string
		level   string
		fields  map[string]string // further log fields and their values; "" means absent
		publish int               // messages the publisher must hold afterwards
		retry   string            // the Retry-After a 503 must carry, when set
	}{
		{name: "published", req: func(u *unit) *http.Request { return u.signed("msg_ok", batch) },
			status: 200, result: "published", level: "INFO", publish: 1,
			fields: map[string]string{"webhook_id": "msg_ok", "family": "batch", "event_type": "batch.succeeded", "message_id": "1", "scheme": "hmac", "reason": ""}},
		{name: "quarantined", req: func(u *unit) *http.Request { return u.signed("msg_q", []byte(`{"type":"x","version":"v9"}`)) },
			status: 200, result: "quarantined", level: "WARNING", publish: 1,
			fields: map[string]string{"family": "quarantine", "reason": events.ReasonUnsupportedVersion, "event_type": ""}},
		{name: "duplicate", setup: func(t *testing.T, u *unit) {
			rec := httptest.NewRecorder()
			u.fn.ServeHTTP(rec, u.signed("msg_dup", batch))
		}, req: func(u *unit) *http.Request { return u.signed("msg_dup", batch) },
			status: 200, result: "duplicate", level: "INFO", publish: 1,
			fields: map[string]string{"webhook_id": "msg_dup", "message_id": ""}},
		{name: "not POST", req: func(u *unit) *http.Request { return httptest.NewRequest(http.MethodGet, testURL+"/", nil) },
			status: 405, result: "rejected", reason: "method_not_allowed", level: "WARNING", fields: map[string]string{"method": "GET"}},
		{name: "too large", req: func(u *unit) *http.Request { return u.signed("msg_big", []byte(strings.Repeat("x", 5000))) },
			status: 413, result: "rejected", reason: "body_too_large", level: "WARNING"},
		{name: "no signature", req: func(u *unit) *http.Request {
			r := u.signed("msg_ns", batch)
			r.Header.Del(verify.HeaderSignature)
			return r
		}, status: 400, result: "rejected", reason: "missing_header", level: "WARNING",
			fields: map[string]string{"detail": "verify: missing webhook header: webhook-signature"}},
		{name: "repeated id", req: func(u *unit) *http.Request {
			r := u.signed("msg_rep", batch)
			r.Header.Add(verify.HeaderID, "msg_other")
			return r
		}, status: 400, result: "rejected", reason: "malformed_header", level: "WARNING",
			fields: map[string]string{"detail": "verify: malformed webhook header: a webhook header is repeated", "webhook_id": ""}},
		{name: "forged", req: func(u *unit) *http.Request {
			r := u.signed("msg_f", batch)
			r.Header.Set(verify.HeaderID, "msg_f2")
			return r
		}, status: 401, result: "rejected", reason: "no_matching_signature", level: "WARNING",
			fields: map[string]string{"detail": "verify: no matching signature: no v1 entry matched an accepted secret", "webhook_id": ""}},
		{name: "stale", req: func(u *unit) *http.Request {
			r := u.signed("msg_old", batch)
			u.clock.Add(time.Hour)
			return r
		}, status: 401, result: "rejected", reason: "timestamp_too_old", level: "WARNING"},
		{name: "publish fails", setup: func(t *testing.T, u *unit) { u.pub.err = errors.New("unavailable\nsecond line") },
			req:    func(u *unit) *http.Request { return u.signed("msg_pf", batch) },
			status: 503, result: "unavailable", reason: "publish_failed", level: "ERROR",
			fields: map[string]string{"error": "publish failed: publish batch: unavailable second line", "webhook_id": "msg_pf"}},
		{name: "topic missing", setup: func(t *testing.T, u *unit) {
			u.pub.err = status.Error(codes.NotFound, `topic "projects/p/topics/gemini-batch"`)
		}, req: func(u *unit) *http.Request { return u.signed("msg_nt", batch) },
			status: 503, result: "unavailable", reason: "not_ready", level: "ERROR", retry: retryAfter,
			fields: map[string]string{"webhook_id": "msg_nt", "error": `function not ready: publish: publish batch: rpc error: code = NotFound desc = topic "projects/p/topics/gemini-batch"`}},
		{name: "publish not permitted", setup: func(t *testing.T, u *unit) { u.pub.err = status.Error(codes.PermissionDenied, "denied") },
			req:    func(u *unit) *http.Request { return u.signed("msg_pd", batch) },
			status: 503, result: "unavailable", reason: "publish_failed", level: "ERROR", retry: retryAfter},
		{name: "held elsewhere", setup: func(t *testing.T, u *unit) { u.srv.seen = busyStore{} },
			req:    func(u *unit) *http.Request { return u.signed("msg_busy", batch) },
			status: 503, result: "unavailable", reason: "busy", level: "ERROR", retry: "7"},
		{name: "store unavailable", setup: func(t *testing.T, u *unit) { u.srv.seen = downStore{} },
			req:    func(u *unit) *http.Request { return u.signed("msg_down", batch) },
			status: 503, result: "unavailable", reason: "store_unavailable", level: "ERROR", retry: retryAfter},
		{name: "too large for its topic", setup: func(t *testing.T, u *unit) { u.pub.tooLarge = true },
			req:    func(u *unit) *http.Request { return u.signed("msg_huge", batch) },
			status: 200, result: "quarantined", level: "WARNING", publish: 1,
			fields: map[string]string{"family": "quarantine", "reason": events.ReasonMessageTooLarge, "webhook_id": "msg_huge"}},
		{name: "published, recording it failed", setup: func(t *testing.T, u *unit) { u.srv.seen = unrecordedStore{} },
			req:    func(u *unit) *http.Request { return u.signed("msg_unrec", batch) },
			status: 200, result: "published", level: "WARNING", publish: 1,
			fields: map[string]string{"claim_error": "record claim: deadline exceeded", "webhook_id": "msg_unrec"}},
		{name: "shutting down", setup: func(t *testing.T, u *unit) {
			if err := u.fn.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, req: func(u *unit) *http.Request { return u.signed("msg_sd", batch) },
			status: 503, result: "unavailable", reason: "shutting_down", level: "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newUnit(t)
			if tc.setup != nil {
				tc.setup(t, u)
			}
			rec, line := u.send(t, tc.req(u))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			var a answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			if a.Result != tc.result || a.Reason != tc.reason {
				t.Errorf("answer %+v, want result %q reason %q", a, tc.result, tc.reason)
			}
			if got := rec.Header().Get("Retry-After"); (got != "") != (tc.status == 503) || (tc.retry != "" && got != tc.retry) {
				t.Errorf("Retry-After %q with status %d, want %q", got, tc.status, tc.retry)
			}
			if line["result"] != tc.result || line["severity"] != tc.level || line["status"] != float64(tc.status) {
				t.Errorf("log result %v severity %v status %v; want %s %s %d", line["result"], line["severity"], line["status"], tc.result, tc.level, tc.status)
			}
			if tc.reason != "" && line["reason"] != tc.reason {
				t.Errorf("log reason %v, want %q", line["reason"], tc.reason)
			}
			for k, want := range tc.fields {
				if got, ok := line[k]; want == "" && ok || want != "" && got != want {
					t.Errorf("log %s = %v, want %q", k, got, want)
				}
			}
			if len(u.pub.sent) != tc.publish {
				t.Errorf("%d messages published, want %d", len(u.pub.sent), tc.publish)
			}
		})
	}
}

// TestStatusFor pins the one error-to-status table, including errors
// wrapped the way the handler wraps them.
func TestStatusFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		reason string
	}{
		{errMethod, 405, "method_not_allowed"},
		{errTooLarge, 413, "body_too_large"},
		{fmt.Errorf("%w: %w", errReadBody, io.ErrUnexpectedEOF), 400, "body_unreadable"},
		{verify.ErrMissingHeader, 400, "missing_header"},
		{fmt.Errorf("x: %w", verify.ErrMalformedHeader), 400, "malformed_header"},
		{verify.ErrTimestampTooOld, 401, "timestamp_too_old"},
		{verify.ErrTimestampTooNew, 401, "timestamp_too_new"},
		{verify.ErrNoMatchingSignature, 401, "no_matching_signature"},
		{verify.ErrInvalidToken, 401, "invalid_token"},
		{verify.ErrSchemeDisabled, 401, "scheme_disabled"},
		{fmt.Errorf("%w: %w", verify.ErrKeySetUnavailable, context.DeadlineExceeded), 503, "key_set_unavailable"},
		{fmt.Errorf("%w: %w", errPublish, context.DeadlineExceeded), 503, "publish_failed"},
		{fmt.Errorf("claim delivery: %w", &retryAfterError{err: errBusy, after: time.Second}), 503, "busy"},
		{fmt.Errorf("claim delivery: idempotency guard: %w", idem.ErrUnavailable), 503, "store_unavailable"},
		{errBusy, 503, "busy"},
		{errShuttingDown, 503, "shutting_down"},
		{fmt.Errorf("%w: %w", errUnavailable, errors.New("configuration: x")), 503, "not_ready"},
		{fmt.Errorf("claim delivery: %w", context.Canceled), 503, "deadline"},
		{errors.New("surprise"), 500, "internal"},
	}
	for _, tc := range tests {
		if s, r := statusFor(tc.err); s != tc.status || r != tc.reason {
			t.Errorf("statusFor(%v) = %d %q, want %d %q", tc.err, s, r, tc.status, tc.reason)
		}
	}
}
