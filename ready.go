package geminihook

import (
	"context"
	"fmt"
)

// Ready builds the function now instead of on the first delivery and
// reports every problem that would make deliveries fail with 503
// not_ready: the configuration (every variable at fault, as loadConfig
// lists them), the clients (for example missing credentials), and, when
// keys come from Secret Manager, reading them. Local servers call it at
// start-up to refuse to serve a function that cannot work; the deployed
// function cannot refuse to start and keeps answering 503 not_ready.
func Ready(ctx context.Context) error {
	return defaultFunction.ready(ctx)
}

func (f *function) ready(ctx context.Context) error {
	s, err := f.server(ctx)
	if err != nil {
		return err
	}
	if s.secrets != nil {
		if _, err := s.secrets.Secrets(ctx); err != nil {
			return fmt.Errorf("GEMINI_WEBHOOK_SECRET: reading the signing secrets: %w", err)
		}
	}
	return nil
}
