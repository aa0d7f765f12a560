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
