// Command bare is the Functions Framework ceiling the benchmark compares the
// function against: an HTTP function, served exactly as geminihook serve
// serves GeminiWebhook, that reads the body and answers 200 with a small
// JSON answer, doing nothing else.
//
//	bare --port 18081
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

// entryPoint is the name the function is registered under.
const entryPoint = "Bare"

func init() {
	functions.HTTP(entryPoint, handle)
}

// handle reads the whole body, as the function does, and answers 200.
func handle(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)); err != nil {
		http.Error(w, "body unreadable", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"result":"published"}`+"\n")
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.String("port", "8080", "port to listen on")
	flag.Parse()
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", entryPoint)
	}
	if err := funcframework.StartHostPort(*host, *port); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}
