package httpserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/geminihook/geminihook/internal/httpserver"
)

// Example serves a handler with the default limits, shortened header
// timeout, and shuts it down within a budget, running the handler's own
// drain in between.
func Example() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", r.Method, r.RequestURI)
	})
	srv := httpserver.New(h, httpserver.Options{
		ReadHeaderTimeout: 5 * time.Second,
		Logger:            slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Drain:             func(context.Context) error { return nil }, // e.g. geminihook.Shutdown
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	// A request a router would redirect reaches the handler as sent.
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	req.URL.Opaque = "/a//b/../c"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Print(res.StatusCode, " ", string(body))

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	fmt.Println(srv.Shutdown(ctx), <-done)
	// Output:
	// 200 GET /a//b/../c
	// <nil> <nil>
}
