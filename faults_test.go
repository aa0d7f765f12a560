package geminihook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// outcome is what one delivery was answered.
type outcome struct {
	status int
	reason string
	result string
}

func (h *harness) send(r request) outcome {
	res := h.do(r)
	var a answer
	if err := json.Unmarshal([]byte(res.body), &a); err != nil {
		h.t.Errorf("answer %q is not JSON", res.body)
	}
	if res.status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "" {
		h.t.Errorf("503 without Retry-After")
	}
	return outcome{res.status, a.Reason, a.Result}
}

// sendUntilNotBusy sends r again, as the sender would after Retry-After but
// sooner, while it is answered 503 busy (a claim held by an attempt whose
// outcome is still unknown), for at most limit, and returns the last
// outcome.
func (h *harness) sendUntilNotBusy(r request, limit time.Duration) outcome {
	deadline := time.Now().Add(limit)
	for {
		o := h.send(r)
		if o.status != http.StatusServiceUnavailable || o.reason != "busy" || time.Now().After(deadline) {
			return o
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// byID counts the stored messages per webhook_id attribute.
func (h *harness) byID() map[string]int {
	h.ps.Wait()
	n := map[string]int{}
	for _, m := range h.ps.Messages() {
		n[m.Attributes["webhook_id"]]++
	}
	return n
}

// sendAll sends every request concurrently from workers goroutines and
// returns the outcomes in order.
func (h *harness) sendAll(reqs []request, workers int) []outcome {
	out := make([]outcome, len(reqs))
	ch := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range ch {
				out[i] = h.send(reqs[i])
			}
		})
	}
	for i := range reqs {
		ch <- i
	}
	close(ch)
	wg.Wait()
	return out
}

// tally summarises outcomes as "status reason" counts, for failure messages
// and logs.
func tally(os []outcome) map[string]int {
	m := map[string]int{}
	for _, o := range os {
		m[fmt.Sprintf("%d %s%s", o.status, o.result, o.reason)]++
	}
	return m
}

// TestPublishFaultsUnderConcurrency runs many deliveries at once while
// Pub/Sub refuses, is unavailable, is slower than the publish deadline, and
// flaps between those and health. No delivery is answered 200 without its
// message, every failure is a 503 the sender retries, and once Pub/Sub
// recovers the retries are all published.
func TestPublishFaultsUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{publish: publish.Options{Timeout: time.Second}})
	key := h.secret
	var reqs []request
	var ids []string
	add := func(prefix string, n int) []request {
		var batch []request
		for i := range n {
			id := fmt.Sprintf("msg_%s_%03d", prefix, i)
			ids = append(ids, id)
			r := h.hmacRequest(id, h.sample("batch.succeeded", i), key)
			batch = append(batch, r)
			reqs = append(reqs, r)
		}
		return batch
	}

	faults := []struct {
		name  string
		err   error
		delay time.Duration
	}{
		{"refused", status.Error(codes.PermissionDenied, "injected"), 0},
		{"unavailable", status.Error(codes.Unavailable, "injected"), 0},
		{"slower than the deadline", nil, 1500 * time.Millisecond},
	}
	for _, f := range faults {
		h.publish.set(f.err, f.delay)
		got := h.sendAll(add(f.name[:4], 24), 12)
		for i, o := range got {
			if o.status != http.StatusServiceUnavailable || o.reason != "publish_failed" {
				t.Fatalf("%s: delivery %d answered %+v, want 503 publish_failed (all: %v)", f.name, i, o, tally(got))
			}
		}
		t.Logf("Pub/Sub %s: %v", f.name, tally(got))
		if f.delay == 0 {
			if n := len(h.byID()); n != 0 {
				t.Fatalf("%s: %d messages stored although every publish failed", f.name, n)
			}
		}
	}

	// Flapping: the fault changes every 100ms while deliveries run.
	h.publish.set(nil, 0)
	flap := add("flap", 90)
	stop := make(chan struct{})
	var flapper sync.WaitGroup
	flapper.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			switch i % 3 {
			case 0:
				h.publish.set(status.Error(codes.PermissionDenied, "injected"), 0)
			case 1:
				h.publish.set(nil, 1500*time.Millisecond)
			default:
				h.publish.set(nil, 0)
			}
		}
	})
	flapped := h.sendAll(flap, 15)
	close(stop)
	flapper.Wait()
	h.publish.set(nil, 0)
	t.Logf("Pub/Sub flapping: %v", tally(flapped))
	stored := h.byID()
	for i, o := range flapped {
		id := ids[len(ids)-len(flap)+i]
		switch {
		case o.status == http.StatusOK && stored[id] != 1:
			t.Errorf("%s answered 200 with %d messages stored", id, stored[id])
		case o.status != http.StatusOK && (o.status != http.StatusServiceUnavailable || o.reason != "publish_failed"):
			t.Errorf("%s answered %+v, want 200 or 503 publish_failed", id, o)
		}
	}

	// Recovery: the sender retries everything not answered 200.
	all := h.sendAll(reqs, 12)
	stored = h.byID()
	for i, o := range all {
		if o.status != http.StatusOK {
			t.Errorf("%s after recovery: %+v", ids[i], o)
		}
		if stored[ids[i]] < 1 {
			t.Errorf("%s: no message after recovery", ids[i])
		}
	}
	t.Logf("after recovery: %v; %d ids, %d messages", tally(all), len(stored), len(h.ps.Messages()))
	checkSingleLineFields(t, h.logs.String())
}

