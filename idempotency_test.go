package geminihook

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/firestoretest"
	idem "github.com/geminihook/geminihook/internal/idempotency"
	"github.com/geminihook/geminihook/internal/publish"
)

// newFirestoreHarness returns a harness whose function keeps its
// idempotency records in an in-process Firestore, reached by the real
// client, and a second instance sharing that Firestore, pstest, Secret
// Manager, JWKS and clock, as two Cloud Run instances share them.
func newFirestoreHarness(t testing.TB, o harnessOptions) (h *harness, fs *firestoretest.Server, other *function) {
	t.Helper()
	fs, err := firestoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close) // after both instances have shut down
	if o.env == nil {
		o.env = map[string]string{}
	}
	o.env["GEMINI_DEDUPE"] = DedupeFirestore
	h = newHarness(t, o)
	h.fn.opts.firestoreOptions = fs.ClientOptions()
	other = newFunction(h.fn.getenv, h.fn.opts)
	t.Cleanup(func() { shutdown(t, other) })
	return h, fs, other
}

// shutdown shuts fn down within a bound.
func shutdown(t testing.TB, fn *function) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fn.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// published counts the messages on every topic for webhook id.
func (h *harness) published(id string) int {
	n := 0
	for _, m := range h.ps.Messages() {
		if m.Attributes[events.AttrWebhookID] == id {
			n++
		}
	}
	return n
}

// wantAnswer fails unless res has status and the answer's result (200) or
// reason (otherwise); a 503 must carry a Retry-After of whole seconds.
func wantAnswer(t *testing.T, what string, res response, status int, resultOrReason string) answer {
	t.Helper()
	a := decodeAnswer(t, res)
	got := a.Result
	if status != http.StatusOK {
		got = a.Reason
	}
	if res.status != status || got != resultOrReason {
		t.Fatalf("%s: %d %s, want %d %s", what, res.status, res.body, status, resultOrReason)
	}
	if status == http.StatusServiceUnavailable {
		if n, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || n < 1 {
			t.Fatalf("%s: Retry-After %q, want whole seconds", what, res.header.Get("Retry-After"))
		}
	}
	return a
}

// TestInstancesShareOneRecord: copies of one delivery sent to two
// instances at once are published once; a retry after success is a
// duplicate on either instance, and one this instance settled costs no
// Firestore call; a new delivery costs two writes and no read.
func TestInstancesShareOneRecord(t *testing.T) {
	t.Parallel()
	h, fs, b := newFirestoreHarness(t, harnessOptions{})
	body := h.sample("batch.succeeded", 1)
	req := h.hmacRequest("msg_shared", body, h.secret)

	var wg sync.WaitGroup
	res := make([]response, 20)
	for i := range res {
		fn := h.fn
		if i%2 == 1 {
			fn = b
		}
		wg.Go(func() { res[i] = h.doOn(fn, req) })
	}
	wg.Wait()
	ok := 0
	for i, r := range res {
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusServiceUnavailable && decodeAnswer(t, r).Reason == "busy" && r.header.Get("Retry-After") != "":
			// the other instance held the claim at that moment
		default:
			t.Errorf("copy %d: %d %s", i, r.status, r.body)
		}
	}
	if ok == 0 {
		t.Error("no copy was answered 200")
	}
	if n := h.published("msg_shared"); n != 1 {
		t.Fatalf("%d messages for one delivery sent to two instances, want 1", n)
	}

	// Whichever instance published, the other may have answered only busy:
	// a retry on each is a duplicate now, and publishes nothing.
	for _, fn := range []*function{b, h.fn} {
		wantAnswer(t, "retry after success", h.doOn(fn, req), http.StatusOK, resultDuplicate)
	}
	// Both instances have it settled in their cache: no Firestore call.
	calls := fs.Calls("")
	for _, fn := range []*function{h.fn, b} {
		wantAnswer(t, "retry settled here", h.doOn(fn, req), http.StatusOK, resultDuplicate)
	}
	if got := fs.Calls(""); got != calls {
		t.Errorf("%d Firestore calls for copies both instances settled, want 0", got-calls)
	}
	if n := h.published("msg_shared"); n != 1 {
		t.Fatalf("%d messages after the retries, want 1", n)
	}

	// One new delivery: one create and one write of its message id.
	commits, reads := fs.Calls("Commit"), fs.Calls("BatchGetDocuments")
	wantAnswer(t, "new delivery", h.do(h.hmacRequest("msg_new", body, h.secret)), http.StatusOK, resultPublished)
	if c, r := fs.Calls("Commit")-commits, fs.Calls("BatchGetDocuments")-reads; c != 2 || r != 0 {
		t.Errorf("a new delivery made %d writes and %d reads, want 2 and 0", c, r)
	}
}

