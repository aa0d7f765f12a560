package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
)

func registerArgs(e *mgmtEnv, extra ...string) []string {
	args := append([]string{"register"}, e.apiFlags()...)
	return append(args, extra...)
}

func TestRegisterCreatesWebhookAndStoresSecret(t *testing.T) {
	e := newMgmtEnv(t)
	out := e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)

	hooks := e.gemini.Webhooks()
	if len(hooks) != 1 {
		t.Fatalf("%d webhooks registered", len(hooks))
	}
	h := hooks[0]
	if h.URI != testHookURL || h.Name != "geminihook" {
		t.Fatalf("registered %+v", h)
	}
	// The seven subscribable types; the two *.cancelled types are opt-in.
	want := []string{"batch.succeeded", "batch.expired", "batch.failed", "interaction.requires_action",
		"interaction.completed", "interaction.failed", "video.generated"}
	if len(h.SubscribedEvents) != 7 || !sameSet(h.SubscribedEvents, want) {
		t.Fatalf("events %v", h.SubscribedEvents)
	}
	vs := e.sm.Versions(testSecret)
	if len(vs) != 1 || vs[0].State != secretmanagerpb.SecretVersion_ENABLED {
		t.Fatalf("versions %v", vs)
	}
	if got := string(e.sm.Payload(vs[0].Name)); got != h.Secrets[0].Value {
		t.Fatal("stored secret differs from the one Gemini issued")
	}
	if !strings.Contains(out, h.ID) || !strings.Contains(out, vs[0].Name) {
		t.Fatalf("output lacks id or version:\n%s", out)
	}
	e.assertNoSecretLeaked()
}

func TestRegisterIsIdempotent(t *testing.T) {
	e := newMgmtEnv(t)
	e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	out := e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret, "--events", "batch.failed")...)
	if n := e.gemini.CallCount(geminiapitest.OpCreate); n != 1 {
		t.Fatalf("create called %d times", n)
	}
	if len(e.gemini.Webhooks()) != 1 || len(e.sm.Versions(testSecret)) != 1 {
		t.Fatal("second register changed something")
	}
	id := e.gemini.Webhooks()[0].ID
	for _, want := range []string{"already registered", id, "enabled", "video.generated", "events differ"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	e.assertNoSecretLeaked()
}

// installFakeTerraform puts a tofu on PATH that prints outputs only when run
// as "tofu output -raw NAME" inside dir.
func installFakeTerraform(t *testing.T, dir string, outputs map[string]string) {
	t.Helper()
	bin := t.TempDir()
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	script.WriteString(`[ "$1" = output ] && [ "$2" = -no-color ] && [ "$3" = -raw ] || { echo "unexpected args $*" >&2; exit 3; }` + "\n")
	script.WriteString("shift\n")
	script.WriteString(`[ "$(pwd -P)" = "` + dir + `" ] || { echo "wrong dir $(pwd -P)" >&2; exit 4; }` + "\n")
	script.WriteString("case \"$3\" in\n")
	for k, v := range outputs {
		script.WriteString("  " + k + ") printf '%s' '" + v + "' ;;\n")
	}
	script.WriteString("  *) echo \"Error: Output \\\"$3\\\" not found\" >&2; exit 1 ;;\nesac\n")
	if err := os.WriteFile(filepath.Join(bin, "tofu"), []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+"/bin:/usr/bin")
}

