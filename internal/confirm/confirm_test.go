package confirm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/interactions"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/geminijobs"
)

const testKey = "AIzaTEST-secret-key-0123456789"

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// clock is an injectable clock safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	fake  *geminijobs.Server
	srv   *httptest.Server
	clock *clock
	c     *confirm.Confirmer
}

// setup starts the fake API behind wrap (if any) and a Confirmer on it;
// tweak adjusts the Options.
func setup(t *testing.T, wrap func(http.Handler) http.Handler, tweak func(*confirm.Options)) *env {
	t.Helper()
	fake := geminijobs.New(geminijobs.Options{APIKey: testKey})
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clk := &clock{now: t0}
	opts := confirm.Options{
		APIKey:     func(context.Context) (string, error) { return testKey, nil },
		BaseURL:    srv.URL,
		HTTPClient: srv.Client(),
		Now:        clk.Now,
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := confirm.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, srv: srv, clock: clk, c: c}
}

func ptr[T any](v T) *T { return &v }

func (e *env) seed() {
	e.fake.SetBatch(genai.BatchJob{Name: "batches/ok", State: genai.JobStateSucceeded,
		Dest: &genai.BatchJobDestination{FileName: "files/batch-out"}})
	e.fake.SetBatch(genai.BatchJob{Name: "batches/bad", State: genai.JobStateFailed})
	e.fake.SetBatch(genai.BatchJob{Name: "batches/gone", State: genai.JobStateCancelled})
	e.fake.SetBatch(genai.BatchJob{Name: "batches/late", State: genai.JobStateExpired})
	e.fake.SetBatch(genai.BatchJob{Name: "batches/busy", State: genai.JobStateRunning})
	e.fake.SetVideoOperation(genai.GenerateVideosOperation{
		Name: "models/veo-3.0-generate-001/operations/v1", Done: true,
		Response: &genai.GenerateVideosResponse{GeneratedVideos: []*genai.GeneratedVideo{
			{Video: &genai.Video{URI: "https://example.test/files/v1:download", MIMEType: "video/mp4"}}}},
	})
	e.fake.SetVideoOperation(genai.GenerateVideosOperation{Name: "operations/v2", Done: true,
		Response: &genai.GenerateVideosResponse{GeneratedVideos: []*genai.GeneratedVideo{
			{Video: &genai.Video{URI: "https://example.test/files/v2:download"}}}}})
	e.fake.SetVideoOperation(genai.GenerateVideosOperation{Name: "operations/vrun"})
	e.fake.SetVideoOperation(genai.GenerateVideosOperation{Name: "operations/vfail", Done: true,
		Error: map[string]any{"code": float64(3), "message": "prompt blocked"}})
	for id, st := range map[string]interactions.InteractionStatus{
		"ix-done": interactions.InteractionStatusCompleted,
		"ix-fail": interactions.InteractionStatusFailed,
		"ix-stop": interactions.InteractionStatusCancelled,
		"ix-wait": interactions.InteractionStatusRequiresAction,
		"ix-run":  interactions.InteractionStatusInProgress,
	} {
		ix := interactions.Interaction{ID: ptr(id), Status: st}
		if st == interactions.InteractionStatusFailed {
			ix.Errors = []interactions.Error{{Code: ptr("internal"), Message: ptr("tool crashed")}}
		}
		e.fake.SetInteraction(ix)
	}
}

