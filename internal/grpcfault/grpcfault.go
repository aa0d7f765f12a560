// Package grpcfault counts the calls an in-process gRPC fake serves and
// injects failures and delays into them, by method name: the fault
// machinery of the project's Secret Manager and Firestore fakes.
package grpcfault

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Injector holds the faults and counters of one fake. Method names are
// the RPC's short name ("Commit", "AccessSecretVersion"); "" stands for
// every method, where a method has no setting of its own (a spent FailNext
// still is one until Recover). Install it with
// grpc.UnaryInterceptor(in.Unary) and grpc.StreamInterceptor(in.Stream).
// The zero value is not usable; call New. Methods are safe for concurrent
// use.
type Injector struct {
	mu     sync.Mutex
	calls  map[string]int
	faults map[string]*fault
	delays map[string]time.Duration
	closed chan struct{}
	once   sync.Once
}

// fault fails calls with err; n > 0 counts the calls left, n < 0 means always.
type fault struct {
	err error
	n   int
}

// New returns an Injector with no faults.
func New() *Injector {
	return &Injector{
		calls:  map[string]int{},
		faults: map[string]*fault{},
		delays: map[string]time.Duration{},
		closed: make(chan struct{}),
	}
}

// FailNext makes the next n calls of method fail with err (a status error
// chooses the gRPC code), before the fake serves them; n < 0 fails every
// later call until Recover.
func (in *Injector) FailNext(method string, err error, n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults[method] = &fault{err: err, n: n}
}

// Delay makes every later call of method wait d before it is served, or
// until the call's context ends or Close.
func (in *Injector) Delay(method string, d time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.delays[method] = d
}

// Recover removes every fault and delay.
func (in *Injector) Recover() {
	in.mu.Lock()
	defer in.mu.Unlock()
	clear(in.faults)
	clear(in.delays)
}

// Calls reports how many times method has been called, failed calls
// included; "" counts every call.
func (in *Injector) Calls(method string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if method == "" {
		n := 0
		for _, c := range in.calls {
			n += c
		}
		return n
	}
	return in.calls[method]
}

// Close ends the delays of calls in progress (they fail with UNAVAILABLE).
// It is safe to call more than once.
func (in *Injector) Close() {
	in.once.Do(func() { close(in.closed) })
}

// Unary is the grpc.UnaryServerInterceptor that applies the injector.
func (in *Injector) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := in.admit(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is the grpc.StreamServerInterceptor that applies the injector.
func (in *Injector) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := in.admit(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// admit counts a call of fullMethod and applies its delay, then its fault.
func (in *Injector) admit(ctx context.Context, fullMethod string) error {
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	in.mu.Lock()
	in.calls[method]++
	d, ok := in.delays[method]
	if !ok {
		d = in.delays[""]
	}
	var ferr error
	f, ok := in.faults[method]
	if !ok {
		f = in.faults[""]
	}
	if f != nil && f.n != 0 {
		ferr = f.err
		if f.n > 0 {
			f.n--
		}
	}
	in.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		case <-in.closed:
			t.Stop()
			return status.Error(codes.Unavailable, "server closed")
		}
	}
	return ferr
}
