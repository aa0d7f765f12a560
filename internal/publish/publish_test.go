package publish

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/events"
)

type reactor struct {
	mu    sync.Mutex
	err   error
	delay time.Duration
	calls int
}

func (r *reactor) React(any) (bool, any, error) {
	r.mu.Lock()
	err, delay := r.err, r.delay
	r.calls++
	r.mu.Unlock()
	time.Sleep(delay)
	if err != nil {
		return true, nil, err
	}
	return false, nil, nil
}

func (r *reactor) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *reactor) set(err error, delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err, r.delay = err, delay
}

func setup(t *testing.T, o Options) (*Publisher, *pstest.Server, *reactor) {
	t.Helper()
	r := &reactor{}
	srv := pstest.NewServerWithAddress("127.0.0.1:0", pstest.ServerReactorOption{FuncName: "Publish", Reactor: r})
	t.Cleanup(func() { srv.Close() })
	for _, f := range events.Families() {
		if _, err := srv.GServer.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/p/topics/" + events.Topic("x-", f)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(context.Background(), "p", "x-", o,
		option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, srv, r
}

func TestPublishEveryFamily(t *testing.T) {
	p, srv, _ := setup(t, Options{})
	for _, f := range events.Families() {
		id, err := p.Publish(context.Background(), f, events.Message{Data: []byte(f), Attributes: map[string]string{"k": "v"}})
		if err != nil || id == "" {
			t.Fatalf("%s: id %q, %v", f, id, err)
		}
		m := srv.Message(id)
		if m == nil || m.Topic != "projects/p/topics/x-"+string(f) || string(m.Data) != string(f) || m.Attributes["k"] != "v" {
			t.Fatalf("%s: stored %+v", f, m)
		}
	}
	if _, err := p.Publish(context.Background(), "nope", events.Message{Data: []byte("x")}); err == nil {
		t.Fatal("unknown family accepted")
	}
}

func TestFailureAndDeadline(t *testing.T) {
	p, srv, r := setup(t, Options{Timeout: 300 * time.Millisecond})
	r.set(status.Error(codes.PermissionDenied, "no"), 0)
	if _, err := p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("a")}); err == nil {
		t.Fatal("refused publish reported success")
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("refused publish stored a message")
	}
	r.set(nil, time.Second)
	_, err := p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("b")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish slower than the timeout: %v, want the deadline", err)
	}
	r.set(nil, 0)
	time.Sleep(time.Second) // the stalled call holds the emulator until it ends
	if _, err := p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("c")}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestCloseFlushesAndRefuses(t *testing.T) {
	p, srv, _ := setup(t, Options{DelayThreshold: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := p.Publish(context.Background(), events.FamilyVideo, events.Message{Data: []byte("v")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 10 {
		t.Fatalf("%d messages stored, want 10", n)
	}
	if _, err := p.Publish(context.Background(), events.FamilyVideo, events.Message{Data: []byte("late")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestPendingLandsLate: with one publish goroutine, a message queued behind
// a slow one starts its own client timeout late, so its Publish gives up
// (a *Pending) before Pub/Sub answers, and Wait reports the landing.
func TestPendingLandsLate(t *testing.T) {
	p, srv, r := setup(t, Options{Timeout: 400 * time.Millisecond, NumGoroutines: 1, DelayThreshold: time.Millisecond})
	r.set(nil, 300*time.Millisecond)
	first := make(chan error, 1)
	go func() {
		_, err := p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("first")})
		first <- err
	}()
	for r.callCount() == 0 { // the first is at the server; the second queues behind it
		time.Sleep(5 * time.Millisecond)
	}
	_, err := p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("second")})
	pending, ok := errors.AsType[*Pending](err)
	if !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued publish: %v, want a *Pending wrapping the deadline", err)
	}
	id, err := pending.Wait(context.Background())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if m := srv.Message(id); m == nil || string(m.Data) != "second" {
		t.Fatalf("Wait's id %q names %+v, want the second message", id, m)
	}
	if err := <-first; err != nil {
		t.Fatalf("first publish: %v", err)
	}
}

// TestPendingFailsOrGivesUp: a pending publish the client gives up on is a
// certain failure for Wait; one still unanswered when Close gives up ends
// Wait with ErrNoLateAnswer, so no waiter outlives Close.
func TestPendingFailsOrGivesUp(t *testing.T) {
	p, _, r := setup(t, Options{Timeout: time.Second, CloseTimeout: 100 * time.Millisecond})
	r.set(status.Error(codes.Unavailable, "down"), 0) // retried by the client until its timeout
	_, err := p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("a")})
	if pending, ok := errors.AsType[*Pending](err); ok {
		if _, werr := pending.Wait(context.Background()); werr == nil || errors.Is(werr, ErrNoLateAnswer) {
			t.Fatalf("Wait after the client gave up: %v, want the client's error", werr)
		}
	} else if err == nil {
		t.Fatal("publish to an unavailable server succeeded")
	}

	r.set(nil, 2*time.Second) // stalled past Timeout and Close
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = p.Publish(ctx, events.FamilyBatch, events.Message{Data: []byte("b")})
	pending, ok := errors.AsType[*Pending](err)
	if !ok {
		t.Fatalf("publish cut by its context: %v, want a *Pending", err)
	}
	done := make(chan error, 1)
	go func() { _, err := pending.Wait(context.Background()); done <- err }()
	if err := p.Close(); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Close with Pub/Sub stalled: %v, want ErrCloseTimeout", err)
	}
	if err := <-done; !errors.Is(err, ErrNoLateAnswer) {
		t.Fatalf("Wait after Close gave up: %v, want ErrNoLateAnswer", err)
	}
}
