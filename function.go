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

// Shutdown stops the function: new deliveries are answered 503 (so Gemini
// retries them elsewhere), deliveries in flight finish including their
// publishes, and the publishers are flushed and closed. It returns when that
// is done or ctx ends. Local servers call it on SIGTERM.
func Shutdown(ctx context.Context) error {
	return defaultFunction.Shutdown(ctx)
}

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
