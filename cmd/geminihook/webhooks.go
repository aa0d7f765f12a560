package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

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
		summary: "ask Gemini to ping a webhook and report whether the ping reached the <prefix>other or <prefix>quarantine topic",
		run:     runPing,
	})
	addCommand(command{
		name:    "delete",
		summary: "delete a webhook registered with Gemini",
		run:     runDelete,
	})
}

// apiOnlyClient opens the SDK's webhook service, opening Secret Manager
// only when the API key lives there. The returned func releases what was
// opened.
func (o *mgmtOptions) apiOnlyClient(ctx context.Context) (*interactions.Webhooks, func(), error) {
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

// webhookArg takes the webhook id from --webhook or the only positional
// argument, and prints the usage problem otherwise.
func webhookArg(fs *flag.FlagSet, name, flagValue string, pos []string) (string, error) {
	switch {
	case flagValue != "" && len(pos) == 0:
		return flagValue, nil
	case flagValue == "" && len(pos) == 1:
		return pos[0], nil
	case len(pos) > 1:
		fmt.Fprintf(fs.Output(), "geminihook %s takes one webhook id, got %d arguments\n", name, len(pos))
	case flagValue != "" && len(pos) > 0:
		fmt.Fprintf(fs.Output(), "geminihook %s: give the webhook id either as the argument or with --webhook, not both\n", name)
	default:
		fmt.Fprintf(fs.Output(), "geminihook %s needs a webhook id (see geminihook list); usage: geminihook %s\n", name, helpFor[name].usage)
	}
	return "", errUsage
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", stderr)
	var o mgmtOptions
	o.flags(fs)
	asJSON := fs.Bool("json", false, "print the webhooks as a JSON array, in the API's own field names")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "list", pos); err != nil {
		return err
	}
	if err := o.check(fs); err != nil {
		return err
	}
	api, done, err := o.apiOnlyClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	hooks, err := geminiapi.ListAll(ctx, api)
	if err != nil {
		return err
	}
	for i := range hooks {
		hooks[i].NewSigningSecret = nil // never in a list answer; never printed
	}
	if *asJSON {
		if hooks == nil {
			hooks = []webhooks.Webhook{}
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
		state := "-"
		if h.State != nil {
			state = string(*h.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", deref(h.ID), state, h.URI, strings.Join(eventStrings(h.SubscribedEvents), ","), deref(h.Name))
	}
	return tw.Flush()
}

func runDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("delete", stderr)
	var o mgmtOptions
	o.flags(fs)
	webhook := fs.String("webhook", "", "webhook id (or give it as the argument)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := webhookArg(fs, "delete", *webhook, pos)
	if err != nil {
		return err
	}
	if err := o.check(fs); err != nil {
		return err
	}
	api, done, err := o.apiOnlyClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	got, err := api.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		return geminiapi.Wrap("get webhook "+id, err)
	}
	if _, err := api.Delete(ctx, operations.DeleteWebhookRequest{ID: id}); err != nil {
		return geminiapi.Wrap("delete webhook "+id, err)
	}
	fmt.Fprintln(stdout, "deleted webhook")
	if h := got.GetWebhook(); h != nil {
		h.NewSigningSecret = nil
		describeWebhook(stdout, h)
	}
	fmt.Fprintln(stdout, "its signing secret versions stay in Secret Manager; disable them when no other webhook uses them")
	return nil
}

// pingFamilies are the topics a ping may reach: its body is undocumented
// (the live :ping answers {}), so the function files it under other when
// it parses as an unknown type, or quarantine when it does not parse.
var pingFamilies = []events.Family{events.FamilyOther, events.FamilyQuarantine}

func runPing(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ping", stderr)
	var o mgmtOptions
	o.flags(fs)
	var p pubsubOptions
	p.flags(fs)
	webhook := fs.String("webhook", "", "webhook id (or give it as the argument)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the ping on the <prefix>other and <prefix>quarantine topics")
	noWait := fs.Bool("no-wait", false, "only ask Gemini to ping; do not watch the topics")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := webhookArg(fs, "ping", *webhook, pos)
	if err != nil {
		return err
	}
	if *wait <= 0 {
		fmt.Fprintln(stderr, "--wait must be positive")
		return errUsage
	}
	if err := o.check(fs); err != nil {
		return err
	}
	api, done, err := o.apiOnlyClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	ping := func() error {
		_, err := api.Ping(ctx, operations.PingWebhookRequest{ID: id, Body: &webhooks.PingWebhookRequest{}})
		return geminiapi.Wrap("ping webhook "+id, err)
	}
	if *noWait {
		if err := ping(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Gemini accepted the ping for webhook %s\n", id)
		return nil
	}

	c, err := p.client(ctx, stderr)
	if err != nil {
		return fmt.Errorf("%w (or use --no-wait)", err)
	}
	defer c.Close()
	// Subscribe before pinging: a subscription sees only later messages.
	subs := make([]string, len(pingFamilies))
	for i, f := range pingFamilies {
		sub, err := p.tempSubscription(ctx, c, "ping", f)
		if err != nil {
			return err
		}
		defer deleteSubscription(c, sub, stderr)
		subs[i] = sub
	}
	if err := ping(); err != nil {
		return err
	}
	var topics []string
	for _, f := range pingFamilies {
		topics = append(topics, p.topicName(f))
	}
	fmt.Fprintf(stdout, "Gemini accepted the ping for webhook %s; waiting up to %s for it on %s\n", id, *wait, strings.Join(topics, " and "))

	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	type arrival struct {
		family events.Family
		line   string
	}
	got := make(chan arrival, 1)
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Subscriber(sub).Receive(wctx, func(_ context.Context, m *pubsub.Message) {
				m.Ack()
				select {
				case got <- arrival{pingFamilies[i], eventLine(m)}:
					cancel()
				default:
				}
			})
		}()
	}
	wg.Wait()
	select {
	case a := <-got:
		fmt.Fprintf(stdout, "delivered to %s: %s\n", p.topicName(a.family), a.line)
		if a.family == events.FamilyQuarantine {
			fmt.Fprintln(stdout, "the delivery was authentic but its body did not parse, so the function quarantined it (answered 200, kept verbatim): the webhook and its secret work")
		}
		return nil
	default:
	}
	if err := receiveErr(subs, errs); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("nothing reached %s within %s: check the function's logs (signature rejected? wrong secret?) and the webhook's state with geminihook list", strings.Join(topics, " or "), *wait)
}
