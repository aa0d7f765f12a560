// Command deployed is the function as Cloud Run runs it: a main that
// imports the root package (which registers GeminiWebhook in its init) and
// starts the Functions Framework's own server, the way Google's Go
// buildpack builds a function. Unlike geminihook serve it links none of
// the CLI's packages and runs no internal/httpserver: net/http's server as
// the framework configures it, no timeouts, no connection cap.
//
// The buildpack's main listens on every interface on $PORT; this one
// listens on 127.0.0.1 only (what the buildpack's main does with
// LOCAL_ONLY=true), which serves requests identically.
//
//	FUNCTION_TARGET=GeminiWebhook K_SERVICE=bench GOOGLE_CLOUD_PROJECT=p \
//	PUBSUB_EMULATOR_HOST=127.0.0.1:8085 GEMINI_WEBHOOK_SECRET=whsec_… \
//	deployed --port 18083
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/geminihook/geminihook"
)

func main() {
	port := flag.String("port", envOr("PORT", "8080"), "port to listen on (default $PORT, else 8080)")
	flag.Parse()
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", geminihook.EntryPoint)
	}
	if err := funcframework.StartHostPort("127.0.0.1", *port); err != nil {
		fmt.Fprintln(os.Stderr, "deployed:", err)
		os.Exit(1)
	}
}

// envOr returns the environment variable name, or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
