package devstack

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/samples"
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
	if _, ok := env["GEMINI_API_KEY_SECRET"]; ok {
		t.Errorf("the function is pointed at the local Gemini API without Options.Confirm: %v", env)
	}
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

// TestSeed confirms every sample type against the stack's Gemini API once
// seeded to agree, and disputes it once seeded to contradict, through the
// real SDK, as the function started with Env would.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	env := s.Env()
	if env["GEMINI_API_BASE_URL"] != s.JobsURL || !strings.HasPrefix(s.JobsURL, "http://127.0.0.1:") ||
		env["GEMINI_API_KEY_SECRET"] != "literal:"+APIKey {
		t.Fatalf("env %v", env)
	}
	c, err := confirm.New(confirm.Options{BaseURL: s.JobsURL, CacheSize: -1,
		APIKey: func(context.Context) (string, error) { return APIKey, nil }})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i, typ := range samples.Types {
		e, err := events.Parse(samples.Body(typ, i+1, at), events.Meta{ID: "x", ReceivedAt: at, Scheme: events.SchemeJWT})
		if err != nil {
			t.Fatal(err)
		}
		in := confirm.Input{Family: e.Family, Type: e.Type, Resource: e.Resource}
		for _, agree := range []bool{true, false} {
			if err := s.Seed(typ, e.Resource, agree); err != nil {
				t.Fatal(err)
			}
			r, err := c.Confirm(ctx, in)
			want := confirm.Confirmed
			if !agree {
				want = confirm.Disputed
			}
			if err != nil || r.Verdict != want {
				t.Errorf("%s agree=%v: %+v, %v", typ, agree, r, err)
			}
		}
	}
	if err := s.Seed("webhook.ping", "p", true); err == nil {
		t.Error("a ping was seeded")
	}
}
