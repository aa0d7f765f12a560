package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

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
	port := fs.String("port", envOr("PORT", "8080"), "port to listen on")
	demo := fs.Bool("demo", false, "send one signed delivery of every event type through both schemes, print what was published, and exit")
	secret := fs.String("secret", "", "whsec_ secret to accept (default: a fresh one)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}

	stack, err := devstack.Start(ctx, devstack.Options{Secret: *secret})
	if err != nil {
		return err
	}
	defer stack.Close()
	for k, v := range stack.Env() {
		os.Setenv(k, v)
	}
	addr := net.JoinHostPort(*host, *port)
	url := "http://" + addr
	// Dynamic webhooks need a configured audience (the function never
	// derives it from the request): dev's own URL, which send and sign use
	// as the aud of the tokens they mint.
	os.Setenv("GEMINI_JWT_AUDIENCE", url)
	statePath, err := saveDevState(devState{URL: url, Secret: stack.Secret, KeyID: stack.Key.KID(), KeyPEM: encodeRSAKey(stack.Key.Private())})
	if err != nil {
		return fmt.Errorf("save dev state: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	printer, err := startPrinter(ctx, stack, stdout)
	if err != nil {
		return err
	}
	defer printer.stop()

	served := make(chan error, 1)
	go func() { served <- serveFunction(ctx, *host, *port) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	err = waitListening(wctx, addr)
	wcancel()
	if err != nil {
		cancel()
		if serr := <-served; serr != nil {
			return serr
		}
		return err
	}

	fmt.Fprintf(stderr, `geminihook dev: function %s at %s
  Pub/Sub emulator %s, project %s, topics %s{batch,interaction,video,other,quarantine}
  JWKS %s (kid %s); local dev secret and key written to %s (throwaway, local only)
  send a delivery:  go run ./cmd/geminihook send --type batch.succeeded   (or --scheme jwt)
`, "GeminiWebhook", url, stack.PubSub.Addr, stack.Project, stack.Prefix, stack.JWKS.URL, stack.Key.KID(), statePath)

	if *demo {
		err := runDemo(ctx, url, printer, stdout)
		cancel()
		if serr := <-served; err == nil {
			err = serr
		}
		return err
	}
	return <-served
}

// runDemo sends every event type through both schemes and waits until each
// delivery's message has been printed.
func runDemo(ctx context.Context, url string, p *printer, stdout io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second}
	want := 0
	for _, scheme := range []string{"hmac", "jwt"} {
		for i, typ := range samples.Types {
			o := signOptions{scheme: scheme, eventType: typ}
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
	return nil
}

// printer subscribes to every family topic of a stack and prints each
// message as it arrives.
type printer struct {
	client *pubsub.Client
	out    io.Writer
	wg     sync.WaitGroup

	mu    sync.Mutex
	count int
	seen  chan struct{} // signalled on every message
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
	} else if e, err := events.Decode(events.Message{Data: m.Data, Attributes: m.Attributes}); err != nil {
		line = fmt.Sprintf("%-11s undecodable message %s: %v", f, m.ID, err)
	} else {
		line = fmt.Sprintf("%-11s %-28s %-15s %-52s id=%s scheme=%s", e.Family, e.Type, e.Outcome, e.Resource, e.ID, e.SignatureScheme)
	}
	p.mu.Lock()
	p.count++
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
