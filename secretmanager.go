package geminihook

import (
	"context"
	"fmt"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
)

// secretManager returns the server's one Secret Manager client, creating
// it on the first call. The webhook keyring and the Gemini API key share
// it: one connection, one set of credentials, closed once with the server.
func (s *server) secretManager(ctx context.Context, opts buildOptions) (*secretmanager.Client, error) {
	if s.sm != nil {
		return s.sm, nil
	}
	client, err := secretmanager.NewClient(ctx, opts.secretManagerOptions...)
	if err != nil {
		return nil, fmt.Errorf("secretmanager.NewClient: %w", err)
	}
	boundSecretCalls(client)
	s.sm = client
	s.closers = append(s.closers, client.Close)
	return client, nil
}