func TestRegisterTakesDefaultsFromTerraform(t *testing.T) {
	e := newMgmtEnv(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	installFakeTerraform(t, dir, map[string]string{"webhook_url": testHookURL, "secret_id": testSecret})
	e.mustRun(registerArgs(e, "--terraform-dir", dir, "--events", "batch.succeeded,video.generated")...)
	hooks := e.gemini.Webhooks()
	if len(hooks) != 1 || hooks[0].URI != testHookURL || !sameSet(hooks[0].SubscribedEvents, []string{"batch.succeeded", "video.generated"}) {
		t.Fatalf("registered %+v", hooks)
	}
	if len(e.sm.Versions(testSecret)) != 1 {
		t.Fatal("secret not stored in the Terraform secret")
	}

	// GEMINI_WEBHOOK_SECRET wins over Terraform; a missing output is reported.
	installFakeTerraform(t, dir, map[string]string{"secret_id": testSecret})
	t.Setenv("GEMINI_WEBHOOK_SECRET", "projects/proj/secrets/other")
	code, _, errOut := e.run(registerArgs(e, "--terraform-dir", dir)...)
	if code != 1 || !strings.Contains(errOut, "webhook_url") {
		t.Fatalf("missing output: exit %d, %s", code, errOut)
	}
	code, _, errOut = e.run(registerArgs(e, "--url", "https://b.example/")...)
	if code != 1 || !strings.Contains(errOut, "projects/proj/secrets/other") || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("env secret: exit %d, %s", code, errOut)
	}
	t.Setenv("GEMINI_WEBHOOK_SECRET", "whsec_abc")
	code, _, errOut = e.run(registerArgs(e, "--url", "https://b.example/")...)
	if code != 1 || !strings.Contains(errOut, "literal secrets") || strings.Contains(errOut, "whsec_abc") {
		t.Fatalf("literal env secret: exit %d, %s", code, errOut)
	}
}

func TestRegisterRefusals(t *testing.T) {
	e := newMgmtEnv(t)
	tests := []struct {
		name    string
		setup   func()
		args    []string
		code    int
		wantErr string
	}{
		{"no API key", func() { t.Setenv(apiKeyEnv, "") }, []string{"--url", testHookURL, "--secret", testSecret}, 1, "set GEMINI_API_KEY or pass --api-key-secret"},
		{"secret missing", nil, []string{"--url", testHookURL, "--secret", "projects/proj/secrets/nope"}, 1, "get secret projects/proj/secrets/nope"},
		{"secret version given", nil, []string{"--url", testHookURL, "--secret", testSecret + "/versions/1"}, 1, "names one version"},
		{"malformed secret", nil, []string{"--url", testHookURL, "--secret", "gemini-webhook"}, 1, "not a Secret Manager name"},
		{"truncated secret name", nil, []string{"--url", testHookURL, "--secret", "projects/proj/secrets"}, 1, `"projects/proj/secrets" is not a Secret Manager name`},
		{"literal secret", nil, []string{"--url", testHookURL, "--secret", "whsec_abc"}, 1, "not a signing secret"},
		{"bad api version", nil, []string{"--url", testHookURL, "--secret", testSecret, "--api-version", "v2"}, 2, "use one of v1beta, v1, v1alpha"},
		{"unknown event", nil, []string{"--url", testHookURL, "--secret", testSecret, "--events", "batch.done"}, 1, `"batch.done" is not a Gemini event type`},
		{"no url and no terraform", nil, []string{"--secret", testSecret}, 1, "neither tofu nor terraform is installed; pass --url"},
		{"bad url", nil, []string{"--url", "fn.example", "--secret", testSecret}, 1, "not an http(s) URL"},
		{"stray argument", nil, []string{"extra"}, 2, "takes no arguments"},
		{"bad flag", nil, []string{"--frobnicate"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(apiKeyEnv, testAPIKey)
			if tt.setup != nil {
				tt.setup()
			}
			code, _, errOut := e.run(registerArgs(e, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tt.code, tt.wantErr)
			}
		})
	}
	if n := e.gemini.CallCount(geminiapitest.OpCreate); n != 0 {
		t.Fatalf("a refused register created %d webhooks", n)
	}
}

