// Package geminihook is a Cloud Function (Cloud Run functions, Go) that
// receives Gemini API webhook deliveries, verifies them, and publishes one
// normalized completion event per delivery to Pub/Sub.
//
// The entry point is GeminiWebhook. It answers 200 only once Pub/Sub holds
// the event (or the delivery is a duplicate, or an authentic but
// unintelligible body was quarantined); anything that fails on our side is
// answered 503 with Retry-After, so Gemini retries and nothing is lost.
// README.md documents the environment, the status contract and the schema.
package geminihook

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/geminihook/geminihook/internal/logging"
)

// EntryPoint is the name the function is registered under.
const EntryPoint = "GeminiWebhook"

// defaultFunction serves GeminiWebhook. Building it reads nothing and does no
// I/O: configuration and clients are set up on the first request.
var defaultFunction = newFunction(os.Getenv, buildOptions{})

func init() {
	functions.HTTP(EntryPoint, GeminiWebhook)
	if os.Getenv("K_SERVICE") != "" {
		// On Cloud Run, drain in-flight deliveries when the instance is
		// stopped, within the 10 seconds SIGTERM leaves.
		go drainOnSignal()
	}
}

// GeminiWebhook is the HTTP entry point for Gemini webhook deliveries.
func GeminiWebhook(w http.ResponseWriter, r *http.Request) {
	defaultFunction.ServeHTTP(w, r)
}

// Shutdown stops the function behind GeminiWebhook: new deliveries are
// answered 503 (so Gemini retries them elsewhere), deliveries in flight
// finish including their publishes, and the publishers are flushed and
// closed. It returns when that is done or ctx ends. The deployed function
// calls it on SIGTERM; a server that embeds GeminiWebhook calls it when it
// stops.
func Shutdown(ctx context.Context) error {
	return defaultFunction.Shutdown(ctx)
}

// Function is one instance of the function, configured from the process
// environment on its first delivery or on Ready, exactly as the one behind
// GeminiWebhook. Local servers (geminihook serve and dev) create one per
// run, so that a run's shutdown never reaches into another's. The zero
// value is not usable; call New.
type Function struct {
	fn *function
}

// New returns a Function. It reads nothing and does no I/O.
func New() *Function {
	return &Function{fn: newFunction(os.Getenv, buildOptions{})}
}

// ServeHTTP handles one delivery, as GeminiWebhook does.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.fn.ServeHTTP(w, r) }

// Ready builds the function now instead of on the first delivery and
// reports every problem that would make deliveries fail with 503
// not_ready: the configuration (every variable at fault, as loadConfig
// lists them), the clients (for example missing credentials), and, when
// keys come from Secret Manager, reading them. Local servers call it at
// start-up to refuse to serve a function that cannot work; the deployed
// function cannot refuse to start and keeps answering 503 not_ready.
func (f *Function) Ready(ctx context.Context) error { return f.fn.ready(ctx) }

// Shutdown stops f as the package-level Shutdown stops the function behind
// GeminiWebhook.
func (f *Function) Shutdown(ctx context.Context) error { return f.fn.Shutdown(ctx) }

// drainOnSignal waits for SIGTERM, shuts the function down and exits.
func drainOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := Shutdown(ctx); err != nil {
		logging.New(os.Stdout, slog.LevelInfo).Error("shutdown incomplete", "error", err.Error())
		os.Exit(1)
	}
	os.Exit(0)
}
