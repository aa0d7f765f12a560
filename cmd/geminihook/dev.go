package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/samples"
)

func init() {
	addCommand(command{
		name:    "dev",
		summary: "run the function with embedded defaults: in-process Pub/Sub, a dev secret and a dev JWKS; prints every published message",
		run:     runDev,
	})
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	host := fs.String("host", "127.0.0.1", "address to listen on")
	port := fs.String("port", envOr("PORT", "8080"), "port to listen on (0 picks a free one)")
	demo := fs.Bool("demo", false, "send one signed delivery of every event type through both schemes, print what was published, and exit (the dev state file is left alone)")
	secret := fs.String("secret", "", "whsec_ secret to accept (default: a fresh one)")
	limits := serverFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "geminihook dev: unexpected argument %q (dev takes only flags)\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}

	// Bind first: a busy port fails here, before the state file of the
	// dev server that holds it is touched, and the demo can only ever
	// deliver to this process.
	ln, err := listen(*host, *port)
	if err != nil {
		return err
	}
	stack, err := devstack.Start(ctx, devstack.Options{Secret: *secret, Confirm: true, SeedEndpoint: true})
	if err != nil {
		ln.Close()
		return err
	}
	defer stack.Close()
	for k, v := range stack.Env() {
		os.Setenv(k, v)
	}
	url := "http://" + ln.Addr().String()
	// Dynamic webhooks need a configured audience (the function never
	// derives it from the request): dev's own URL, which send and sign use
	// as the aud of the tokens they mint.
	os.Setenv("GEMINI_JWT_AUDIENCE", url)
	statePath := "(not written: --demo)"
	if !*demo {
		statePath, err = saveDevState(devState{
			URL: url, Secret: stack.Secret, KeyID: stack.Key.KID(), KeyPEM: encodeRSAKey(stack.Key.Private()),
			PubSubEmulatorHost: stack.PubSub.Addr, Project: stack.Project, Prefix: stack.Prefix,
			GeminiAPIURL: stack.JobsURL, GeminiAPIKey: devstack.APIKey,
		})
		if err != nil {
			ln.Close()
			return fmt.Errorf("save dev state: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	printer, err := startPrinter(ctx, stack, stdout)
	if err != nil {
		ln.Close()
		return err
	}
	defer printer.stop()

	served := make(chan error, 1)
	go func() { served <- serveFunction(ctx, geminihook.New(), ln, *limits) }()

	fmt.Fprintf(stderr, `geminihook dev: function %s at %s
  Pub/Sub emulator %s, project %s, topics %s{batch,interaction,video,other,quarantine}
  JWKS %s (kid %s); local dev secret and key: %s (throwaway, local only)
`, "GeminiWebhook", url, stack.PubSub.Addr, stack.Project, stack.Prefix, stack.JWKS.URL, stack.Key.KID(), statePath)

	if *demo {
		err := runDemo(ctx, url, stack, printer, stdout)
		cancel()
		if serr := <-served; err == nil {
			err = serr
		}
		return err
	}
	fmt.Fprintf(stderr, "  send a delivery:  go run ./cmd/geminihook send --type batch.succeeded   (or --scheme jwt; --scheme jwt --dispute for one the Gemini API contradicts)\n")
	return <-served
}

// runDemo sends every event type through both schemes and waits until each
// delivery's message has been printed. It signs with the stack's secret and
// key directly: the dev state file belongs to a dev server that keeps
// running, which the demo is not. The local Gemini API agrees with every
// delivery, so the JWT-signed ones are published confirmed (under the
// default GEMINI_CONFIRM=dynamic); then one batch.succeeded that the API
// contradicts is quarantined as unconfirmed.
func runDemo(ctx context.Context, url string, stack *devstack.Stack, p *printer, stdout io.Writer) error {
	keyFile, err := os.CreateTemp("", "geminihook-demo-*.pem")
	if err != nil {
		return fmt.Errorf("demo key: %w", err)
	}
	defer os.Remove(keyFile.Name())
	_, err = keyFile.WriteString(encodeRSAKey(stack.Key.Private()))
	if cerr := keyFile.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo key: %w", err)
	}
	// signer signs as the stack's own secret and key.
	signer := func(scheme, typ string) signOptions {
		return signOptions{scheme: scheme, eventType: typ, secret: stack.Secret, keyFile: keyFile.Name(), kid: stack.Key.KID()}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	want := 0
	for i, typ := range samples.Types {
		if err := stack.Seed(typ, sampleResource(typ, i+1), true); err != nil {
			return err
		}
	}
	for _, scheme := range []string{"hmac", "jwt"} {
		for i, typ := range samples.Types {
			o := signer(scheme, typ)
			body := samples.Body(typ, i+1, time.Now())
			status, answer, err := o.send(ctx, client, url, body)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("demo %s %s: answered %d %s", scheme, typ, status, strings.TrimSpace(answer))
			}
			want++
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	got, err := p.waitFor(wctx, want)
	if err != nil {
		return fmt.Errorf("demo: %d of %d messages arrived: %w", got, want, err)
	}
	fmt.Fprintf(stdout, "demo: %d deliveries answered 200, %d messages published\n", want, got)

	// One the Gemini API contradicts: it reports the batch still running.
	const disputed = 1000
	if err := stack.Seed("batch.succeeded", sampleResource("batch.succeeded", disputed), false); err != nil {
		return err
	}
	o := signer("jwt", "batch.succeeded")
	status, answer, err := o.send(ctx, client, url, samples.Body("batch.succeeded", disputed, time.Now()))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("demo unconfirmed batch.succeeded: answered %d %s", status, strings.TrimSpace(answer))
	}
	if got, err = p.waitFor(wctx, want+1); err != nil {
		return fmt.Errorf("demo: %d of %d messages arrived: %w", got, want+1, err)
	}
	p.mu.Lock()
	confirmed, unconfirmed := p.confirmed, p.unconfirmed
	p.mu.Unlock()
	fmt.Fprintf(stdout, "demo: %d events confirmed by the local Gemini API, %d unconfirmed (quarantined)\n", confirmed, unconfirmed)
	return nil
}

// sampleResource is the data.id of sample n of eventType.
func sampleResource(eventType string, n int) string {
	var b struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(samples.Body(eventType, n, time.Time{}), &b) // samples are valid JSON
	return b.Data.ID
}

// printer subscribes to every family topic of a stack and prints each
// message as it arrives.
type printer struct {
	client *pubsub.Client
	out    io.Writer
	wg     sync.WaitGroup

	mu          sync.Mutex
	count       int
	confirmed   int           // events the Gemini API confirmed
	unconfirmed int           // deliveries quarantined as unconfirmed
	seen        chan struct{} // signalled on every message
}

func startPrinter(ctx context.Context, stack *devstack.Stack, out io.Writer) (*printer, error) {
	client, err := pubsub.NewClient(ctx, stack.Project)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	p := &printer{client: client, out: out, seen: make(chan struct{}, 1)}
	for _, f := range events.Families() {
		name := fmt.Sprintf("projects/%s/subscriptions/geminihook-dev-%s", stack.Project, f)
		_, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: name, Topic: stack.TopicName(f)})
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("create subscription: %w", err)
		}
		sub := client.Subscriber(name)
		p.wg.Go(func() {
			_ = sub.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
				m.Ack()
				p.print(f, m)
			})
		})
	}
	return p, nil
}

