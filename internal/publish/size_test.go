package publish

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/geminihook/geminihook/events"
)

// TestMessageSizeMatchesProto checks events.MessageSize against proto.Size
// of the PubsubMessage the client builds, which is what its bundler limits.
func TestMessageSizeMatchesProto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		m := events.Message{Data: make([]byte, rng.IntN(1<<uint(rng.IntN(22))+1)), Attributes: map[string]string{}}
		for range rng.IntN(30) {
			m.Attributes[strings.Repeat("k", rng.IntN(256)+1)+string(rune('a'+rng.IntN(26)))] = strings.Repeat("v", rng.IntN(1<<uint(rng.IntN(11))+1))
		}
		if i == 0 {
			m = events.Message{}
		}
		want := proto.Size(&pubsubpb.PubsubMessage{Data: m.Data, Attributes: m.Attributes})
		if got := events.MessageSize(m); got != want {
			t.Fatalf("message %d: MessageSize %d, proto.Size %d", i, got, want)
		}
	}
}

// TestMaxMessageBytes checks the per-topic limit against the client's
// constant and events.MaxMessageBytes, which must fit the longest topic.
func TestMaxMessageBytes(t *testing.T) {
	if requestBytes != pubsub.MaxPublishRequestBytes {
		t.Fatalf("requestBytes %d, client's MaxPublishRequestBytes %v", requestBytes, pubsub.MaxPublishRequestBytes)
	}
	longest := "projects/" + strings.Repeat("p", 30) + "/topics/" + strings.Repeat("t", 255)
	if got := MaxMessageBytes(longest); got != events.MaxMessageBytes {
		t.Errorf("MaxMessageBytes(longest topic) = %d, events.MaxMessageBytes = %d", got, events.MaxMessageBytes)
	}
}

// TestTooLargeIsRefusedBeforeSending publishes a message one byte over
// the topic's limit and one at it: the first fails with ErrTooLarge and
// never reaches the server, the second is stored. pstest's own gRPC server
// keeps gRPC's 4 MiB default, so its fake is served here on a gRPC server
// that accepts 10 MB requests as Pub/Sub does.
func TestTooLargeIsRefusedBeforeSending(t *testing.T) {
	r := &reactor{}
	srv := pstest.NewServerWithAddress("127.0.0.1:0", pstest.ServerReactorOption{FuncName: "Publish", Reactor: r})
	t.Cleanup(func() { srv.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(requestBytes + 1024))
	pubsubpb.RegisterPublisherServer(g, &srv.GServer)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	if _, err := srv.GServer.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/p/topics/x-batch"}); err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), "p", "x-", Options{Timeout: 20 * time.Second},
		option.WithEndpoint(lis.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	limit := MaxMessageBytes("projects/p/topics/x-batch")
	attrs := map[string]string{"webhook_id": "msg_big"}
	overhead := events.MessageSize(events.Message{Data: []byte{1}, Attributes: attrs}) - 1 - 1 - 1
	data := make([]byte, limit-overhead-5) // tag and a 4-byte length
	m := events.Message{Data: data, Attributes: attrs}
	if n := events.MessageSize(m); n != limit {
		t.Fatalf("built %d bytes, want %d", n, limit)
	}
	big := events.Message{Data: append(data, 'x'), Attributes: attrs}
	_, err = p.Publish(context.Background(), events.FamilyBatch, big)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("message one byte over the limit: %v, want ErrTooLarge", err)
	}
	r.mu.Lock()
	calls := r.calls
	r.mu.Unlock()
	if calls != 0 {
		t.Fatalf("the refused message reached the server (%d Publish calls)", calls)
	}
	if _, err := p.Publish(context.Background(), events.FamilyBatch, m); err != nil {
		t.Fatalf("message at the limit: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

// TestCloseIsBoundedWhenPubSubStalls closes a publisher whose message is
// held by a stalled server: Close gives up with ErrCloseTimeout instead of
// waiting for the stall to end.
func TestCloseIsBoundedWhenPubSubStalls(t *testing.T) {
	p, _, r := setup(t, Options{Timeout: 30 * time.Second, CloseTimeout: 200 * time.Millisecond})
	r.set(nil, 2*time.Second)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = p.Publish(context.Background(), events.FamilyBatch, events.Message{Data: []byte("stalled")})
	})
	for {
		r.mu.Lock()
		calls := r.calls
		r.mu.Unlock()
		if calls > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Close(); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Close with Pub/Sub stalled: %v, want ErrCloseTimeout", err)
	}
	wg.Wait()
}