func TestConfirmed(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	tests := []struct {
		name     string
		in       confirm.Input
		resource string
		state    string
		output   string
		err      *events.Error
	}{
		{"batch bare id", confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"}, "batches/ok", "JOB_STATE_SUCCEEDED", "files/batch-out", nil},
		{"batch resource name", confirm.Input{events.FamilyBatch, "batch.succeeded", "batches/ok"}, "batches/ok", "JOB_STATE_SUCCEEDED", "files/batch-out", nil},
		{"batch.completed alias", confirm.Input{events.FamilyBatch, "batch.completed", "ok"}, "batches/ok", "JOB_STATE_SUCCEEDED", "files/batch-out", nil},
		{"batch failed", confirm.Input{events.FamilyBatch, "batch.failed", "bad"}, "batches/bad", "JOB_STATE_FAILED", "", nil},
		{"batch cancelled", confirm.Input{events.FamilyBatch, "batch.cancelled", "gone"}, "batches/gone", "JOB_STATE_CANCELLED", "", nil},
		{"batch expired", confirm.Input{events.FamilyBatch, "batch.expired", "late"}, "batches/late", "JOB_STATE_EXPIRED", "", nil},
		{"video model operation", confirm.Input{events.FamilyVideo, "video.generated", "models/veo-3.0-generate-001/operations/v1"}, "models/veo-3.0-generate-001/operations/v1", confirm.VideoSucceeded, "https://example.test/files/v1:download", nil},
		{"video bare id", confirm.Input{events.FamilyVideo, "video.generated", "v2"}, "operations/v2", confirm.VideoSucceeded, "https://example.test/files/v2:download", nil},
		{"interaction completed", confirm.Input{events.FamilyInteraction, "interaction.completed", "ix-done"}, "interactions/ix-done", "completed", "", nil},
		{"interaction resource name", confirm.Input{events.FamilyInteraction, "interaction.completed", "interactions/ix-done"}, "interactions/ix-done", "completed", "", nil},
		{"interaction failed", confirm.Input{events.FamilyInteraction, "interaction.failed", "ix-fail"}, "interactions/ix-fail", "failed", "", &events.Error{Code: "internal", Message: "tool crashed"}},
		{"interaction cancelled", confirm.Input{events.FamilyInteraction, "interaction.cancelled", "ix-stop"}, "interactions/ix-stop", "cancelled", "", nil},
		{"interaction requires action", confirm.Input{events.FamilyInteraction, "interaction.requires_action", "ix-wait"}, "interactions/ix-wait", "requires_action", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.c.Confirm(context.Background(), tc.in)
			if err != nil {
				t.Fatalf("Confirm: %v", err)
			}
			want := confirm.Result{Verdict: confirm.Confirmed, Resource: tc.resource, APIState: tc.state,
				OutputURI: tc.output, Error: tc.err, CheckedAt: t0}
			if !sameResult(r, want) {
				t.Errorf("Confirm = %+v\nwant      %+v", r, want)
			}
		})
	}
}

func sameResult(a, b confirm.Result) bool {
	ea, eb := a.Error, b.Error
	a.Error, b.Error = nil, nil
	if (ea == nil) != (eb == nil) || (ea != nil && *ea != *eb) {
		return false
	}
	return a == b
}

func TestDisputed(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	tests := []struct {
		name   string
		in     confirm.Input
		reason string
		state  string
		detail string // a substring of Detail
		calls  int
	}{
		{"succeeded but failed", confirm.Input{events.FamilyBatch, "batch.succeeded", "bad"}, confirm.ReasonStateMismatch, "JOB_STATE_FAILED", "state JOB_STATE_FAILED", 1},
		{"succeeded but running", confirm.Input{events.FamilyBatch, "batch.succeeded", "busy"}, confirm.ReasonStateMismatch, "JOB_STATE_RUNNING", "state JOB_STATE_RUNNING", 1},
		{"video still running", confirm.Input{events.FamilyVideo, "video.generated", "vrun"}, confirm.ReasonStateMismatch, confirm.VideoRunning, "RUNNING", 1},
		{"video failed", confirm.Input{events.FamilyVideo, "video.generated", "vfail"}, confirm.ReasonStateMismatch, confirm.VideoFailed, "FAILED", 1},
		{"interaction in progress", confirm.Input{events.FamilyInteraction, "interaction.completed", "ix-run"}, confirm.ReasonStateMismatch, "in_progress", "in_progress", 1},
		{"batch not found", confirm.Input{events.FamilyBatch, "batch.succeeded", "nope"}, confirm.ReasonNotFound, "", "404 NOT_FOUND", 1},
		{"video not found", confirm.Input{events.FamilyVideo, "video.generated", "nope"}, confirm.ReasonNotFound, "", "404", 1},
		{"interaction not found", confirm.Input{events.FamilyInteraction, "interaction.completed", "nope"}, confirm.ReasonNotFound, "", "404 NOT_FOUND", 1},
		{"path traversal", confirm.Input{events.FamilyBatch, "batch.succeeded", "../webhooks/x"}, confirm.ReasonInvalidID, "", "not a batch id", 0},
		{"wrong collection", confirm.Input{events.FamilyBatch, "batch.succeeded", "interactions/ix-done"}, confirm.ReasonInvalidID, "", "not a batch id", 0},
		{"empty id", confirm.Input{events.FamilyInteraction, "interaction.completed", ""}, confirm.ReasonInvalidID, "", "not a interaction id", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.fake.Calls()
			r, err := e.c.Confirm(context.Background(), tc.in)
			if err != nil {
				t.Fatalf("Confirm: %v", err)
			}
			if r.Verdict != confirm.Disputed || r.Reason != tc.reason || r.APIState != tc.state ||
				!strings.Contains(r.Detail, tc.detail) || !r.CheckedAt.Equal(t0) {
				t.Errorf("Confirm = %+v, want disputed %s state %q detail ~%q", r, tc.reason, tc.state, tc.detail)
			}
			if strings.Contains(r.Detail, testKey) {
				t.Errorf("Detail carries the key: %q", r.Detail)
			}
			if n := e.fake.Calls() - before; n != tc.calls {
				t.Errorf("made %d calls, want %d", n, tc.calls)
			}
		})
	}
}

