package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/geminiapi"
)

func init() {
	addCommand(command{
		name:    "register",
		summary: "register the deployed function as a Gemini webhook and store its signing secret in Secret Manager",
		run:     runRegister,
	})
}

// subscribableTypes lists the catalog's types that the webhook API accepts
// in subscribed_events: those the SDK's WebhookSubscribedEvent enum names.
// The rest (the two *.cancelled types) are delivered by Gemini's catalog
// but refused by the API as launched.
func subscribableTypes() []string {
	var out []string
	for _, t := range events.Types() {
		if webhooks.WebhookSubscribedEvent(t.Type).ToPointer().IsExact() {
			out = append(out, t.Type)
		}
	}
	return out
}

// parseEventList splits a comma-separated list of event types. Types
// outside Gemini's catalog are refused; catalog types the API does not
// list as subscribable are kept with a note on stderr.
func parseEventList(s string, stderr io.Writer) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" || slices.Contains(out, t) {
			continue
		}
		if _, known := events.Lookup(t); !known {
			return nil, fmt.Errorf("--events: %q is not a Gemini event type; the API accepts %s", t, strings.Join(subscribableTypes(), ", "))
		}
		if !webhooks.WebhookSubscribedEvent(t).ToPointer().IsExact() {
			fmt.Fprintf(stderr, "note: %s is in Gemini's event catalog but not among the types the webhook API lists as subscribable; the API may refuse it\n", t)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--events is empty")
	}
	return out, nil
}

// describeWebhook prints a webhook without any secret material.
func describeWebhook(w io.Writer, h *webhooks.Webhook) {
	fmt.Fprintf(w, "  id:      %s\n", deref(h.ID))
	if h.Name != nil && *h.Name != "" {
		fmt.Fprintf(w, "  name:    %s\n", *h.Name)
	}
	fmt.Fprintf(w, "  uri:     %s\n", h.URI)
	fmt.Fprintf(w, "  events:  %s\n", strings.Join(eventStrings(h.SubscribedEvents), ", "))
	if h.State != nil {
		fmt.Fprintf(w, "  state:   %s\n", *h.State)
	}
	for _, s := range h.SigningSecrets {
		line := deref(s.TruncatedSecret)
		if s.ExpireTime != nil {
			line += " (expires " + s.ExpireTime.UTC().Format("2006-01-02 15:04 MST") + ")"
		}
		fmt.Fprintf(w, "  secret:  %s\n", line)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func eventStrings[E ~string](es []E) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e)
	}
	return out
}

func runRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("register", stderr)
	var o mgmtOptions
	o.flags(fs)
	name := fs.String("name", "geminihook", "the webhook's name (optional, shown by list)")
	url := fs.String("url", "", "the function's URL (default: Terraform output webhook_url)")
	tfDir := fs.String("terraform-dir", "terraform", "Terraform directory whose outputs supply defaults")
	eventList := fs.String("events", strings.Join(subscribableTypes(), ","), "comma-separated event types to subscribe; batch.cancelled and interaction.cancelled are opt-in (the API may refuse them)")
	secretFlag := fs.String("secret", "", "Secret Manager secret the function reads, projects/P/secrets/S (default: $GEMINI_WEBHOOK_SECRET or Terraform output secret_id)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "register", pos); err != nil {
		return err
	}
	if err := o.check(fs); err != nil {
		return err
	}
	evs, err := parseEventList(*eventList, stderr)
	if err != nil {
		return err
	}
	hookURL, err := resolveWebhookURL(ctx, *url, *tfDir)
	if err != nil {
		return err
	}
	secret, err := resolveSecretName(ctx, *secretFlag, *tfDir)
	if err != nil {
		return err
	}
	sm, err := o.secretManager(ctx)
	if err != nil {
		return err
	}
	defer sm.Close()
	api, err := o.geminiClient(ctx, sm)
	if err != nil {
		return err
	}
	// The signing secret is shown once: make sure it has somewhere to go
	// before asking for it.
	if err := checkSecret(ctx, sm, secret); err != nil {
		return err
	}
	existing, err := geminiapi.ListAll(ctx, api)
	if err != nil {
		return err
	}
	for i := range existing {
		h := &existing[i]
		if h.URI != hookURL {
			continue
		}
		fmt.Fprintf(stdout, "a webhook for %s is already registered; nothing changed\n", hookURL)
		describeWebhook(stdout, h)
		if !sameSet(eventStrings(h.SubscribedEvents), evs) {
			fmt.Fprintf(stdout, "note: its events differ from --events; delete it and register again to change them\n")
		}
		fmt.Fprintf(stdout, "if its signing secret is not in %s, run: geminihook rotate --webhook %s --secret %s\n", secret, deref(h.ID), secret)
		return nil
	}
	in := webhooks.WebhookInput{URI: hookURL}
	if *name != "" {
		in.Name = name
	}
	for _, e := range evs {
		in.SubscribedEvents = append(in.SubscribedEvents, webhooks.WebhookSubscribedEvent(e))
	}
	res, err := api.Create(ctx, operations.CreateWebhookRequest{Body: in}, geminiapi.NoRetry())
	if err != nil {
		err = geminiapi.Wrap("create webhook", err)
		if !isAPIError(err) {
			// Sent but unanswered: the webhook may exist, with a secret
			// nobody saw.
			return fmt.Errorf("%w; the outcome is unknown: run geminihook list, and if a webhook for %s is there, geminihook rotate --webhook ID --revoke immediately --secret %s", err, hookURL, secret)
		}
		return err
	}
	h := res.GetWebhook()
	if h == nil || h.ID == nil || *h.ID == "" {
		return fmt.Errorf("create webhook: the answer holds no webhook id; run geminihook list, then geminihook rotate --webhook ID --secret %s", secret)
	}
	id := *h.ID
	if h.NewSigningSecret == nil || *h.NewSigningSecret == "" {
		return fmt.Errorf("webhook %s was created but the answer holds no signing secret; run: geminihook rotate --webhook %s --secret %s", id, id, secret)
	}
	version, err := storeSigningSecret(ctx, sm, secret, *h.NewSigningSecret)
	h.NewSigningSecret = nil
	if err != nil {
		return fmt.Errorf("webhook %s was created but its signing secret could not be stored (%w); once Secret Manager is reachable run: geminihook rotate --webhook %s --revoke immediately --secret %s", id, err, id, secret)
	}
	fmt.Fprintf(stdout, "registered webhook for %s\n", hookURL)
	describeWebhook(stdout, h)
	fmt.Fprintf(stdout, "signing secret stored as %s\n", version)
	return nil
}

// isAPIError reports whether err carries an answer from the API (so the
// call was refused, not lost in flight).
func isAPIError(err error) bool {
	var ae *geminiapi.APIError
	return errors.As(err, &ae)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