// TestSecretRotationDuringOutage adds a secret version while Secret Manager
// is down: deliveries signed with the cached key keep being published,
// deliveries signed with the new key are answered 503 (a refresh was needed
// and failed) rather than 401, and once Secret Manager is back they are
// published.
func TestSecretRotationDuringOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	oldKey := h.secret
	body := h.sample("interaction.completed", 1)
	if o := h.send(h.hmacRequest("msg_warm", body, oldKey)); o.status != 200 {
		t.Fatalf("warm-up: %+v", o)
	}
	h.sm.Fail("", status.Error(codes.Unavailable, "injected outage"))
	h.addSecretVersion() // rotation: the sender switches to the new key
	newKey := h.secret

	// Within the refresh interval after a successful read the keyring does
	// not re-read at all (the rate limit that bounds forged floods), so the
	// outage is first noticed once that interval has passed.
	var got []outcome
	for i, step := range []time.Duration{31 * time.Second, 10 * time.Second, 6 * time.Minute, 40 * time.Second} {
		h.clock.Add(step)
		o := h.send(h.hmacRequest(fmt.Sprint("msg_new_", i), body, newKey))
		got = append(got, o)
		if o.status != http.StatusServiceUnavailable || o.reason != "key_set_unavailable" {
			t.Errorf("new key during the outage, +%s: %+v, want 503 key_set_unavailable", step, o)
		}
		if o := h.send(h.hmacRequest(fmt.Sprint("msg_old_", i), body, oldKey)); o.status != 200 {
			t.Errorf("cached key during the outage, +%s: %+v, want 200", step, o)
		}
	}
	t.Logf("new key during the outage: %v", tally(got))
	if n := h.byID(); n["msg_new_0"]+n["msg_new_1"]+n["msg_new_2"]+n["msg_new_3"] != 0 {
		t.Fatalf("published deliveries that could not be verified: %v", n)
	}

	h.sm.Recover()
	h.clock.Add(31 * time.Second) // past the refresh interval
	for i := range 4 {
		if o := h.send(h.hmacRequest(fmt.Sprint("msg_new_", i), body, newKey)); o.status != 200 || o.result != resultPublished {
			t.Errorf("retry of msg_new_%d after recovery: %+v", i, o)
		}
	}
	if n := h.byID(); n["msg_new_0"] != 1 || n["msg_new_3"] != 1 {
		t.Errorf("messages after recovery: %v", n)
	}
	// A forged delivery is still a 401 once Secret Manager answers.
	forged := verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if o := h.send(h.hmacRequest("msg_forged", body, forged)); o.status != 401 {
		t.Errorf("forged delivery after recovery: %+v", o)
	}
}

