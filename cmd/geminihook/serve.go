package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/geminihook/geminihook"
)

func init() {
	addCommand(command{
		name:    "serve",
		summary: "run the function locally exactly as deployed (Functions Framework; honours PORT and the environment)",
		run:     runServe,
	})
}

// shutdownGrace is how long serve waits for deliveries in flight after
// SIGTERM: inside the 10 seconds Cloud Run allows.
const shutdownGrace = 8 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	host := fs.String("host", "127.0.0.1", "address to listen on (0.0.0.0 to accept other hosts)")
	port := fs.String("port", envOr("PORT", "8080"), "port to listen on (default $PORT or 8080)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	fmt.Fprintf(stderr, "geminihook: serving %s on http://%s\n", geminihook.EntryPoint, net.JoinHostPort(*host, *port))
	return serveFunction(ctx, *host, *port)
}

// serveFunction runs the registered function through the Functions
// Framework until ctx ends, then drains deliveries in flight and flushes
// the publishers.
func serveFunction(ctx context.Context, host, port string) error {
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", geminihook.EntryPoint)
	}
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort(host, port) }()
	select {
	case err := <-errc:
		return fmt.Errorf("functions framework: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return geminihook.Shutdown(sctx)
}

// waitListening polls addr until it accepts a connection or ctx ends.
func waitListening(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not listening: %w", addr, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
