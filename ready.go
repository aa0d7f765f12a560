package geminihook

import (
	"context"
	"fmt"
)

// ready builds the function now instead of on the first delivery and
// reports every problem that would make deliveries fail; see
// Function.Ready.
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