// The API's view wins: a failed video's error comes from the operation.
func TestVideoErrorFromAPI(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	r, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyVideo, "video.generated", "vfail"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Error == nil || *r.Error != (events.Error{Code: "3", Message: "prompt blocked"}) {
		t.Errorf("Error = %+v, want code 3 prompt blocked", r.Error)
	}
}

func TestUnsupported(t *testing.T) {
	e := setup(t, nil, nil)
	for _, in := range []confirm.Input{
		{events.FamilyOther, "ping", ""},
		{events.FamilyOther, "batch.paused", "b"},
		{events.FamilyVideo, "batch.succeeded", "b"},
	} {
		if _, err := e.c.Confirm(context.Background(), in); !errors.Is(err, confirm.ErrUnsupported) {
			t.Errorf("Confirm(%+v) = %v, want ErrUnsupported", in, err)
		}
	}
	if n := e.fake.Calls(); n != 0 {
		t.Errorf("made %d calls, want 0", n)
	}
}

func TestRetriesThenConfirms(t *testing.T) {
	for _, status := range []int{429, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := setup(t, nil, nil)
			e.seed()
			e.fake.FailNext(2, status)
			r, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"})
			if err != nil || r.Verdict != confirm.Confirmed {
				t.Fatalf("Confirm = %+v, %v; want confirmed", r, err)
			}
			if n := e.fake.Calls(); n != 3 {
				t.Errorf("made %d calls, want 3", n)
			}
		})
	}
}

// Interactions retry the same way although their client is a different
// generated SDK.
func TestInteractionRetries(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	e.fake.FailNext(1, 503)
	r, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyInteraction, "interaction.completed", "ix-done"})
	if err != nil || r.Verdict != confirm.Confirmed || e.fake.Calls() != 2 {
		t.Fatalf("Confirm = %+v, %v after %d calls; want confirmed after 2", r, err, e.fake.Calls())
	}
}