// TestSecretManagerColdOutageUnderConcurrency: with no key ever loaded and
// Secret Manager down, a burst of deliveries is answered 503 and causes one
// listing per retry interval, not one per delivery.
func TestSecretManagerColdOutageUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.sm.Fail("", status.Error(codes.PermissionDenied, "injected outage"))
	var reqs []request
	for i := range 60 {
		reqs = append(reqs, h.hmacRequest(fmt.Sprint("msg_cold_", i), h.sample("batch.expired", i), h.secret))
	}
	got := h.sendAll(reqs, 12)
	for _, o := range got {
		if o.status != http.StatusServiceUnavailable || o.reason != "key_set_unavailable" {
			t.Fatalf("cold outage: %v, want every delivery 503 key_set_unavailable", tally(got))
		}
	}
	if n := h.sm.Calls("ListSecretVersions"); n != 1 {
		t.Errorf("%d listings for 60 deliveries within the retry interval, want 1", n)
	}
	h.sm.Recover()
	h.clock.Add(3 * time.Second) // past the empty-keyring retry interval
	got = h.sendAll(reqs, 12)
	for _, o := range got {
		if o.status != http.StatusOK {
			t.Fatalf("after recovery: %v", tally(got))
		}
	}
	if n := len(h.byID()); n != 60 {
		t.Errorf("%d ids published after recovery, want 60", n)
	}
}

// TestJWKSFaults: the JWKS endpoint failing, slower than the client
// timeout, or serving garbage. With keys cached they keep serving (also
// past their max age); with none the answer is 503; a burst of cold
// lookups shares one fetch; a kid published during an outage is not
// accepted until the set can be fetched, and is never published unverified.
func TestJWKSFaults(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		apply func(*verifytest.Server)
	}{
		{"failing", func(s *verifytest.Server) { s.Fail(http.StatusServiceUnavailable) }},
		{"slower than the client timeout", func(s *verifytest.Server) { s.Delay(3 * time.Second) }},
		{"serving garbage", func(s *verifytest.Server) { s.Garbage(true) }},
		{"serving an empty set", func(s *verifytest.Server) { s.SetJWKS([]byte(`{"keys":[]}`)) }},
	}
	recover := func(s *verifytest.Server, keys ...*verifytest.Key) {
		s.Fail(0)
		s.Delay(0)
		s.Garbage(false)
		s.SetKeys(keys...)
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.fn.opts.jwksClient = &http.Client{Timeout: time.Second}
			body := h.sample("video.generated", 1)

			// Cold: nothing cached. A burst shares one fetch and gets 503.
			f.apply(h.jwks)
			var burst []request
			for i := range 30 {
				burst = append(burst, h.jwtRequest(fmt.Sprint("msg_cold_", i), body, nil))
			}
			got := h.sendAll(burst, 10)
			for _, o := range got {
				if o.status != http.StatusServiceUnavailable || o.reason != "key_set_unavailable" {
					t.Fatalf("cold: %v, want every delivery 503 key_set_unavailable", tally(got))
				}
			}
			if n := h.jwks.Fetches(); n != 1 {
				t.Errorf("cold burst of 30: %d fetches, want 1", n)
			}
			t.Logf("cold: %v", tally(got))

			// Warm: keys cached, then the fault; past the max age too.
			recover(h.jwks, h.key)
			h.clock.Add(6 * time.Second) // past the cold retry interval
			if o := h.send(h.jwtRequest("msg_warm", body, nil)); o.status != 200 {
				t.Fatalf("warm-up after recovery: %+v", o)
			}
			f.apply(h.jwks)
			for i, step := range []time.Duration{0, 2 * time.Minute, 2 * time.Hour} {
				h.clock.Add(step)
				if o := h.send(h.jwtRequest(fmt.Sprint("msg_cached_", i), body, nil)); o.status != 200 {
					t.Errorf("cached key, endpoint %s, +%s: %+v", f.name, step, o)
				}
			}

			// Rotation during the outage: a new kid cannot be verified yet;
			// the answer is 503 (the set could not be read), so Gemini retries.
			rotated := verifytest.MustKey("gemini-key-2")
			h.clock.Add(2 * time.Minute)
			newTok := func(id string) request {
				r := h.jwtRequest(id, body, nil)
				c := map[string]any{"aud": testURL, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(5 * time.Minute).Unix()}
				r.header.Set(verify.HeaderSignature, rotated.MustMint(c))
				return r
			}
			o := h.send(newTok("msg_rotated"))
			if o.status != http.StatusServiceUnavailable || o.reason != "key_set_unavailable" {
				t.Fatalf("new kid during the outage: %+v, want 503 key_set_unavailable", o)
			}
			t.Logf("new kid while the endpoint is %s: %d %s", f.name, o.status, o.reason)
			if h.byID()["msg_rotated"] != 0 {
				t.Fatal("published a delivery signed by a key never fetched")
			}
			recover(h.jwks, h.key, rotated)
			h.clock.Add(2 * time.Minute) // past the refresh interval
			if o := h.send(newTok("msg_rotated")); o.status != 200 || o.result != resultPublished {
				t.Errorf("new kid after recovery: %+v", o)
			}
			if n := h.byID()["msg_rotated"]; n != 1 {
				t.Errorf("msg_rotated stored %d times", n)
			}
		})
	}
}

