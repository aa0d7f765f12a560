package devstack

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
)

func TestStack(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range events.Families() {
		if _, err := s.PubSub.GServer.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: s.TopicName(f)}); err != nil {
			t.Errorf("topic %s: %v", f, err)
		}
	}
	env := s.Env()
	if !strings.HasPrefix(env["GEMINI_WEBHOOK_SECRET"], "whsec_") || !strings.HasPrefix(env["PUBSUB_EMULATOR_HOST"], "127.0.0.1:") ||
		env["GOOGLE_CLOUD_PROJECT"] != Project || env["GEMINI_TOPIC_PREFIX"] != Prefix {
		t.Fatalf("env %v", env)
	}
	resp, err := http.Get(env["GEMINI_JWKS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), KeyID) {
		t.Fatalf("JWKS does not hold the dev key: %s", body)
	}
	s2, err := Start(ctx, Options{Secret: s.Secret, Key: s.Key, Prefix: "x-"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Secret != s.Secret || s2.Key != s.Key || !strings.HasSuffix(s2.TopicName(events.FamilyBatch), "/topics/x-batch") {
		t.Fatal("options not honoured")
	}
}
