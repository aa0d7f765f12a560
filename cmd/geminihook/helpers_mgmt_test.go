package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/iterator"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
	"github.com/geminihook/geminihook/internal/smtest"
)

const (
	testAPIKey  = "AIza-test-key"
	testProject = "proj"
	testSecret  = "projects/proj/secrets/gemini-webhook"
	testHookURL = "https://fn.example.run.app/"
)

// mgmtEnv is a full set of in-process services for the management
// commands: the Gemini API fake, Secret Manager and the Pub/Sub emulator,
// with the five topics and the function's secret created.
type mgmtEnv struct {
	t      *testing.T
	gemini *geminiapitest.Server
	sm     *smtest.Server
	ps     *pstest.Server
	psc    *pubsub.Client

	mu     sync.Mutex
	output bytes.Buffer // everything every command printed, for leak checks
}

func newMgmtEnv(t *testing.T) *mgmtEnv {
	t.Helper()
	e := &mgmtEnv{t: t, gemini: geminiapitest.NewServer(testAPIKey)}
	t.Cleanup(e.gemini.Close)
	var err error
	if e.sm, err = smtest.NewServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sm.Close)
	// Like the real service, answer with the project number in names.
	e.sm.SetProjectNumber(testProject, "246813579")
	if err := e.sm.CreateSecret(testSecret); err != nil {
		t.Fatal(err)
	}
	e.ps = pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { e.ps.Close() })

	t.Setenv("PUBSUB_EMULATOR_HOST", e.ps.Addr)
	t.Setenv("GOOGLE_CLOUD_PROJECT", testProject)
	t.Setenv(apiKeyEnv, testAPIKey)
	t.Setenv("GEMINI_WEBHOOK_SECRET", "")
	// Never read the state of a dev server the developer may be running.
	t.Setenv("GEMINIHOOK_DEV_STATE", filepath.Join(t.TempDir(), "dev.json"))
	// No Terraform on PATH unless a test installs one.
	t.Setenv("PATH", t.TempDir())

	ctx := e.ctx(10 * time.Second)
	if e.psc, err = pubsub.NewClient(ctx, testProject); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.psc.Close() })
	for _, f := range events.Families() {
		if _, err := e.psc.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicFor(f)}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func topicFor(f events.Family) string {
	return "projects/" + testProject + "/topics/" + events.Topic("gemini-", f)
}

func (e *mgmtEnv) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// apiFlags point a management command at the fakes.
func (e *mgmtEnv) apiFlags() []string {
	return []string{"--api-base", e.gemini.URL, "--secretmanager-endpoint", e.sm.Addr}
}

// run executes a command in-process through runMain, as the binary would,
// and returns its exit code and output.
func (e *mgmtEnv) run(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code = runMain(e.ctx(60*time.Second), args, &out, &errOut)
	e.mu.Lock()
	e.output.Write(out.Bytes())
	e.output.Write(errOut.Bytes())
	e.mu.Unlock()
	return code, out.String(), errOut.String()
}

// mustRun runs a command that must succeed.
func (e *mgmtEnv) mustRun(args ...string) string {
	e.t.Helper()
	code, out, errOut := e.run(args...)
	if code != 0 {
		e.t.Fatalf("geminihook %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// assertNoSecretLeaked searches everything printed for every signing
// secret the fake issued and every secret payload stored, in the forms a
// leak could take.
func (e *mgmtEnv) assertNoSecretLeaked() {
	e.t.Helper()
	e.mu.Lock()
	printed := e.output.String()
	e.mu.Unlock()
	var secrets []string
	for _, h := range e.gemini.Webhooks() {
		for _, s := range h.Secrets {
			secrets = append(secrets, s.Value)
		}
	}
	for _, v := range e.sm.Versions(testSecret) {
		if p := e.sm.Payload(v.GetName()); len(p) > 0 {
			secrets = append(secrets, string(p))
		}
	}
	if len(secrets) == 0 {
		e.t.Fatal("no secrets to search for: the check would prove nothing")
	}
	for _, s := range secrets {
		key := strings.TrimPrefix(s, "whsec_")
		for _, form := range []string{s, key, key[:16]} {
			if strings.Contains(printed, form) {
				e.t.Fatalf("a signing secret appeared in command output")
			}
		}
	}
}

// subscriptions lists the subscriptions that exist in the emulator.
func (e *mgmtEnv) subscriptions() []string {
	e.t.Helper()
	it := e.psc.SubscriptionAdminClient.ListSubscriptions(e.ctx(10*time.Second), &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + testProject})
	var out []string
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s.Name)
	}
}

// waitSubscriptions waits until n subscriptions exist.
func (e *mgmtEnv) waitSubscriptions(n int) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(e.subscriptions()) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d subscriptions never appeared", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// subscribe creates a standing subscription to family f.
func (e *mgmtEnv) subscribe(id string, f events.Family) string {
	e.t.Helper()
	name := "projects/" + testProject + "/subscriptions/" + id
	if _, err := e.psc.SubscriptionAdminClient.CreateSubscription(e.ctx(10*time.Second), &pubsubpb.Subscription{Name: name, Topic: topicFor(f), AckDeadlineSeconds: 10}); err != nil {
		e.t.Fatal(err)
	}
	return name
}

// pull receives up to n messages from sub within d with unary Pull,
// acknowledging them when ack is set and nacking them (ack deadline 0)
// otherwise; both are explicit calls that complete before pull returns.
func (e *mgmtEnv) pull(sub string, n int, d time.Duration, ack bool) []*pubsubpb.PubsubMessage {
	e.t.Helper()
	ctx := e.ctx(d + 10*time.Second)
	deadline := time.Now().Add(d)
	var got []*pubsubpb.PubsubMessage
	var ackIDs []string
	for len(got) < n && time.Now().Before(deadline) {
		resp, err := e.psc.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: int32(n - len(got))})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, rm := range resp.GetReceivedMessages() {
			got = append(got, rm.GetMessage())
			ackIDs = append(ackIDs, rm.GetAckId())
		}
	}
	if len(ackIDs) > 0 {
		var err error
		if ack {
			err = e.psc.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ackIDs})
		} else {
			err = e.psc.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: sub, AckIds: ackIDs})
		}
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return got
}

// publishEvent publishes the normalized event of body to its family topic,
// as the function would.
func (e *mgmtEnv) publishEvent(id, body string) events.Event {
	e.t.Helper()
	ev, err := events.Parse([]byte(body), events.Meta{ID: id, ReceivedAt: time.Now().UTC(), Scheme: events.SchemeHMAC})
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := events.NewMessage(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ps.Publish(topicFor(ev.Family), m.Data, m.Attributes)
	return ev
}