// TestQuarantineAndOtherUnderPublishFailure: an authentic body that goes to
// the quarantine or other topic is no less precious: when that publish
// fails the answer is 503, and the retry lands it.
func TestQuarantineAndOtherUnderPublishFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{publish: publish.Options{Timeout: time.Second}})
	cases := []struct {
		id     string
		body   string
		family events.Family
	}{
		{"msg_q", `{"type":"batch.succeeded","version":"v7"}`, events.FamilyQuarantine},
		{"msg_o", `{"type":"webhook.ping","version":"v1","data":{}}`, events.FamilyOther},
	}
	h.publish.set(status.Error(codes.Unavailable, "injected"), 0)
	for _, c := range cases {
		if o := h.send(h.hmacRequest(c.id, []byte(c.body), h.secret)); o.status != 503 {
			t.Errorf("%s while Pub/Sub fails: %+v", c.family, o)
		}
	}
	h.publish.set(nil, 0)
	for _, c := range cases {
		// A failed attempt whose wait ended before the client gave up keeps
		// its claim until the client answers (the message could still
		// land), so a retry may first be told 503 busy, as Gemini would be.
		if o := h.sendUntilNotBusy(h.hmacRequest(c.id, []byte(c.body), h.secret), 10*time.Second); o.status != 200 {
			t.Errorf("%s after recovery: %+v", c.family, o)
		}
		if n := len(h.messages(c.family)); n != 1 {
			t.Errorf("%s topic holds %d messages, want 1", c.family, n)
		}
	}
}

