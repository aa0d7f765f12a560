package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

// slowPublish is a pstest reactor that, once armed, delays the next
// Publish call, and counts the calls. pstest runs reactors under its server
// lock, so every other publish waits behind the delayed one: one delay
// keeps all of them in flight without adding up past the publish timeout.
type slowPublish struct {
	delay atomic.Int64 // nanoseconds; taken by the next call
	calls atomic.Int64
}

// React implements pstest.Reactor.
func (s *slowPublish) React(any) (bool, any, error) {
	s.calls.Add(1)
	time.Sleep(time.Duration(s.delay.Swap(0)))
	return false, nil, nil
}

// TestServeShutdownDrainsInFlight runs the real binary against devstack
// with publishes slowed down, sends SIGTERM while deliveries are waiting on
// their publishes, and checks that: every delivery in flight is answered
// 200 in full and its message is stored; deliveries arriving after SIGTERM
// are answered 503 shutting_down with Retry-After, so the sender retries
// them elsewhere; the process exits 0 within Cloud Run's 10 seconds; and
// its output holds no secret, signature, token or body.
func TestServeShutdownDrainsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	slow := &slowPublish{}
	run, err := soak.Start(ctx, t.TempDir(), devstack.Options{PubSub: []pstest.ServerReactorOption{{FuncName: "Publish", Reactor: slow}}})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	stack, p, signer := run.Stack, run.Process, run.Signer
	client := &http.Client{Timeout: 30 * time.Second}
	var leaks []string
	send := func(id string, n int, jwt bool) soak.Answer {
		body := samples.Body(samples.Types[n%len(samples.Types)], n, time.Now())
		sign := signer.HMAC
		if jwt {
			sign = signer.JWT
		}
		req, err := sign(ctx, id, body, time.Now())
		if err != nil {
			t.Error(err)
			return soak.Answer{ID: id, Err: err}
		}
		leaks = append(leaks, req.Header.Get(verify.HeaderSignature), string(body))
		return soak.Do(client, id, req)
	}

	// Warm up: the clients are built on the first delivery.
	if a := send("msg_warm", 0, false); a.Status != http.StatusOK {
		t.Fatalf("warm-up: %d %s %v", a.Status, a.Body, a.Err)
	}
	leaksBefore := len(leaks)

	// Deliveries in flight: each waits on publishes held up for 2.5s.
	slow.delay.Store(int64(2500 * time.Millisecond))
	callsBefore := slow.calls.Load()
	const inFlight = 16
	answers := make([]soak.Answer, inFlight)
	var wg sync.WaitGroup
	var leakMu sync.Mutex
	for i := range inFlight {
		wg.Go(func() {
			id := fmt.Sprintf("msg_inflight_%02d", i)
			body := samples.Body(samples.Types[i%len(samples.Types)], i, time.Now())
			sign := signer.HMAC
			if i%4 == 3 {
				sign = signer.JWT
			}
			req, err := sign(ctx, id, body, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			leakMu.Lock()
			leaks = append(leaks, req.Header.Get(verify.HeaderSignature), string(body))
			leakMu.Unlock()
			answers[i] = soak.Do(client, id, req)
		})
	}
	// Wait until publishes are in progress, so the deliveries are in flight.
	for deadline := time.Now().Add(10 * time.Second); slow.calls.Load() == callsBefore; {
		if time.Now().After(deadline) {
			t.Fatal("no publish started within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the rest of the burst reaches its publish
	sigterm := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New deliveries during the drain are refused with a retryable 503.
	time.Sleep(300 * time.Millisecond)
	late := 0
	for i := range 5 {
		id := fmt.Sprintf("msg_late_%d", i)
		body := samples.Body("batch.succeeded", 100+i, time.Now())
		req, err := signer.HMAC(ctx, id, body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Logf("late delivery %d: %v (the process had exited)", i, err)
			continue
		}
		var a struct{ Result, Reason string }
		_ = json.NewDecoder(res.Body).Decode(&a)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || a.Reason != "shutting_down" || res.Header.Get("Retry-After") == "" {
			t.Errorf("late delivery %d during the drain: %d %+v Retry-After %q, want 503 shutting_down with Retry-After",
				i, res.StatusCode, a, res.Header.Get("Retry-After"))
		}
		late++
	}
	if late == 0 {
		t.Error("no late delivery reached the draining process")
	}

	wg.Wait()
	code, exited, err := p.Wait(15 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	drain := exited.Sub(sigterm)
	t.Logf("SIGTERM with %d deliveries in flight: exit %d after %s; %d late deliveries answered 503", inFlight, code, drain.Round(time.Millisecond), late)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, p.Output())
	}
	if drain >= 10*time.Second {
		t.Errorf("exited %s after SIGTERM, past Cloud Run's 10s grace", drain)
	}

	// Every delivery in flight was answered 200 in full and is stored once.
	stack.PubSub.Wait()
	stored := map[string]int{}
	for _, m := range stack.PubSub.Messages() {
		stored[m.Attributes["webhook_id"]]++
	}
	for i, a := range answers {
		id := fmt.Sprintf("msg_inflight_%02d", i)
		if a.Err != nil || a.Status != http.StatusOK {
			t.Errorf("%s in flight at SIGTERM: %d %q %v, want a complete 200", id, a.Status, a.Body, a.Err)
			continue
		}
		var ans struct{ Result, ID string }
		if err := json.Unmarshal([]byte(a.Body), &ans); err != nil || ans.Result != "published" || ans.ID != id {
			t.Errorf("%s: answer %q cut short or wrong", id, a.Body)
		}
		if stored[id] != 1 {
			t.Errorf("%s answered 200 with %d messages stored", id, stored[id])
		}
	}
	for i := range 5 {
		if n := stored[fmt.Sprintf("msg_late_%d", i)]; n != 0 {
			t.Errorf("msg_late_%d refused during the drain but stored %d times", i, n)
		}
	}

	out := p.Output()
	for _, s := range append(leaks[leaksBefore:], leaks[:leaksBefore]...) {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("serve output holds a signature, token or body: %.32q…", s)
		}
	}
	for _, s := range []string{stack.Secret, strings.TrimPrefix(stack.Secret, "whsec_")} {
		if strings.Contains(out, s) {
			t.Error("serve output holds the signing secret")
		}
	}
}
