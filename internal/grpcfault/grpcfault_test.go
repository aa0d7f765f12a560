package grpcfault

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// A real gRPC client against a real server (the standard health service)
// with the injector installed: counted calls, a fault for the next n
// calls, a fault on every method, a delay ended by the caller's deadline
// and by Close, and Recover.
func TestInjector(t *testing.T) {
	in := New()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(in.Unary), grpc.StreamInterceptor(in.Stream))
	healthpb.RegisterHealthServer(g, health.NewServer())
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := healthpb.NewHealthClient(conn)
	check := func(ctx context.Context) codes.Code {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		return status.Code(err)
	}
	bg := context.Background()

	if c := check(bg); c != codes.OK {
		t.Fatalf("no fault: %v", c)
	}
	in.FailNext("Check", status.Error(codes.Unavailable, "injected"), 2)
	for i, want := range []codes.Code{codes.Unavailable, codes.Unavailable, codes.OK} {
		if c := check(bg); c != want {
			t.Fatalf("call %d after FailNext(2): %v, want %v", i+1, c, want)
		}
	}
	in.Recover() // a method's own setting, even spent, comes before ""
	in.FailNext("", status.Error(codes.PermissionDenied, "injected"), -1)
	for range 3 {
		if c := check(bg); c != codes.PermissionDenied {
			t.Fatalf("every method failing: %v", c)
		}
	}
	in.Recover()
	if c := check(bg); c != codes.OK {
		t.Fatalf("after Recover: %v", c)
	}
	if n, all := in.Calls("Check"), in.Calls(""); n != 8 || all != 8 {
		t.Fatalf("Calls = %d, all %d; want 8", n, all)
	}

	in.Delay("Check", time.Hour)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if c := check(ctx); c != codes.DeadlineExceeded {
		t.Fatalf("delayed call past the deadline: %v", c)
	}
	done := make(chan codes.Code, 1)
	go func() { done <- check(bg) }()
	for in.Calls("Check") < 10 {
		time.Sleep(time.Millisecond)
	}
	in.Close()
	in.Close() // safe twice
	select {
	case c := <-done:
		if c != codes.Unavailable {
			t.Fatalf("delayed call at Close: %v, want Unavailable", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a delayed call")
	}
}