func TestUnavailable(t *testing.T) {
	t.Run("5xx until the attempts run out", func(t *testing.T) {
		e := setup(t, nil, func(o *confirm.Options) { o.MaxAttempts = 3 })
		e.seed()
		e.fake.FailNext(1000, 500)
		_, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"})
		var ce *confirm.CallError
		if !errors.Is(err, confirm.ErrUnavailable) || !errors.As(err, &ce) || ce.HTTPStatus != 500 || ce.Attempts != 3 {
			t.Fatalf("Confirm: %v, want ErrUnavailable after 3 attempts with HTTP 500", err)
		}
		if n := e.fake.Calls(); n != 3 {
			t.Errorf("made %d calls, want 3", n)
		}
	})
	t.Run("5xx until the deadline", func(t *testing.T) {
		e := setup(t, nil, func(o *confirm.Options) {
			o.MaxAttempts = 1 << 20
			o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
		})
		e.seed()
		e.fake.FailNext(1<<30, 503)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := e.c.Confirm(ctx, confirm.Input{events.FamilyVideo, "video.generated", "v2"})
		var ce *confirm.CallError
		if !errors.Is(err, confirm.ErrUnavailable) || !errors.As(err, &ce) || ce.HTTPStatus != 503 || ce.Attempts < 2 {
			t.Fatalf("Confirm: %v, want ErrUnavailable after retries of 503", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e := setup(t, nil, func(o *confirm.Options) { o.AttemptTimeout = 20 * time.Millisecond })
		e.seed()
		e.fake.SetDelay(time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		_, err := e.c.Confirm(ctx, confirm.Input{events.FamilyInteraction, "interaction.completed", "ix-done"})
		if !errors.Is(err, confirm.ErrUnavailable) {
			t.Fatalf("Confirm: %v, want ErrUnavailable", err)
		}
		if ctx.Err() == nil && e.fake.Calls() < 2 {
			t.Errorf("returned before the deadline after %d calls; a timed-out attempt should be retried", e.fake.Calls())
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		e := setup(t, nil, func(o *confirm.Options) { o.MaxAttempts = 2 })
		e.srv.Close()
		_, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"})
		var ce *confirm.CallError
		if !errors.Is(err, confirm.ErrUnavailable) || !errors.As(err, &ce) || ce.HTTPStatus != 0 || ce.Attempts != 2 {
			t.Fatalf("Confirm: %v, want ErrUnavailable after 2 attempts", err)
		}
	})
	t.Run("key unreadable", func(t *testing.T) {
		keyErr := errors.New("secret manager: UNAVAILABLE")
		e := setup(t, nil, func(o *confirm.Options) {
			o.APIKey = func(context.Context) (string, error) { return "", keyErr }
		})
		_, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"})
		if !errors.Is(err, confirm.ErrUnavailable) || !errors.Is(err, keyErr) {
			t.Fatalf("Confirm: %v, want ErrUnavailable wrapping the key error", err)
		}
		if e.fake.Calls() != 0 {
			t.Errorf("made %d calls, want 0", e.fake.Calls())
		}
	})
}

func TestKeyRefused(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		revoke bool
		status int
		calls  int
	}{
		{"wrong key", "AIzaWRONG", false, 400, 1},
		{"revoked key", testKey, true, 403, 1},
		{"empty key", "", false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, nil, func(o *confirm.Options) {
				o.APIKey = func(context.Context) (string, error) { return tc.key, nil }
			})
			e.seed()
			e.fake.RevokeKey(tc.revoke)
			_, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"})
			var ce *confirm.CallError
			if !errors.Is(err, confirm.ErrKeyRefused) || errors.Is(err, confirm.ErrUnavailable) ||
				!errors.As(err, &ce) || ce.HTTPStatus != tc.status {
				t.Fatalf("Confirm: %v, want ErrKeyRefused with HTTP %d", err, tc.status)
			}
			if tc.key != "" && strings.Contains(err.Error(), tc.key) {
				t.Errorf("error carries the key: %v", err)
			}
			if n := e.fake.Calls(); n != tc.calls {
				t.Errorf("made %d calls, want %d (a refused key is not retried)", n, tc.calls)
			}
		})
	}
	t.Run("interaction 401", func(t *testing.T) {
		e := setup(t, nil, nil)
		e.seed()
		e.fake.FailNext(1, 401)
		_, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyInteraction, "interaction.completed", "ix-done"})
		if !errors.Is(err, confirm.ErrKeyRefused) {
			t.Fatalf("Confirm: %v, want ErrKeyRefused", err)
		}
	})
}

// An API that echoes the key in its message does not get it into errors.
func TestKeyRedacted(t *testing.T) {
	echo := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			fmt.Fprintf(w, `{"error":{"code":503,"message":"backend for key %s is down","status":"UNAVAILABLE"}}`,
				r.Header.Get(geminijobs.APIKeyHeader))
		})
	}
	for _, f := range []confirm.Input{
		{events.FamilyBatch, "batch.succeeded", "ok"},
		{events.FamilyInteraction, "interaction.completed", "ix"},
	} {
		e := setup(t, echo, func(o *confirm.Options) { o.MaxAttempts = 1 })
		_, err := e.c.Confirm(context.Background(), f)
		if !errors.Is(err, confirm.ErrUnavailable) || strings.Contains(fmt.Sprintf("%v %+v", err, err), testKey) ||
			!strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("%s: error %q, want ErrUnavailable with the key redacted", f.Family, err)
		}
	}
}

