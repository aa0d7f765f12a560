// Command emulator runs, in its own process, what the function needs around
// it for a benchmark: the Pub/Sub emulator (pstest) with the five family
// topics, a JWKS server with a throwaway development key, and a throwaway
// HMAC secret. It writes them to a state file the load generator and the
// benchmark driver read, prints "ready", and runs until SIGINT or SIGTERM,
// or --lifetime passes. Running it apart from the function lets the
// benchmark measure the CPU the emulator itself takes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/tools/load/loadgen"
)

func main() {
	state := flag.String("state", "", "file to write the stack's addresses, secret and key to (required)")
	lifetime := flag.Duration("lifetime", 30*time.Minute, "exit after this long even without a signal")
	flag.Parse()
	if err := run(*state, *lifetime); err != nil {
		fmt.Fprintln(os.Stderr, "emulator:", err)
		os.Exit(1)
	}
}

func run(statePath string, lifetime time.Duration) error {
	if statePath == "" {
		return fmt.Errorf("--state is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stack, err := devstack.Start(ctx, devstack.Options{})
	if err != nil {
		return fmt.Errorf("start stack: %w", err)
	}
	defer stack.Close()
	st := loadgen.State{
		Secret:  stack.Secret,
		KeyID:   stack.Key.KID(),
		KeyPEM:  loadgen.EncodeKey(stack.Key.Private()),
		PubSub:  stack.PubSub.Addr,
		Project: stack.Project,
		Prefix:  stack.Prefix,
		JWKSURL: stack.JWKS.URL,
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.WriteFile(statePath, raw, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	fmt.Printf("ready pubsub=%s jwks=%s\n", stack.PubSub.Addr, stack.JWKS.URL)
	t := time.NewTimer(lifetime)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}
