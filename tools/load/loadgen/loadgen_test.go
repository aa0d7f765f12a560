package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/verify"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1/", "http://[::1]:9/x", "http://127.8.9.10"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080", "https://127.0.0.1", "http://example.com", "http://0.0.0.0:80", "ftp://localhost", "::"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("CheckLoopback(%q) = nil, want an error", bad)
		}
	}
	if _, err := Run(context.Background(), Options{URL: "http://192.0.2.1/"}, nil); err == nil {
		t.Error("Run accepted a non-loopback target")
	}
}

// verifyingServer is a receiver that checks every delivery with the real
// verifier, remembers ids and the idempotency keys the function dedupes
// on, and answers 200 or 401.
type verifyingServer struct {
	*httptest.Server
	mu    sync.Mutex
	ids   map[string]int
	keys  map[string]int
	types map[string]int
}

func newVerifyingServer(t *testing.T, stack *devstack.Stack) *verifyingServer {
	t.Helper()
	var v *verify.Verifier
	s := &verifyingServer{ids: map[string]int{}, keys: map[string]int{}, types: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d, err := v.Verify(r.Context(), verify.Request{Header: r.Header, Body: body})
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		ev, err := events.Parse(body, events.Meta{ID: d.ID, ReceivedAt: time.Now(), Scheme: string(d.Scheme)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.ids[d.ID]++
		s.keys[d.IdempotencyKey()]++
		s.types[ev.Type]++
		s.mu.Unlock()
	}))
	// The audience is configuration: the server's own URL, as the signer
	// uses it (AudienceFor).
	var err error
	v, err = verify.New(verify.Options{
		Keyring:   verify.StaticKeyring{verify.MustParseSecret(stack.Secret)},
		KeySet:    verify.NewRemoteKeySet(stack.JWKS.URL, verify.RemoteKeySetOptions{}),
		Audiences: []string{AudienceFor("http://" + s.Listener.Addr().String())},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestDeliveriesAreSignedUniqueAndCoverEveryType(t *testing.T) {
	ctx := context.Background()
	stack, err := devstack.Start(ctx, devstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	srv := newVerifyingServer(t, stack)
	st := State{Secret: stack.Secret, KeyID: stack.Key.KID(), KeyPEM: EncodeKey(stack.Key.Private())}

	for _, scheme := range []string{SchemeHMAC, SchemeJWT, SchemeMixed} {
		t.Run(scheme, func(t *testing.T) {
			srv.mu.Lock()
			clear(srv.ids)
			clear(srv.keys)
			clear(srv.types)
			srv.mu.Unlock()
			sg, err := st.Signer(scheme, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			n := 2 * len(samples.Types)
			ds, err := Prepare(ctx, sg, "t"+scheme, n)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(ctx, Options{URL: srv.URL, Concurrency: 4}, ds)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Failed(); err != nil {
				t.Fatalf("run failed: %v (first error %q)", err, rep.ErrorSample)
			}
			if rep.Sent != n || rep.OK != n || rep.Status["200"] != n {
				t.Fatalf("sent %d, ok %d, status %v; want %d each", rep.Sent, rep.OK, rep.Status, n)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.ids) != n {
				t.Errorf("server saw %d distinct ids, want %d", len(srv.ids), n)
			}
			// The function dedupes on the idempotency key (for JWT, the
			// token's iss and jti): every delivery must be a new event.
			if len(srv.keys) != n {
				t.Errorf("server saw %d distinct idempotency keys, want %d", len(srv.keys), n)
			}
			for _, typ := range samples.Types {
				if srv.types[typ] != 2 {
					t.Errorf("type %s arrived %d times, want 2", typ, srv.types[typ])
				}
			}
		})
	}
}

func TestOpenLoopRunIsBoundedAndCountsStatuses(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	ds, err := Prepare(context.Background(), Signer{Scheme: SchemeNone}, "r", 1000)
	if err != nil {
		t.Fatal(err)
	}
	// 100/s for 200ms sends about 20 of the 1000 deliveries.
	rep, err := Run(context.Background(), Options{URL: srv.URL, Rate: 100, Duration: 200 * time.Millisecond}, ds)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent == 0 || rep.Sent >= 100 {
		t.Fatalf("sent %d deliveries in a 200ms run at 100/s", rep.Sent)
	}
	mu.Lock()
	defer mu.Unlock()
	if rep.Sent != calls || rep.Answered != calls {
		t.Errorf("sent %d, answered %d, server saw %d", rep.Sent, rep.Answered, calls)
	}
	if rep.Status["503"] != calls/5 || rep.OK != calls-calls/5 {
		t.Errorf("status %v for %d calls", rep.Status, calls)
	}
	if rep.Failed() == nil {
		t.Error("a run with 503 answers did not fail")
	}
}

func TestCounterCountsWhatWasPublishedAfterItStarted(t *testing.T) {
	ctx := context.Background()
	stack, err := devstack.Start(ctx, devstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	client, err := pubsub.NewClient(ctx, stack.Project, option.WithEndpoint(stack.PubSub.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	publish := func(f events.Family, id string) {
		pub := client.Publisher(events.Topic(stack.Prefix, f))
		defer pub.Stop()
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("{}"), Attributes: map[string]string{"webhook_id": id}}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	publish(events.FamilyBatch, "before") // before the counter: not counted
	c, err := NewCounter(ctx, stack.PubSub.Addr, stack.Project, stack.Prefix, "c1")
	if err != nil {
		t.Fatal(err)
	}
	publish(events.FamilyBatch, "a")
	publish(events.FamilyVideo, "b")
	publish(events.FamilyQuarantine, "b")
	msgs, distinct, err := c.Count(ctx, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if msgs != 3 || distinct != 2 {
		t.Errorf("Count = %d messages, %d distinct; want 3, 2", msgs, distinct)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep := Report{Sent: 3, OK: 3, Published: msgs, DistinctPublished: distinct}
	if rep.Failed() == nil {
		t.Error("a duplicate publish was not reported")
	}
	if _, err := NewCounter(ctx, "10.1.2.3:8085", "p", "gemini-", "x"); err == nil {
		t.Error("NewCounter accepted a non-loopback emulator")
	}
}