// A new key (a rotation) builds a new client; the refused one is not kept.
func TestKeyRotation(t *testing.T) {
	var key atomic.Value
	key.Store("AIzaOLD")
	e := setup(t, nil, func(o *confirm.Options) {
		o.APIKey = func(context.Context) (string, error) { return key.Load().(string), nil }
	})
	e.seed()
	in := confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"}
	if _, err := e.c.Confirm(context.Background(), in); !errors.Is(err, confirm.ErrKeyRefused) {
		t.Fatalf("old key: %v, want ErrKeyRefused", err)
	}
	key.Store(testKey)
	if r, err := e.c.Confirm(context.Background(), in); err != nil || r.Verdict != confirm.Confirmed {
		t.Fatalf("new key: %+v, %v; want confirmed", r, err)
	}
}

func TestFloodMakesOneCall(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	e.fake.SetDelay(50 * time.Millisecond)
	in := confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			r, err := e.c.Confirm(context.Background(), in)
			if err == nil && r.Verdict != confirm.Confirmed {
				err = fmt.Errorf("verdict %s", r.Verdict)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.fake.Calls(); n != 1 {
		t.Fatalf("50 concurrent confirmations made %d calls, want 1", n)
	}

	// Later duplicates, and a contradicting event for the same resource,
	// are judged from the cache.
	e.clock.Add(time.Minute)
	r, err := e.c.Confirm(context.Background(), in)
	if err != nil || r.Verdict != confirm.Confirmed || !r.CheckedAt.Equal(t0) {
		t.Fatalf("duplicate: %+v, %v; want confirmed as of the first call", r, err)
	}
	r, err = e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.failed", "batches/ok"})
	if err != nil || r.Verdict != confirm.Disputed || r.APIState != "JOB_STATE_SUCCEEDED" {
		t.Fatalf("contradiction: %+v, %v; want disputed", r, err)
	}
	if n := e.fake.Calls(); n != 1 {
		t.Fatalf("made %d calls, want still 1", n)
	}

	// After the TTL the resource is read again.
	e.clock.Add(confirm.DefaultCacheTTL)
	if _, err := e.c.Confirm(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Calls(); n != 2 {
		t.Fatalf("after the TTL: %d calls, want 2", n)
	}
}

// Non-terminal and missing resources are asked about every time: their
// answer can change.
func TestNotCached(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	for _, in := range []confirm.Input{
		{events.FamilyInteraction, "interaction.requires_action", "ix-wait"},
		{events.FamilyBatch, "batch.succeeded", "busy"},
		{events.FamilyBatch, "batch.succeeded", "missing"},
	} {
		before := e.fake.Calls()
		for range 2 {
			if _, err := e.c.Confirm(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.fake.Calls() - before; n != 2 {
			t.Errorf("%s: %d calls for two confirmations, want 2", in.Resource, n)
		}
	}
	e2 := setup(t, nil, func(o *confirm.Options) { o.CacheSize = -1 })
	e2.seed()
	for range 2 {
		if _, err := e2.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := e2.fake.Calls(); n != 2 {
		t.Errorf("cache disabled: %d calls, want 2", n)
	}
}

func TestConcurrencyBound(t *testing.T) {
	var inflight, peak atomic.Int32
	track := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	e := setup(t, track, func(o *confirm.Options) { o.MaxConcurrent = 2 })
	e.fake.SetDelay(10 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range 12 {
		name := fmt.Sprintf("batches/b%d", i)
		e.fake.SetBatch(genai.BatchJob{Name: name, State: genai.JobStateSucceeded})
		wg.Go(func() {
			r, err := e.c.Confirm(context.Background(), confirm.Input{events.FamilyBatch, "batch.succeeded", name})
			if err != nil || r.Verdict != confirm.Confirmed {
				t.Errorf("%s: %+v, %v", name, r, err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrent calls %d, want 1..2", p)
	}
	if n := e.fake.Calls(); n != 12 {
		t.Fatalf("%d calls, want 12", n)
	}
}

// A caller that joined a call led by a caller whose deadline then passed
// asks again with its own deadline.
func TestFollowerOutlivesLeader(t *testing.T) {
	e := setup(t, nil, nil)
	e.seed()
	e.fake.SetDelay(100 * time.Millisecond)
	in := confirm.Input{events.FamilyBatch, "batch.succeeded", "ok"}
	leaderCtx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	leader := make(chan error, 1)
	go func() {
		_, err := e.c.Confirm(leaderCtx, in)
		leader <- err
	}()
	for e.fake.Calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	r, err := e.c.Confirm(context.Background(), in)
	if err != nil || r.Verdict != confirm.Confirmed {
		t.Fatalf("follower: %+v, %v; want confirmed", r, err)
	}
	if err := <-leader; !errors.Is(err, confirm.ErrUnavailable) {
		t.Fatalf("leader: %v, want ErrUnavailable", err)
	}
}

func TestResourceName(t *testing.T) {
	tests := []struct {
		f    events.Family
		id   string
		want string // "" = invalid
	}{
		{events.FamilyBatch, "batch_123456", "batches/batch_123456"},
		{events.FamilyBatch, "batches/abc-1", "batches/abc-1"},
		{events.FamilyBatch, "batches/a/b", ""},
		{events.FamilyBatch, "..", ""},
		{events.FamilyBatch, ".hidden", ""},
		{events.FamilyBatch, "a b", ""},
		{events.FamilyBatch, "a?alt=media", ""},
		{events.FamilyBatch, "a%2F..", ""},
		{events.FamilyBatch, "", ""},
		{events.FamilyBatch, strings.Repeat("a", 513), ""},
		{events.FamilyInteraction, "v1_ChdmT", "interactions/v1_ChdmT"},
		{events.FamilyInteraction, "interactions/x.y~z", "interactions/x.y~z"},
		{events.FamilyInteraction, "batches/x", ""},
		{events.FamilyVideo, "models/veo-3.0-generate-001/operations/op1", "models/veo-3.0-generate-001/operations/op1"},
		{events.FamilyVideo, "operations/op1", "operations/op1"},
		{events.FamilyVideo, "op1", "operations/op1"},
		{events.FamilyVideo, "models/../operations/op1", ""},
		{events.FamilyVideo, "tunedModels/m/operations/op1", ""},
		{events.FamilyOther, "x", ""},
	}
	for _, tc := range tests {
		got, err := confirm.ResourceName(tc.f, tc.id)
		if tc.want == "" {
			if !errors.Is(err, confirm.ErrInvalidID) {
				t.Errorf("ResourceName(%s, %.20q) = %q, %v; want ErrInvalidID", tc.f, tc.id, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResourceName(%s, %q) = %q, %v; want %q", tc.f, tc.id, got, err, tc.want)
		}
	}
}

func TestExpectedState(t *testing.T) {
	for _, ti := range events.Types() {
		if _, ok := confirm.ExpectedState(ti.Type); !ok {
			t.Errorf("no API state confirms %s", ti.Type)
		}
	}
	if s, ok := confirm.ExpectedState("batch.completed"); !ok || s != string(genai.JobStateSucceeded) {
		t.Errorf("batch.completed confirms %q, %v", s, ok)
	}
	if _, ok := confirm.ExpectedState("ping"); ok {
		t.Error("ping is confirmable")
	}
}

func TestNewNeedsKey(t *testing.T) {
	if _, err := confirm.New(confirm.Options{}); err == nil {
		t.Fatal("New without APIKey succeeded")
	}
}

// A 404 that the API did not write (a proxy's page, a wrong base URL) is a
// fault, not a verdict: the delivery is retried, never quarantined.
func TestForeign404IsUnavailable(t *testing.T) {
	page := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(404)
			fmt.Fprint(w, "<html><body>404 page not found</body></html>")
		})
	}
	for _, in := range []confirm.Input{
		{events.FamilyBatch, "batch.succeeded", "ok"},
		{events.FamilyVideo, "video.generated", "v"},
		{events.FamilyInteraction, "interaction.completed", "ix"},
	} {
		e := setup(t, page, func(o *confirm.Options) { o.MaxAttempts = 1 })
		r, err := e.c.Confirm(context.Background(), in)
		if !errors.Is(err, confirm.ErrUnavailable) {
			t.Errorf("%s: Confirm = %+v, %v; want ErrUnavailable", in.Family, r, err)
		}
	}
}
