package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/internal/httpserver"
	"github.com/geminihook/geminihook/internal/logging"
)

func init() {
	addCommand(command{
		name:    "serve",
		summary: "run the function locally as deployed, behind an HTTP server with timeouts and connection limits (honours PORT and the environment)",
		run:     runServe,
	})
}

// shutdownGrace is the whole budget of a shutdown after SIGTERM: cutting
// unfinished reads, answering deliveries in flight, closing the publishers
// and the connections. Inside the 10 seconds Cloud Run allows.
const shutdownGrace = 8 * time.Second

// readyTimeout bounds the start-up check of the configuration.
const readyTimeout = 20 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	host := fs.String("host", "127.0.0.1", "address to listen on (0.0.0.0 to accept other hosts)")
	port := fs.String("port", envOr("PORT", "8080"), "port to listen on (default $PORT or 8080; 0 picks a free one)")
	limits := serverFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "geminihook serve: unexpected argument %q (serve takes only flags)\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	fn := geminihook.New()
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	err := fn.Ready(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("the function cannot serve deliveries:\n%s", indentProblems(err))
	}
	ln, err := listen(*host, *port)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "geminihook: serving %s on http://%s\n", geminihook.EntryPoint, ln.Addr())
	return serveFunction(ctx, fn, ln, *limits)
}

// serverFlags adds the HTTP server's limits to fs; the defaults are
// httpserver's.
func serverFlags(fs *flag.FlagSet) *httpserver.Options {
	o := &httpserver.Options{}
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", httpserver.DefaultReadHeaderTimeout, "longest time to read a request's line and headers")
	fs.DurationVar(&o.ReadTimeout, "read-timeout", httpserver.DefaultReadTimeout, "longest time to read a whole request, body included")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", httpserver.DefaultIdleTimeout, "longest time a kept-alive connection waits for its next request")
	fs.IntVar(&o.MaxHeaderBytes, "max-header-bytes", httpserver.DefaultMaxHeaderBytes, "cap on a request's line and headers, in bytes")
	fs.IntVar(&o.MaxConns, "max-conns", httpserver.DefaultMaxConns, "cap on open connections; more wait in the kernel's accept queue")
	return o
}

// indentProblems lists each line of err's message on its own indented line.
func indentProblems(err error) string {
	var b strings.Builder
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString("  - " + line + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// errPortInUse is returned when the port is taken by another process.
var errPortInUse = errors.New("port in use, try --port")

// listen binds host:port at once, so that a busy or invalid port fails
// before anything else happens.
func listen(host, port string) (net.Listener, error) {
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("invalid port %q: want a number from 0 to 65535", port)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: %w", net.JoinHostPort(host, port), errPortInUse)
		}
		return nil, fmt.Errorf("listen on %s: %w", net.JoinHostPort(host, port), err)
	}
	return ln, nil
}

// serveFunction serves fn on ln until ctx ends, then
// shuts down within shutdownGrace: unfinished body reads are cut, new
// deliveries are answered 503 shutting_down, deliveries in flight get
// their answers, the publishers are closed under their own deadline, and
// connections still open when the budget runs out are closed.
func serveFunction(ctx context.Context, fn *geminihook.Function, ln net.Listener, opts httpserver.Options) error {
	opts.Drain = fn.Shutdown
	srv := httpserver.New(fn, opts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// The operator sees the shutdown begin and how it ended, in the same
	// JSON lines as the deliveries.
	logger := opts.Logger
	if logger == nil {
		logger = logging.New(os.Stdout, slog.LevelInfo)
	}
	start := time.Now()
	logger.Info("shutting down", "grace_s", shutdownGrace.Seconds())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		logger.Error("shut down with an error", "shutdown_ms", time.Since(start).Milliseconds(), "error", err.Error())
	} else {
		logger.Info("shut down", "shutdown_ms", time.Since(start).Milliseconds())
	}
	return err
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