func TestRegisterWithAPIKeyFromSecretManager(t *testing.T) {
	e := newMgmtEnv(t)
	t.Setenv(apiKeyEnv, "")
	keySecret := "projects/proj/secrets/gemini-api-key"
	e.sm.AddVersion(keySecret, []byte(testAPIKey+"\n"))
	e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret, "--api-key-secret", keySecret)...)
	if len(e.gemini.Webhooks()) != 1 {
		t.Fatal("not registered")
	}
	// A corrupted read is refused rather than used.
	e.sm.CorruptCRC32C(true)
	code, _, errOut := e.run(registerArgs(e, "--url", "https://c.example/", "--secret", testSecret, "--api-key-secret", keySecret+"/versions/1")...)
	if code != 1 || !strings.Contains(errOut, "checksum mismatch") || strings.Contains(errOut, testAPIKey) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestRegisterShowsAPIErrorsAndTimeouts(t *testing.T) {
	e := newMgmtEnv(t)
	e.gemini.Fail(geminiapitest.OpCreate, 400, "uri must use https")
	code, _, errOut := e.run(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	if code != 1 || !strings.Contains(errOut, "400 INVALID_ARGUMENT: uri must use https") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	e.gemini.Recover()

	t.Setenv(apiKeyEnv, "wrong-key")
	code, _, errOut = e.run(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	if code != 1 || !strings.Contains(errOut, "400 INVALID_ARGUMENT: API key not valid") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	t.Setenv(apiKeyEnv, testAPIKey)

	e.gemini.Delay(geminiapitest.OpList, 30e9)
	code, _, errOut = e.run(registerArgs(e, "--url", testHookURL, "--secret", testSecret, "--api-timeout", "200ms")...)
	if code != 1 || !strings.Contains(errOut, "list webhooks") || !strings.Contains(errOut, "deadline exceeded") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(e.gemini.Webhooks()) != 0 || len(e.sm.Versions(testSecret)) != 0 {
		t.Fatal("failed register left state behind")
	}
}

func TestRegisterReportsUnstoredSecret(t *testing.T) {
	e := newMgmtEnv(t)
	e.sm.Fail("AddSecretVersion", status.Error(codes.PermissionDenied, "no access"))
	code, _, errOut := e.run(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	hooks := e.gemini.Webhooks()
	if code != 1 || len(hooks) != 1 || !strings.Contains(errOut, "could not be stored") ||
		!strings.Contains(errOut, "geminihook rotate --webhook "+hooks[0].ID+" --revoke immediately") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	e.assertNoSecretLeaked()
}

func TestParseEventList(t *testing.T) {
	var warn strings.Builder
	got, err := parseEventList(" batch.failed,batch.failed,,batch.cancelled ", &warn)
	if err != nil || !slices.Equal(got, []string{"batch.failed", "batch.cancelled"}) ||
		!strings.Contains(warn.String(), "batch.cancelled") || !strings.Contains(warn.String(), "may refuse") {
		t.Fatalf("%v %v %q", got, err, warn.String())
	}
	if _, err := parseEventList("batch.failed,future.thing", &warn); err == nil || !strings.Contains(err.Error(), "video.generated") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := parseEventList(" , ", &warn); err == nil {
		t.Fatal("empty list accepted")
	}
}

// TestRegisterCancelledTypesAreOptIn asks for a cancelled type: the CLI
// sends it with a note, and the API (the fake, as the live API) refuses it
// with its error, which the user sees.
func TestRegisterCancelledTypesAreOptIn(t *testing.T) {
	e := newMgmtEnv(t)
	code, _, errOut := e.run(registerArgs(e, "--url", testHookURL, "--secret", testSecret, "--events", "batch.failed,interaction.cancelled")...)
	if code != 1 || !strings.Contains(errOut, "note: interaction.cancelled") || !strings.Contains(errOut, "create webhook: 400 INVALID_ARGUMENT") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(e.gemini.Webhooks()) != 0 || len(e.sm.Versions(testSecret)) != 0 {
		t.Fatal("a refused create left state behind")
	}
}
