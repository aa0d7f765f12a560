package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/geminiapi"
)

func init() {
	addCommand(command{
		name:    "list",
		summary: "list the webhooks registered with Gemini",
		run:     runList,
	})
	addCommand(command{
		name:    "ping",
		summary: "ask Gemini to ping a webhook and wait for the ping on the <prefix>other topic",
		run:     runPing,
	})
	addCommand(command{
		name:    "delete",
		summary: "delete a webhook registered with Gemini",
		run:     runDelete,
	})
}

// apiOnlyClient builds the Gemini client, opening Secret Manager only when
// the API key lives there. The returned func releases what was opened.
func (o *mgmtOptions) apiOnlyClient(ctx context.Context) (*geminiapi.Client, func(), error) {
	if o.apiKeySecret == "" {
		api, err := o.geminiClient(ctx, nil)
		return api, func() {}, err
	}
	sm, err := o.secretManager(ctx)
	if err != nil {
		return nil, nil, err
	}
	api, err := o.geminiClient(ctx, sm)
	if err != nil {
		sm.Close()
		return nil, nil, err
	}
	return api, func() { sm.Close() }, nil
}

// webhookArg takes the webhook id from --webhook or the only argument.
func webhookArg(fs interface {
	NArg() int
	Arg(int) string
}, flagValue string) (string, bool) {
	switch {
	case flagValue != "" && fs.NArg() == 0:
		return flagValue, true
	case flagValue == "" && fs.NArg() == 1:
		return fs.Arg(0), true
	}
	return "", false
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", stderr)
	var o mgmtOptions
	o.flags(fs)
	asJSON := fs.Bool("json", false, "print the webhooks as a JSON array")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "list takes no arguments\n")
		return errUsage
	}
	api, done, err := o.apiOnlyClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	hooks, err := api.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if hooks == nil {
			hooks = []geminiapi.Webhook{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(hooks)
	}
	if len(hooks) == 0 {
		fmt.Fprintln(stdout, "no webhooks registered")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tURI\tEVENTS\tNAME")
	for _, h := range hooks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.ID, h.State, h.URI, strings.Join(h.SubscribedEvents, ","), h.Name)
	}
	return tw.Flush()
}

func runDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("delete", stderr)
	var o mgmtOptions
	o.flags(fs)
	webhook := fs.String("webhook", "", "webhook id (or give it as the argument)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	id, ok := webhookArg(fs, *webhook)
	if !ok {
		fmt.Fprintf(stderr, "usage: geminihook delete [flags] <webhook-id>\n")
		fs.PrintDefaults()
		return errUsage
	}
	api, done, err := o.apiOnlyClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := api.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := api.Delete(ctx, id); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "deleted webhook")
	describeWebhook(stdout, h)
	fmt.Fprintln(stdout, "its signing secret versions stay in Secret Manager; disable them when no other webhook uses them")
	return nil
}

func runPing(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ping", stderr)
	var o mgmtOptions
	o.flags(fs)
	var p pubsubOptions
	p.flags(fs)
	webhook := fs.String("webhook", "", "webhook id (or give it as the argument)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the ping on the <prefix>other topic")
	noWait := fs.Bool("no-wait", false, "only ask Gemini to ping; do not watch the topic")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	id, ok := webhookArg(fs, *webhook)
	if !ok || *wait <= 0 {
		fmt.Fprintf(stderr, "usage: geminihook ping [flags] <webhook-id>  (--wait must be positive)\n")
		fs.PrintDefaults()
		return errUsage
	}
	api, done, err := o.apiOnlyClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	if *noWait {
		if err := api.Ping(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Gemini accepted the ping for webhook %s\n", id)
		return nil
	}

	c, err := p.client(ctx)
	if err != nil {
		return fmt.Errorf("%w (or use --no-wait)", err)
	}
	defer c.Close()
	// Subscribe before pinging: a subscription sees only later messages.
	sub, err := p.tempSubscription(ctx, c, "ping", events.FamilyOther)
	if err != nil {
		return err
	}
	defer deleteSubscription(c, sub, stderr)

	if err := api.Ping(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Gemini accepted the ping for webhook %s; waiting up to %s for it on %s\n", id, *wait, p.topicName(events.FamilyOther))

	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	got := make(chan string, 1)
	rerr := c.Subscriber(sub).Receive(wctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- eventLine(m):
			cancel()
		default:
		}
	})
	select {
	case line := <-got:
		fmt.Fprintf(stdout, "delivered: %s\n", line)
		return nil
	default:
	}
	if err := receiveErr([]string{sub}, []error{rerr}); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("no message reached %s within %s: check the function's logs (signature rejected? wrong secret?) and the webhook's state with geminihook list", p.topicName(events.FamilyOther), *wait)
}