func (p *printer) print(f events.Family, m *pubsub.Message) {
	var line string
	if f == events.FamilyQuarantine {
		line = fmt.Sprintf("quarantine  id=%s reason=%q (%d bytes kept verbatim)", m.Attributes["webhook_id"], m.Attributes["quarantine_reason"], len(m.Data))
		if r := m.Attributes[events.AttrQuarantineReason]; r == events.ReasonUnconfirmed {
			line += fmt.Sprintf(" %s %s: the Gemini API says %s (%s)", m.Attributes[events.AttrEventType], m.Attributes[events.AttrResource],
				m.Attributes[events.AttrDisputeReason], m.Attributes[events.AttrAPIState])
		}
	} else if e, err := events.Decode(events.Message{Data: m.Data, Attributes: m.Attributes}); err != nil {
		line = fmt.Sprintf("%-11s undecodable message %s: %v", f, m.ID, err)
	} else {
		line = fmt.Sprintf("%-11s %-28s %-15s %-52s id=%s scheme=%s", e.Family, e.Type, e.Outcome, e.Resource, e.ID, e.SignatureScheme)
		if e.Confirmed {
			line += " confirmed=" + e.APIState
		}
	}
	p.mu.Lock()
	p.count++
	if m.Attributes[events.AttrConfirmed] == "true" {
		p.confirmed++
	}
	if f == events.FamilyQuarantine && m.Attributes[events.AttrQuarantineReason] == events.ReasonUnconfirmed {
		p.unconfirmed++
	}
	fmt.Fprintln(p.out, "published   "+line)
	p.mu.Unlock()
	select {
	case p.seen <- struct{}{}:
	default:
	}
}

// waitFor waits until n messages were printed.
func (p *printer) waitFor(ctx context.Context, n int) (int, error) {
	for {
		p.mu.Lock()
		c := p.count
		p.mu.Unlock()
		if c >= n {
			return c, nil
		}
		select {
		case <-p.seen:
		case <-ctx.Done():
			return c, ctx.Err()
		}
	}
}

func (p *printer) stop() {
	p.wg.Wait()
	p.client.Close()
}