// TestSecretManagerSlowOrRetrying: Secret Manager hanging, or answering
// UNAVAILABLE (which the client retries with backoff for up to a minute by
// default). Each call is bounded, so a cold instance answers 503 and a warm
// one serves its cached keys, instead of holding the delivery for the
// client's minute of retries.
func TestSecretManagerSlowOrRetrying(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		apply func(h *harness)
	}{
		{"AccessSecretVersion UNAVAILABLE", func(h *harness) {
			h.sm.Fail("AccessSecretVersion", status.Error(codes.Unavailable, "injected"))
		}},
		{"ListSecretVersions hanging", func(h *harness) { h.sm.Delay("ListSecretVersions", time.Minute) }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel() // each waits out the call bound twice
			h := newHarness(t, harnessOptions{})
			body := h.sample("batch.cancelled", 1)
			f.apply(h)
			done := make(chan outcome, 1)
			go func() { done <- h.send(h.hmacRequest("msg_cold", body, h.secret)) }()
			select {
			case o := <-done:
				if o.status != 503 || o.reason != "key_set_unavailable" {
					t.Fatalf("cold: %+v, want 503 key_set_unavailable", o)
				}
			case <-time.After(20 * time.Second): // a bound on a hang, not a latency check
				t.Fatal("a delivery is still waiting on Secret Manager after 20s")
			}
			// The client's backoff is jittered from 0 (2 s, then 4 s, 8 s …
			// at most), so three or four attempts fit the 3 s bound by
			// chance; eight would take pauses no run draws, and the
			// unbounded minute already fails the 20 s wait above.
			if n := h.sm.Calls("AccessSecretVersion"); n > 8 {
				t.Errorf("%d AccessSecretVersion attempts for one delivery: the client's minute of retries was not bounded", n)
			}

			h.sm.Recover()
			h.clock.Add(3 * time.Second)
			if o := h.send(h.hmacRequest("msg_cold", body, h.secret)); o.status != 200 {
				t.Fatalf("after recovery: %+v", o)
			}
			f.apply(h)
			h.clock.Add(6 * time.Minute) // keys past their TTL: a re-read starts
			go func() { done <- h.send(h.hmacRequest("msg_warm", body, h.secret)) }()
			select {
			case o := <-done:
				if o.status != 200 {
					t.Fatalf("warm with cached keys: %+v, want 200", o)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("a delivery with cached keys is still waiting on Secret Manager after 20s")
			}
		})
	}
}

// flushProbe records, when the handler flushes, whether the delivery still
// counted as in flight.
type flushProbe struct {
	*httptest.ResponseRecorder
	fn              *function
	flushes         int
	inFlightAtFlush int
	bodyAtFlush     string
}

func (p *flushProbe) Flush() {
	p.fn.flight.Lock()
	p.inFlightAtFlush = p.fn.inFlight
	p.fn.flight.Unlock()
	p.flushes++
	p.bodyAtFlush = p.Body.String()
	p.ResponseRecorder.Flush()
}

// TestAnswerFlushedWhileInFlight: the answer, with its Content-Length, is
// flushed while the delivery still counts as in flight, so Shutdown (which
// waits for that count) cannot let the process exit before the sender has
// the whole answer.
func TestAnswerFlushedWhileInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	r := h.hmacRequest("msg_flush", h.sample("batch.succeeded", 1), h.secret)
	req := httptest.NewRequest(http.MethodPost, testURL+"/", bytes.NewReader(r.body))
	req.Header = r.header
	req.Header.Set("X-Forwarded-Proto", "https")
	p := &flushProbe{ResponseRecorder: httptest.NewRecorder(), fn: h.fn}
	h.fn.ServeHTTP(p, req)
	if p.Code != http.StatusOK {
		t.Fatalf("status %d %s", p.Code, p.Body)
	}
	if p.flushes != 1 || p.inFlightAtFlush != 1 || p.bodyAtFlush != p.Body.String() {
		t.Errorf("flushed %d times, %d in flight at the flush, body then %q and at the end %q; want one flush of the whole answer while in flight",
			p.flushes, p.inFlightAtFlush, p.bodyAtFlush, p.Body.String())
	}
	// Over a real connection the answer has a Content-Length: complete
	// once flushed, not a chunked body finished only when the handler returns.
	res := h.serveWire(hreq{body: r.body, header: h.hmacRequest("msg_flush_wire", r.body, h.secret).header})
	if res.status != http.StatusOK || res.header.Get("Content-Length") != strconv.Itoa(len(res.body)) {
		t.Errorf("over the wire: %d, Content-Length %q for a %d-byte answer", res.status, res.header.Get("Content-Length"), len(res.body))
	}
}
