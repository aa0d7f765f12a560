// Package devstack runs, in process, everything the function needs around
// it for local development and tests: a Pub/Sub emulator with the five
// topics, a JWKS server with a development signing key, a generated HMAC
// signing secret, and a local Gemini API (internal/geminijobs) that the
// function confirms events against. Every server listens on 127.0.0.1.
package devstack

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/interactions"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/geminijobs"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Defaults of a local stack.
const (
	Project = "geminihook-dev"
	Prefix  = "gemini-"
	KeyID   = "geminihook-dev-key"
	// APIKey is the local Gemini API's key: not a secret, it opens only
	// the local stand-in.
	APIKey = "geminihook-dev-api-key"
)

// Stack is a running local environment.
type Stack struct {
	Project string
	Prefix  string
	PubSub  *pstest.Server
	JWKS    *verifytest.Server
	Key     *verifytest.Key
	Secret  string // whsec_… accepted by the function
	// Jobs is the local Gemini API the function confirms events against;
	// seed it with Seed.
	Jobs    *geminijobs.Server
	JobsURL string
	jobs    *httptest.Server
	confirm bool
}

// Options configures Start; the zero value of each field is its default.
type Options struct {
	Secret string                       // default: a freshly generated secret
	Key    *verifytest.Key              // default: a fresh 2048-bit key with kid KeyID
	Prefix string                       // default "gemini-"
	PubSub []pstest.ServerReactorOption // fault injection for tests
	// Confirm points the function at the local Gemini API (Env sets
	// GEMINI_API_KEY_SECRET and GEMINI_API_BASE_URL), so that it confirms
	// JWT-signed deliveries by default; the API knows only what Seed
	// stored. Off, the API still runs but the function is not told of it.
	Confirm bool
	// SeedEndpoint makes the local Gemini API also answer POST SeedPath,
	// so that another process (geminihook send) can seed it; see
	// SeedRemote. The real API has no such path.
	SeedEndpoint bool
}

// SeedPath is the local Gemini API's seeding endpoint, served with
// Options.SeedEndpoint. It takes a JSON SeedRequest and the API key in
// the x-goog-api-key header, and answers 204.
const SeedPath = "/geminihook-dev/seed"

// SeedRequest is the body of a POST to SeedPath: what Seed takes.
type SeedRequest struct {
	EventType string `json:"event_type"`
	Resource  string `json:"resource"`
	Agree     bool   `json:"agree"`
}

// Start runs a stack. Close it when done.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{Project: Project, Prefix: opts.Prefix, Secret: opts.Secret, Key: opts.Key, confirm: opts.Confirm}
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
	s.Jobs = geminijobs.New(geminijobs.Options{APIKey: APIKey})
	var api http.Handler = s.Jobs
	if opts.SeedEndpoint {
		mux := http.NewServeMux()
		mux.Handle("/", s.Jobs)
		mux.HandleFunc(SeedPath, s.serveSeed)
		api = mux
	}
	s.jobs = httptest.NewServer(api) // httptest listens on 127.0.0.1
	s.JobsURL = s.jobs.URL
	return s, nil
}

// TopicName is the full name of family f's topic.
func (s *Stack) TopicName(f events.Family) string {
	return "projects/" + s.Project + "/topics/" + events.Topic(s.Prefix, f)
}

// Env is the function's environment for this stack; with Options.Confirm
// it names the local Gemini API and its key.
func (s *Stack) Env() map[string]string {
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT":  s.Project,
		"PUBSUB_EMULATOR_HOST":  s.PubSub.Addr,
		"GEMINI_WEBHOOK_SECRET": s.Secret,
		"GEMINI_TOPIC_PREFIX":   s.Prefix,
		"GEMINI_JWKS_URL":       s.JWKS.URL,
	}
	if s.confirm {
		env["GEMINI_API_KEY_SECRET"] = "literal:" + APIKey
		env["GEMINI_API_BASE_URL"] = s.JobsURL
	}
	return env
}

// Seed makes the local Gemini API report about resource (an event's
// data.id) the state that confirms eventType when agree is true, and a
// state that contradicts it otherwise.
func (s *Stack) Seed(eventType, resource string, agree bool) error {
	return Seed(s.Jobs, eventType, resource, agree)
}

// Seed stores in api the resource named by an event's data.id, in the state
// that confirms eventType (agree) or in one that contradicts it.
func Seed(api *geminijobs.Server, eventType, resource string, agree bool) error {
	info, _ := events.Lookup(eventType)
	want, ok := confirm.ExpectedState(eventType)
	if !ok {
		return fmt.Errorf("devstack: %q cannot be confirmed", eventType)
	}
	name, err := confirm.ResourceName(info.Family, resource)
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	switch info.Family {
	case events.FamilyBatch:
		st := genai.JobState(want)
		if !agree {
			st = genai.JobStateRunning
		}
		job := genai.BatchJob{Name: name, State: st}
		if st == genai.JobStateSucceeded {
			job.Dest = &genai.BatchJobDestination{FileName: "files/" + lastSegment(name) + "-responses"}
		}
		api.SetBatch(job)
	case events.FamilyInteraction:
		st := interactions.InteractionStatus(want)
		if !agree {
			st = interactions.InteractionStatusInProgress
		}
		id := lastSegment(name)
		api.SetInteraction(interactions.Interaction{ID: &id, Status: st})
	case events.FamilyVideo:
		op := genai.GenerateVideosOperation{Name: name, Done: agree}
		if agree {
			op.Response = &genai.GenerateVideosResponse{GeneratedVideos: []*genai.GeneratedVideo{
				{Video: &genai.Video{URI: videoURI(name), MIMEType: "video/mp4"}}}}
		}
		api.SetVideoOperation(op)
	default:
		return fmt.Errorf("devstack: family %q cannot be seeded", info.Family)
	}
	return nil
}

// maxSeedBody bounds a SeedRequest.
const maxSeedBody = 64 << 10

// serveSeed answers POST SeedPath: it seeds s.Jobs as Seed does.
func (s *Stack) serveSeed(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(geminijobs.APIKeyHeader)), []byte(s.Jobs.APIKey())) != 1 {
		http.Error(w, "missing or wrong "+geminijobs.APIKeyHeader, http.StatusForbidden)
		return
	}
	var req SeedRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSeedBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "seed request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.Seed(req.EventType, req.Resource, req.Agree); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ErrSeedRefused is returned by SeedRemote when the local Gemini API
// answered the seed request with an error status.
var ErrSeedRefused = errors.New("devstack: seed refused")

// SeedRemote seeds the local Gemini API at baseURL (a Stack's JobsURL,
// started with Options.SeedEndpoint) as Seed does, over HTTP, with its
// API key. Neither the key nor the request appears in its errors.
func SeedRemote(ctx context.Context, client *http.Client, baseURL, apiKey string, req SeedRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("devstack: seed request: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+SeedPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("devstack: seed request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(geminijobs.APIKeyHeader, apiKey)
	resp, err := client.Do(r)
	if err != nil {
		return fmt.Errorf("devstack: seed the local Gemini API: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%w: %s: %s", ErrSeedRefused, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// videoURI is the local download URI of a seeded video.
func videoURI(name string) string {
	return "https://generativelanguage.googleapis.com/v1beta/files/" + lastSegment(name) + ":download?alt=media"
}

func lastSegment(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[i+1:]
		}
	}
	return s
}

// Close stops the servers.
func (s *Stack) Close() {
	if s.jobs != nil {
		s.jobs.Close()
	}
	if s.JWKS != nil {
		s.JWKS.Close()
	}
	if s.PubSub != nil {
		s.PubSub.Close()
	}
}
