package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

	"github.com/geminihook/geminihook/internal/geminiapi"
)

func init() {
	addCommand(command{
		name:    "rotate",
		summary: "rotate a webhook's signing secret and keep Secret Manager in step (--finish ends a 24-hour grace)",
		run:     runRotate,
	})
}

// rotationGrace is how long Gemini keeps honouring the previous secrets
// after a rotation with revoke_previous_secrets_after_h24.
const rotationGrace = 24 * time.Hour

// findWebhook returns the id of the webhook whose URI is url.
func findWebhook(ctx context.Context, api *interactions.Webhooks, url string) (string, error) {
	all, err := geminiapi.ListAll(ctx, api)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, h := range all {
		if h.URI == url {
			ids = append(ids, deref(h.ID))
		}
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no webhook is registered for %s (see geminihook list)", url)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d webhooks are registered for %s (%s): choose one with --webhook", len(ids), url, strings.Join(ids, ", "))
}

func runRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rotate", stderr)
	var o mgmtOptions
	o.flags(fs)
	webhook := fs.String("webhook", "", "webhook id (default: the one registered for --url)")
	url := fs.String("url", "", "find the webhook by this URL (default: Terraform output webhook_url)")
	tfDir := fs.String("terraform-dir", "terraform", "Terraform directory whose outputs supply defaults")
	revoke := fs.String("revoke", "after-24h", "when Gemini stops using the previous secrets: after-24h or immediately")
	finish := fs.Bool("finish", false, "end a 24-hour grace: disable the enabled secret versions older than the newest (calls no Gemini API)")
	force := fs.Bool("force", false, "with --finish: do not wait for the grace period to end")
	secretFlag := fs.String("secret", "", "Secret Manager secret the function reads, projects/P/secrets/S (default: $GEMINI_WEBHOOK_SECRET or Terraform output secret_id)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "rotate", pos); err != nil {
		return err
	}
	if err := o.check(fs); err != nil {
		return err
	}
	var behavior webhooks.RevocationBehavior
	switch *revoke {
	case "after-24h":
		behavior = webhooks.RevocationBehaviorRevokePreviousSecretsAfterH24
	case "immediately":
		behavior = webhooks.RevocationBehaviorRevokePreviousSecretsImmediately
	default:
		fmt.Fprintf(stderr, "--revoke must be after-24h or immediately\n")
		return errUsage
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

	if *finish {
		return finishRotation(ctx, sm, secret, *force, stdout)
	}

	api, err := o.geminiClient(ctx, sm)
	if err != nil {
		return err
	}
	if err := checkSecret(ctx, sm, secret); err != nil {
		return err
	}
	id := *webhook
	if id == "" {
		hookURL, err := resolveWebhookURL(ctx, *url, *tfDir)
		if err != nil {
			return fmt.Errorf("no --webhook, and %w", err)
		}
		if id, err = findWebhook(ctx, api, hookURL); err != nil {
			return err
		}
	}
	res, err := api.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{
		ID:   id,
		Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: behavior.ToPointer()},
	}, geminiapi.NoRetry())
	if err != nil {
		err = geminiapi.Wrap("rotate signing secret of webhook "+id, err)
		if !isAPIError(err) {
			// Sent but unanswered: Gemini may have rotated, and the new
			// secret, shown only in the lost answer, is gone.
			return fmt.Errorf("%w; the outcome is unknown: if deliveries start failing, run this command again with --revoke immediately", err)
		}
		return err
	}
	rotatedAt := time.Now().UTC()
	newSecret := res.GetWebhookRotateSigningSecretResponse().GetSecret()
	if newSecret == nil || *newSecret == "" {
		return fmt.Errorf("the signing secret of webhook %s was rotated but the answer holds no secret; run this command again with --revoke immediately", id)
	}
	version, err := storeSigningSecret(ctx, sm, secret, *newSecret)
	if err != nil {
		advice := "deliveries are still accepted with the previous secret for 24 hours"
		if behavior == webhooks.RevocationBehaviorRevokePreviousSecretsImmediately {
			advice = "deliveries will be rejected until a secret is stored"
		}
		return fmt.Errorf("the signing secret of webhook %s was rotated but the new one could not be stored (%w); %s: run this command again once Secret Manager is reachable", id, err, advice)
	}
	fmt.Fprintf(stdout, "rotated the signing secret of webhook %s\n", id)
	fmt.Fprintf(stdout, "new secret stored as %s\n", version)
	if behavior == webhooks.RevocationBehaviorRevokePreviousSecretsImmediately {
		disabled, err := disableOlder(ctx, sm, secret, version)
		for _, d := range disabled {
			fmt.Fprintf(stdout, "disabled %s\n", d)
		}
		if err != nil {
			return fmt.Errorf("previous secrets were revoked by Gemini but not all older versions were disabled: %w", err)
		}
		return nil
	}
	at := rotatedAt.Add(rotationGrace).Truncate(time.Minute).Add(time.Minute)
	fmt.Fprintf(stdout, "Gemini accepts the previous secrets until about %s; the function accepts every enabled version meanwhile.\n", rotatedAt.Add(rotationGrace).Format(time.RFC3339))
	fmt.Fprintf(stdout, "after %s run: geminihook rotate --finish --secret %s\n", at.Format("2006-01-02 15:04 MST"), secret)
	return nil
}

// finishRotation disables every enabled version older than the newest one.
// Unless force is set it refuses while the newest version is younger than
// the grace period.
func finishRotation(ctx context.Context, sm *secretmanager.Client, secret string, force bool, stdout io.Writer) error {
	vs, err := enabledVersions(ctx, sm, secret)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return errors.New("the secret has no enabled version: nothing to keep")
	}
	newest := vs[0]
	if len(vs) == 1 {
		fmt.Fprintf(stdout, "only %s is enabled; nothing to disable\n", newest.GetName())
		return nil
	}
	if created := newest.GetCreateTime().AsTime(); !force && time.Since(created) < rotationGrace {
		return fmt.Errorf("%s was added at %s; the grace period ends at %s UTC: run --finish then, or add --force",
			newest.GetName(), created.UTC().Format(time.RFC3339), created.Add(rotationGrace).UTC().Format("2006-01-02 15:04"))
	}
	disabled, err := disableOlder(ctx, sm, secret, newest.GetName())
	for _, d := range disabled {
		fmt.Fprintf(stdout, "disabled %s\n", d)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is now the only enabled version\n", newest.GetName())
	return nil
}
