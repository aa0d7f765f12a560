package devstack

import (
	"context"
	"errors"
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

// TestSeedRemote seeds over the seeding endpoint what Seed stores, as
// geminihook send does for a running dev, and the real SDK sees it; the
// endpoint refuses a wrong key, a GET, unknown fields and an event that
// cannot be confirmed, and does not exist without Options.SeedEndpoint.
func TestSeedRemote(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{Confirm: true, SeedEndpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := confirm.New(confirm.Options{BaseURL: s.JobsURL, CacheSize: -1,
		APIKey: func(context.Context) (string, error) { return APIKey, nil }})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i, typ := range samples.Types {
		e, err := events.Parse(samples.Body(typ, i+1, at), events.Meta{ID: "x", ReceivedAt: at, Scheme: events.SchemeJWT})
		if err != nil {
			t.Fatal(err)
		}
		in := confirm.Input{Family: e.Family, Type: e.Type, Resource: e.Resource}
		if r, err := c.Confirm(ctx, in); err != nil || r.Verdict != confirm.Disputed {
			t.Fatalf("%s before seeding: %+v, %v; want disputed (unknown resource)", typ, r, err)
		}
		for _, agree := range []bool{true, false} {
			if err := SeedRemote(ctx, client, s.JobsURL, APIKey, SeedRequest{EventType: typ, Resource: e.Resource, Agree: agree}); err != nil {
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

	ok := SeedRequest{EventType: "batch.succeeded", Resource: "batches/x1", Agree: true}
	if err := SeedRemote(ctx, client, s.JobsURL, "wrong-key", ok); !errors.Is(err, ErrSeedRefused) || !strings.Contains(err.Error(), "403") {
		t.Errorf("wrong key: %v", err)
	} else if strings.Contains(err.Error(), "wrong-key") {
		t.Errorf("the error quotes the key: %v", err)
	}
	if err := SeedRemote(ctx, client, s.JobsURL, APIKey, SeedRequest{EventType: "webhook.ping", Resource: "p", Agree: true}); !errors.Is(err, ErrSeedRefused) {
		t.Errorf("a ping was seeded: %v", err)
	}
	for _, tc := range []struct {
		method, body string
		want         int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, `{"event_type":"batch.succeeded","resource":"batches/x","agree":true,"extra":1}`, http.StatusBadRequest},
		{http.MethodPost, `not json`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, s.JobsURL+SeedPath, strings.NewReader(tc.body))
		req.Header.Set("x-goog-api-key", APIKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.body, resp.StatusCode, tc.want)
		}
	}

	plain, err := Start(ctx, Options{Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := SeedRemote(ctx, client, plain.JobsURL, APIKey, ok); !errors.Is(err, ErrSeedRefused) {
		t.Errorf("seeded a stack started without SeedEndpoint: %v", err)
	}
}
