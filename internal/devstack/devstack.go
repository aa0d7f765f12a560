// Package devstack runs, in process, everything the function needs around
// it for local development and tests: a Pub/Sub emulator with the five
// topics, a JWKS server with a development signing key, and a generated
// HMAC signing secret. Every server listens on 127.0.0.1.
package devstack

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Defaults of a local stack.
const (
	Project = "geminihook-dev"
	Prefix  = "gemini-"
	KeyID   = "geminihook-dev-key"
)

// Stack is a running local environment.
type Stack struct {
	Project string
	Prefix  string
	PubSub  *pstest.Server
	JWKS    *verifytest.Server
	Key     *verifytest.Key
	Secret  string // whsec_… accepted by the function
}

// Options configures Start; the zero value of each field is its default.
type Options struct {
	Secret string                       // default: a freshly generated secret
	Key    *verifytest.Key              // default: a fresh 2048-bit key with kid KeyID
	Prefix string                       // default "gemini-"
	PubSub []pstest.ServerReactorOption // fault injection for tests
}

// Start runs a stack. Close it when done.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{Project: Project, Prefix: opts.Prefix, Secret: opts.Secret, Key: opts.Key}
	if s.Prefix == "" {
		s.Prefix = Prefix
	}
	if s.Secret == "" {
		secret, err := verify.GenerateSecret()
		if err != nil {
			return nil, fmt.Errorf("generate secret: %w", err)
		}
		s.Secret = secret
	}
	if s.Key == nil {
		key, err := verifytest.NewKey(KeyID)
		if err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
		s.Key = key
	}
	s.PubSub = pstest.NewServerWithAddress("127.0.0.1:0", opts.PubSub...)
	for _, f := range events.Families() {
		if _, err := s.PubSub.GServer.CreateTopic(ctx, &pubsubpb.Topic{Name: s.TopicName(f)}); err != nil {
			s.Close()
			return nil, fmt.Errorf("create topic: %w", err)
		}
	}
	s.JWKS = verifytest.NewServer(s.Key)
	return s, nil
}

// TopicName is the full name of family f's topic.
func (s *Stack) TopicName(f events.Family) string {
	return "projects/" + s.Project + "/topics/" + events.Topic(s.Prefix, f)
}

// Env is the function's environment for this stack.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		"GOOGLE_CLOUD_PROJECT":  s.Project,
		"PUBSUB_EMULATOR_HOST":  s.PubSub.Addr,
		"GEMINI_WEBHOOK_SECRET": s.Secret,
		"GEMINI_TOPIC_PREFIX":   s.Prefix,
		"GEMINI_JWKS_URL":       s.JWKS.URL,
	}
}

// Close stops the servers.
func (s *Stack) Close() {
	if s.JWKS != nil {
		s.JWKS.Close()
	}
	if s.PubSub != nil {
		s.PubSub.Close()
	}
}
