package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

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

// allEventTypes lists every completion type in Gemini's catalog.
func allEventTypes() []string {
	var out []string
	for _, t := range events.Types() {
		out = append(out, t.Type)
	}
	return out
}

// parseEventList splits a comma-separated list; types outside the catalog
// are kept (Gemini may add types) but reported on stderr.
func parseEventList(s string, stderr io.Writer) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" || slices.Contains(out, t) {
			continue
		}
		if _, known := events.Lookup(t); !known {
			fmt.Fprintf(stderr, "warning: %q is not in Gemini's event catalog; sending it anyway\n", t)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--events is empty")
	}
	return out, nil
}

// describeWebhook prints a webhook without any secret material.
func describeWebhook(w io.Writer, h *geminiapi.Webhook) {
	fmt.Fprintf(w, "  id:     %s\n", h.ID)
	if h.Name != "" {
		fmt.Fprintf(w, "  name:   %s\n", h.Name)
	}
	fmt.Fprintf(w, "  uri:    %s\n", h.URI)
	fmt.Fprintf(w, "  events: %s\n", strings.Join(h.SubscribedEvents, ", "))
	if h.State != "" {
		fmt.Fprintf(w, "  state:  %s\n", h.State)
	}
}

func runRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("register", stderr)
	var o mgmtOptions
	o.flags(fs)
	name := fs.String("name", "geminihook", "display name of the webhook")
	url := fs.String("url", "", "the function's URL (default: Terraform output webhook_url)")
	tfDir := fs.String("terraform-dir", "terraform", "Terraform directory whose outputs supply defaults")
	eventList := fs.String("events", strings.Join(allEventTypes(), ","), "comma-separated event types to subscribe")
	secretFlag := fs.String("secret", "", "Secret Manager secret the function reads, projects/P/secrets/S (default: $GEMINI_WEBHOOK_SECRET or Terraform output secret_id)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "register takes no arguments\n")
		fs.Usage()
		return errUsage
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
	existing, err := api.List(ctx)
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
		if !sameSet(h.SubscribedEvents, evs) {
			fmt.Fprintf(stdout, "note: its events differ from --events; delete it and register again to change them\n")
		}
		fmt.Fprintf(stdout, "if its signing secret is not in %s, run: geminihook rotate --webhook %s --secret %s\n", secret, h.ID, secret)
		return nil
	}
	h, err := api.Create(ctx, geminiapi.CreateRequest{Name: *name, URI: hookURL, SubscribedEvents: evs})
	if err != nil {
		return err
	}
	if h.NewSigningSecret.IsZero() {
		return fmt.Errorf("webhook %s was created but the answer holds no signing secret; run: geminihook rotate --webhook %s --secret %s", h.ID, h.ID, secret)
	}
	version, err := storeSigningSecret(ctx, sm, secret, h.NewSigningSecret)
	if err != nil {
		return fmt.Errorf("webhook %s was created but its signing secret could not be stored (%w); once Secret Manager is reachable run: geminihook rotate --webhook %s --revoke immediately --secret %s", h.ID, err, h.ID, secret)
	}
	fmt.Fprintf(stdout, "registered webhook for %s\n", hookURL)
	describeWebhook(stdout, h)
	fmt.Fprintf(stdout, "signing secret stored as %s\n", version)
	return nil
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