// TestDeadInstanceLease: an instance that took a delivery's claim and
// never settled it (its publish failed while Firestore was unreachable, as
// a crash leaves it) keeps the other instance at 503 busy, with the
// lease's Retry-After, until the lease runs out; then exactly one publish.
func TestDeadInstanceLease(t *testing.T) {
	t.Parallel()
	h, fs, b := newFirestoreHarness(t, harnessOptions{})
	req := h.hmacRequest("msg_dead", h.sample("video.generated", 2), h.secret)

	// The publish is refused after a while; Firestore goes away meanwhile,
	// so the claim can be neither released nor recorded.
	h.publish.set(status.Error(codes.PermissionDenied, "injected"), 300*time.Millisecond)
	done := make(chan response, 1)
	go func() { done <- h.do(req) }()
	for h.publish.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	fs.Fail("", codes.Unavailable)
	wantAnswer(t, "the dying attempt", <-done, http.StatusServiceUnavailable, "publish_failed")
	fs.Recover()
	h.publish.set(nil, 0)

	for _, step := range []time.Duration{0, 10 * time.Second, 19 * time.Second} {
		h.clock.Add(step)
		res := h.doOn(b, h.hmacRequest("msg_dead", h.sample("video.generated", 2), h.secret))
		wantAnswer(t, "copy while the lease lives", res, http.StatusServiceUnavailable, "busy")
		after, _ := strconv.Atoi(res.header.Get("Retry-After"))
		if after > int(idem.DefaultLease/time.Second) {
			t.Errorf("Retry-After %d beyond the %s lease", after, idem.DefaultLease)
		}
	}
	if n := h.published("msg_dead"); n != 0 {
		t.Fatalf("%d messages while the claim was held", n)
	}
	h.clock.Add(2 * time.Second) // past the lease
	wantAnswer(t, "copy after the lease", h.doOn(b, h.hmacRequest("msg_dead", h.sample("video.generated", 2), h.secret)), http.StatusOK, resultPublished)
	wantAnswer(t, "copy on the first instance", h.do(h.hmacRequest("msg_dead", h.sample("video.generated", 2), h.secret)), http.StatusOK, resultDuplicate)
	if n := h.published("msg_dead"); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// TestFirestoreOutage: with Firestore unreachable before a delivery, or
// while a copy of a published one is checked, the answer is 503 with
// Retry-After and nothing is published; after recovery the delivery is
// published exactly once.
func TestFirestoreOutage(t *testing.T) {
	t.Parallel()
	h, fs, b := newFirestoreHarness(t, harnessOptions{})
	req := func() request { return h.hmacRequest("msg_outage", h.sample("batch.failed", 3), h.secret) }

	fs.Fail("", codes.Unavailable)
	wantAnswer(t, "Firestore down", h.do(req()), http.StatusServiceUnavailable, "store_unavailable")
	fs.Recover()
	fs.Fail("", codes.PermissionDenied) // a missing grant is an outage too
	wantAnswer(t, "Firestore refusing", h.doOn(b, req()), http.StatusServiceUnavailable, "store_unavailable")
	fs.Recover()
	if n := h.published("msg_outage"); n != 0 {
		t.Fatalf("%d messages published without a claim", n)
	}
	wantAnswer(t, "after recovery", h.do(req()), http.StatusOK, resultPublished)

	// The other instance must ask Firestore, which fails: 503, no publish.
	fs.Fail("BatchGetDocuments", codes.Unavailable)
	wantAnswer(t, "copy while reads fail", h.doOn(b, req()), http.StatusServiceUnavailable, "store_unavailable")
	fs.Recover()
	wantAnswer(t, "copy after recovery", h.doOn(b, req()), http.StatusOK, resultDuplicate)
	if n := h.published("msg_outage"); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// lateLanding sends two deliveries to fn through a publisher with one
// publish goroutine and a slow Pub/Sub, so that the second queues behind
// the first, starts its own client timeout late, is answered 503 when the
// function's wait ends, and lands afterwards (#13.3). It returns once the
// second's retry on retryOn is no longer busy, with that answer.
func lateLanding(t *testing.T, h *harness, fn, retryOn *function, id string) response {
	t.Helper()
	h.publish.set(nil, 700*time.Millisecond)
	first := make(chan response, 1)
	go func() { first <- h.doOn(fn, h.hmacRequest(id+"_first", h.sample("batch.succeeded", 4), h.secret)) }()
	for h.publish.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	req := h.hmacRequest(id, h.sample("batch.succeeded", 5), h.secret)
	wantAnswer(t, "publish queued past its timeout", h.doOn(fn, req), http.StatusServiceUnavailable, "publish_failed")
	wantAnswer(t, "the publish ahead of it", <-first, http.StatusOK, resultPublished)
	h.publish.set(nil, 0)
	// Until the late answer is recorded, a retry finds the claim held.
	for range 200 {
		res := h.doOn(retryOn, req)
		if res.status != http.StatusServiceUnavailable || decodeAnswer(t, res).Reason != "busy" {
			return res
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the claim of the late publish was never settled")
	return response{}
}

// lateOptions make a queued publish time out and land late.
var lateOptions = harnessOptions{publish: publish.Options{Timeout: time.Second, NumGoroutines: 1}}

// TestLateLandingIsDuplicate: a delivery answered 503 whose message lands
// afterwards is recorded as published, so the sender's retry is a
// duplicate, per instance (memory) and across instances (Firestore).
func TestLateLandingIsDuplicate(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, lateOptions)
		wantAnswer(t, "retry", lateLanding(t, h, h.fn, h.fn, "msg_late"), http.StatusOK, resultDuplicate)
		if n := h.published("msg_late"); n != 1 {
			t.Fatalf("%d messages for the late delivery, want 1", n)
		}
		if !strings.Contains(h.logs.String(), "late publish recorded") {
			t.Error("no log line for the late landing")
		}
	})
	t.Run("firestore", func(t *testing.T) {
		t.Parallel()
		h, _, b := newFirestoreHarness(t, lateOptions)
		// Recorded in Firestore: the other instance's retry is a duplicate.
		wantAnswer(t, "retry on the other instance", lateLanding(t, h, h.fn, b, "msg_late"), http.StatusOK, resultDuplicate)
		req := h.hmacRequest("msg_late", h.sample("batch.succeeded", 5), h.secret)
		wantAnswer(t, "retry on the first instance", h.do(req), http.StatusOK, resultDuplicate)
		if n := h.published("msg_late"); n != 1 {
			t.Fatalf("%d messages for the late delivery, want 1", n)
		}
	})
}

// TestPileUpWaitsOnePublish (#13.2): with Pub/Sub stalled, ten concurrent
// copies of one delivery start one publish between them, every copy is
// answered 503 with Retry-After once that publish gives up, and exactly
// one message lands after Pub/Sub recovers and the sender retries.
func TestPileUpWaitsOnePublish(t *testing.T) {
	t.Parallel()
	for _, dedupe := range []string{DedupeMemory, DedupeFirestore} {
		t.Run(dedupe, func(t *testing.T) {
			t.Parallel()
			o := harnessOptions{publish: publish.Options{Timeout: time.Second}}
			var h *harness
			if dedupe == DedupeFirestore {
				h, _, _ = newFirestoreHarness(t, o)
			} else {
				h = newHarness(t, o)
			}
			// Warm up, so the copies meet at the claim, not at the build.
			wantAnswer(t, "warm-up", h.do(h.hmacRequest("msg_warm", h.sample("batch.succeeded", 6), h.secret)), http.StatusOK, resultPublished)
			// Stalled: each call hangs past the timeout, then is refused.
			h.publish.set(status.Error(codes.Unavailable, "stalled"), 2500*time.Millisecond)
			calls := h.publish.count()
			req := h.hmacRequest("msg_pile", h.sample("video.generated", 7), h.secret)
			var wg sync.WaitGroup
			res := make([]response, 10)
			start := time.Now()
			for i := range res {
				wg.Go(func() { res[i] = h.do(req) })
			}
			wg.Wait()
			t.Logf("%s: 10 copies answered within %s (publish timeout 1s)", dedupe, time.Since(start).Round(time.Millisecond))
			for i, r := range res {
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Errorf("copy %d: %d %s (Retry-After %q)", i, r.status, r.body, r.header.Get("Retry-After"))
				}
			}
			if n := h.publish.count() - calls; n != 1 {
				t.Errorf("the copies made %d publish calls, want 1", n)
			}
			h.publish.set(nil, 0)
			// Recovered once the stalled call has ended: pstest serves one
			// Publish at a time, and Messages waits for it. (A retry sent
			// into the stall would queue there, time out, and land after
			// its 503: a duplicate no receiver can see.)
			h.ps.Messages()
			var last response
			for range 200 {
				if last = h.do(req); last.status == http.StatusOK {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			wantAnswer(t, "retry after recovery", last, http.StatusOK, resultPublished)
			h.ps.Wait()
			if n := h.published("msg_pile"); n != 1 {
				t.Fatalf("%d messages for the piled-up delivery, want 1", n)
			}
		})
	}
}

// TestFirestoreEmulatorHost: without client options the function's
// Firestore client follows FIRESTORE_EMULATOR_HOST (as `dev` and local
// runs use it), and keeps its records in the configured database and
// collection.
func TestFirestoreEmulatorHost(t *testing.T) {
	fs, err := firestoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	t.Setenv("FIRESTORE_EMULATOR_HOST", fs.Addr)
	h := newHarness(t, harnessOptions{env: map[string]string{
		"GEMINI_DEDUPE": DedupeFirestore, "GEMINI_FIRESTORE_DATABASE": "hooks-db", "GEMINI_FIRESTORE_COLLECTION": "deliveries",
	}})
	wantAnswer(t, "delivery", h.do(h.hmacRequest("msg_env", h.sample("batch.succeeded", 8), h.secret)), http.StatusOK, resultPublished)
	docs := fs.Documents()
	prefix := "projects/" + testProject + "/databases/hooks-db/documents/deliveries/"
	if len(docs) != 1 || !strings.HasPrefix(docs[0].GetName(), prefix) {
		t.Fatalf("Firestore holds %d documents (%v), want one under %s", len(docs), docs, prefix)
	}
	if st := docs[0].GetFields()["state"].GetStringValue(); st != "published" {
		t.Errorf("record state %q, want published", st)
	}
}

// TestShutdownEndsLateWatches: a delivery whose publish is still pending
// when Shutdown begins does not keep its watch running past Shutdown: the
// watch ends when Close gives up (0.5 s in), not when its own wait would
// (a further publish timeout, 2 s), and Shutdown waits for it.
func TestShutdownEndsLateWatches(t *testing.T) {
	t.Parallel()
	h, _, _ := newFirestoreHarness(t, harnessOptions{publish: publish.Options{Timeout: 2 * time.Second, NumGoroutines: 1, CloseTimeout: 500 * time.Millisecond}})
	h.publish.set(nil, 3*time.Second) // stalled: the queued publish cannot land before Close
	first := make(chan response, 1)
	go func() { first <- h.do(h.hmacRequest("msg_ahead", h.sample("batch.succeeded", 9), h.secret)) }()
	for h.publish.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	wantAnswer(t, "queued publish", h.do(h.hmacRequest("msg_queued", h.sample("batch.succeeded", 10), h.secret)),
		http.StatusServiceUnavailable, "publish_failed")
	<-first
	h.fn.mu.Lock()
	s := h.fn.srv
	h.fn.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.fn.Shutdown(ctx); err != nil && !errors.Is(err, publish.ErrCloseTimeout) {
		t.Fatalf("Shutdown: %v", err)
	}
	h.publish.set(nil, 0)
	watching := make(chan struct{})
	go func() { s.late.Wait(); close(watching) }()
	select {
	case <-watching:
	case <-time.After(5 * time.Second):
		t.Fatal("a late-answer watch outlived Shutdown")
	}
	if logs := h.logs.String(); !strings.Contains(logs, "late publish unresolved") || !strings.Contains(logs, "publisher closed") {
		t.Errorf("the watch did not end with the publisher's Close:\n%s", logs)
	}
}
