package main

// The tests in this file run the built binary the way a new user would,
// one per first-hour surprise reported in #15, and assert what the user
// sees: the message and the exit code.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
	"github.com/geminihook/geminihook/internal/smtest"
	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

var (
	buildOnce sync.Once
	builtDir  string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// binary builds the command once per test binary and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if builtDir, buildErr = os.MkdirTemp("", "geminihook-user-test-"); buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		builtBin, buildErr = soak.Build(ctx, builtDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// user is a newcomer's shell: an empty home, no Google environment, and a
// dev state path of its own.
type user struct {
	t   *testing.T
	bin string
	dir string
	env map[string]string
}

func newUser(t *testing.T) *user {
	u := &user{t: t, bin: binary(t), dir: t.TempDir()}
	u.env = map[string]string{
		"HOME":                 u.dir,
		"XDG_CACHE_HOME":       filepath.Join(u.dir, ".cache"),
		"PATH":                 "/usr/bin:/bin",
		"GEMINIHOOK_DEV_STATE": filepath.Join(u.dir, "dev.json"),
	}
	return u
}

// run runs the binary with args in the user's directory and returns the
// exit code, stdout and stderr.
func (u *user) run(args ...string) (int, string, string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, args...)
	cmd.Dir = u.dir
	for k, v := range u.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			u.t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errOut.String()
}

// expect runs args and checks the exit code and that stderr (or, for exit
// 0, stdout) holds every want.
func (u *user) expect(code int, args []string, want ...string) (string, string) {
	u.t.Helper()
	got, out, errOut := u.run(args...)
	text := errOut
	if code == 0 {
		text = out
	}
	if got != code {
		u.t.Fatalf("geminihook %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			u.t.Fatalf("geminihook %s: output lacks %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), w, out, errOut)
		}
	}
	return out, errOut
}

// installTofu puts a tofu on the user's PATH that behaves as tofu does in
// a directory without state: the "No outputs found" warning, in colour, on
// stdout, with exit status 0 (noState) or 1 (otherwise).
func (u *user) installTofu(exitCode int) {
	u.t.Helper()
	bin := filepath.Join(u.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		u.t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nprintf '\\033[33m╷\\033[0m\\n\\033[33m│\\033[0m \\033[1m\\033[33mWarning: \\033[0m\\033[1mNo outputs found\\033[0m\\n'\nexit %d\n", exitCode)
	if err := os.WriteFile(filepath.Join(bin, "tofu"), []byte(script), 0o755); err != nil {
		u.t.Fatal(err)
	}
	u.env["PATH"] = bin + ":/usr/bin:/bin"
}

func TestUserRegisterWithoutTerraformState(t *testing.T) {
	u := newUser(t)
	gemini := geminiapitest.NewServer(testAPIKey)
	defer gemini.Close()
	sm, err := smtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	if err := sm.CreateSecret(testSecret); err != nil {
		t.Fatal(err)
	}
	u.env["GEMINI_API_KEY"] = testAPIKey
	api := []string{"--api-base", gemini.URL, "--secretmanager-endpoint", sm.Addr}

	for _, exit := range []int{0, 1} {
		u.installTofu(exit)
		_, errOut := u.expect(1, append([]string{"register"}, api...),
			"no --url given", "webhook_url", "pass --url https://")
		if strings.Contains(errOut, "No outputs") && !strings.Contains(errOut, "output failed") {
			t.Fatalf("tofu's warning was taken for a value:\n%s", errOut)
		}
		if strings.Contains(errOut, "\x1b") {
			t.Fatalf("terminal escapes in the message:\n%q", errOut)
		}
		u.expect(1, append([]string{"register", "--url", testHookURL}, api...),
			"no --secret or GEMINI_WEBHOOK_SECRET given", "secret_id", "pass --secret projects/PROJECT/secrets/SECRET")
		u.expect(1, append([]string{"rotate", "--secret", testSecret}, api...),
			"no --webhook, and no --url given", "pass --url https://")
	}
	// Without tofu or terraform at all, the message says so.
	u.env["PATH"] = "/nonexistent"
	u.expect(1, append([]string{"register", "--secret", testSecret}, api...), "neither tofu nor terraform is installed; pass --url")
	if n := len(gemini.Calls()); n != 0 {
		t.Fatalf("the Gemini API was called %d times", n)
	}
	if n := len(sm.Versions(testSecret)); n != 0 {
		t.Fatalf("%d secret versions added", n)
	}
}

func TestUserFlagsInAnyOrder(t *testing.T) {
	u := newUser(t)
	gemini := geminiapitest.NewServer(testAPIKey)
	defer gemini.Close()
	u.env["GEMINI_API_KEY"] = testAPIKey
	a, _ := gemini.AddWebhook("", "https://a.example/", []string{"batch.failed"})
	b, _ := gemini.AddWebhook("", "https://b.example/", []string{"batch.failed"})
	c, _ := gemini.AddWebhook("", "https://c.example/", []string{"batch.failed"})

	// The README's form: flags after the positional argument.
	u.expect(0, []string{"ping", a, "--no-wait", "--api-base", gemini.URL, "--project", "P"}, "Gemini accepted the ping for webhook "+a)
	u.expect(0, []string{"ping", "--no-wait", "--api-base", gemini.URL, a}, "Gemini accepted the ping for webhook "+a)
	u.expect(0, []string{"delete", b, "--api-base", gemini.URL}, "deleted webhook", b)
	u.expect(0, []string{"delete", "--api-base", gemini.URL, "--", c}, "deleted webhook", c)
	u.expect(0, []string{"list", "--api-base", gemini.URL, "--json"}, a)
	if gemini.Pings(a) != 2 || len(gemini.Webhooks()) != 1 {
		t.Fatalf("pings %d, webhooks %d", gemini.Pings(a), len(gemini.Webhooks()))
	}

	u.expect(2, []string{"list", "extra", "--api-base", gemini.URL}, `geminihook list takes no arguments (got "extra")`)
	u.expect(2, []string{"ping", a, b, "--no-wait"}, "takes one webhook id, got 2 arguments")
	u.expect(2, []string{"ping", "--no-wait"}, "needs a webhook id", "usage: geminihook ping [flags] <webhook-id>")
	u.expect(2, []string{"delete", a, "--webhook", a}, "either as the argument or with --webhook")
	u.expect(2, []string{"tail", "--max", "1", "stray"}, "geminihook tail takes no arguments")
	u.expect(2, []string{"sign", "--frobnicate"}, "flag provided but not defined: -frobnicate", "usage: geminihook sign")
}

func TestUserSecretNamesAndLiterals(t *testing.T) {
	u := newUser(t)
	u.env["GEMINI_API_KEY"] = testAPIKey
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"register", "--url", testHookURL, "--secret", "projects/p/secrets"}, 1, []string{`"projects/p/secrets" is not a Secret Manager name`, "projects/PROJECT/secrets/SECRET"}},
		{[]string{"register", "--url", testHookURL, "--secret", "projects/p/secrets/s/versions/"}, 1, []string{"is not a Secret Manager name"}},
		{[]string{"register", "--url", testHookURL, "--secret", "c2VjcmV0LWtleS1ieXRlcw=="}, 1, []string{"--secret: not a Secret Manager name"}},
		{[]string{"rotate", "--secret", "whsec_c2VjcmV0LWtleS1ieXRlcw=="}, 1, []string{"not a signing secret"}},
		{[]string{"list", "--api-key-secret", "projects/p/secret/k"}, 2, []string{"--api-key-secret", "not a Secret Manager name"}},
		{[]string{"sign", "--secret", "c2VjcmV0LWtleS1ieXRlcw=="}, 1, []string{"--secret must be a signing secret starting with whsec_"}},
		{[]string{"sign", "--secret", "projects/p/secrets"}, 1, []string{`"projects/p/secrets" is neither a whsec_ signing secret nor a Secret Manager name`}},
		{[]string{"sign", "--secret", "projects/p/secrets/s"}, 1, []string{"names a Secret Manager secret; signing needs the value"}},
	} {
		_, errOut := u.expect(tc.code, tc.args, tc.want...)
		if strings.Contains(errOut, "c2VjcmV0LWtleS1ieXRlcw") {
			t.Fatalf("a would-be secret was echoed:\n%s", errOut)
		}
	}
	// GEMINI_WEBHOOK_SECRET: a base64-looking word is neither a literal
	// nor a name, for register and for sign alike.
	u.env["GEMINI_WEBHOOK_SECRET"] = "c2VjcmV0LWtleS1ieXRlcw=="
	_, errOut := u.expect(1, []string{"register", "--url", testHookURL}, "GEMINI_WEBHOOK_SECRET: not a Secret Manager name")
	_, errOut2 := u.expect(1, []string{"sign"}, "GEMINI_WEBHOOK_SECRET does not start with whsec_")
	if strings.Contains(errOut+errOut2, "c2VjcmV0") {
		t.Fatal("the value was echoed")
	}
}

// shellWords runs line (a command line printed for a POSIX shell) with
// curl replaced by a function that prints its arguments, and returns them.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	script := `curl() { for a in "$@"; do printf '%s\0' "$a"; done; }` + "\n" + line
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	words := strings.Split(string(out), "\x00")
	return words[:len(words)-1]
}

func TestUserSignCurlPastesIntoAShell(t *testing.T) {
	u := newUser(t)
	secret, err := verify.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	// A body with every character a shell treats specially.
	body := `{"type":"batch.succeeded","data":{"id":"batches/it's \"quoted\" $HOME ` + "`x`" + ` \\ ! *"}}`
	if err := os.WriteFile(filepath.Join(u.dir, "body.json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := u.expect(0, []string{"sign", "--curl", "--body", "body.json", "--secret", secret, "--url", "http://127.0.0.1:9/hook"}, "curl ")
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("not one line:\n%s", out)
	}
	words := shellWords(t, strings.TrimSpace(out))
	h := http.Header{}
	var sent []byte
	for i := 0; i < len(words); i++ {
		switch words[i] {
		case "-H":
			k, v, _ := strings.Cut(words[i+1], ": ")
			h.Add(k, v)
			i++
		case "--data-binary":
			sent = []byte(words[i+1])
			i++
		}
	}
	if string(sent) != body || words[len(words)-1] != "http://127.0.0.1:9/hook" {
		t.Fatalf("the shell saw body %q and URL %q", sent, words[len(words)-1])
	}
	v, err := verify.New(verify.Options{Keyring: verify.StaticKeyring{verify.MustParseSecret(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), verify.Request{Header: h, Body: sent}); err != nil {
		t.Fatalf("the pasted command would be refused: %v", err)
	}
	if strings.Contains(out, secret) {
		t.Fatal("the secret was printed")
	}
}

// writeDevState writes a dev state file as 'geminihook dev' does.
func (u *user) writeDevState(st devState) {
	u.t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(u.env["GEMINIHOOK_DEV_STATE"], raw, 0o600); err != nil {
		u.t.Fatal(err)
	}
}

func jwtPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUserSignJWTDefaultsAndKid(t *testing.T) {
	u := newUser(t)
	u.expect(1, []string{"sign", "--scheme", "jwt"}, "no key: give --key and --kid, or run 'geminihook dev'")
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u.writeDevState(devState{URL: "http://127.0.0.1:9", KeyID: "dev-key", KeyPEM: encodeRSAKey(priv)})

	// No --aud: the audience is the target, --url or the dev server's.
	for _, tc := range []struct {
		args []string
		aud  string
	}{
		{[]string{"sign", "--scheme", "jwt", "--url", "https://fn.example.run.app/"}, "https://fn.example.run.app"},
		{[]string{"sign", "--scheme", "jwt"}, "http://127.0.0.1:9"},
		{[]string{"sign", "--scheme", "jwt", "--aud", "other"}, "other"},
	} {
		out, _ := u.expect(0, tc.args, "webhook-signature: ")
		tok := strings.TrimSpace(out[strings.Index(out, "webhook-signature: ")+len("webhook-signature: "):])
		if aud := jwtPart(t, tok, 1)["aud"]; aud != tc.aud {
			t.Fatalf("%v: aud %v, want %s", tc.args, aud, tc.aud)
		}
		if kid := jwtPart(t, tok, 0)["kid"]; kid != "dev-key" {
			t.Fatalf("kid %v", kid)
		}
	}
	// --kid without --key relabels the dev key.
	out, _ := u.expect(0, []string{"sign", "--scheme", "jwt", "--kid", "rotated-away"}, "webhook-signature: ")
	tok := strings.TrimSpace(out[strings.Index(out, "webhook-signature: ")+len("webhook-signature: "):])
	if kid := jwtPart(t, tok, 0)["kid"]; kid != "rotated-away" {
		t.Fatalf("--kid ignored: kid %v", kid)
	}
	if err := os.WriteFile(filepath.Join(u.dir, "key.pem"), []byte(encodeRSAKey(priv)), 0o600); err != nil {
		t.Fatal(err)
	}
	u.expect(1, []string{"sign", "--scheme", "jwt", "--key", "key.pem"}, "--key needs --kid")
}

func TestUserTailFindsTheDevEmulator(t *testing.T) {
	u := newUser(t)
	ps := pstest.NewServerWithAddress("127.0.0.1:0")
	defer ps.Close()
	const project = "geminihook-dev"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	psc, err := pubsub.NewClient(ctx, project, option.WithEndpoint(ps.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer psc.Close()
	for _, f := range events.Families() {
		if _, err := psc.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + events.Topic("dev-", f)}); err != nil {
			t.Fatal(err)
		}
	}
	// What dev leaves behind: no PUBSUB_EMULATOR_HOST, no project needed.
	u.writeDevState(devState{URL: "http://127.0.0.1:9", PubSubEmulatorHost: ps.Addr, Project: project, Prefix: "dev-"})

	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := u.run("tail", "--family", "batch", "--max", "1", "--timeout", "30s")
		done <- result{code, out, errOut}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		it := psc.SubscriptionAdminClient.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + project})
		for {
			_, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tail never subscribed to the dev emulator")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev, err := events.Parse([]byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-05-04T10:00:00Z","data":{"id":"batches/b1"}}`),
		events.Meta{ID: "msg_tail_dev", ReceivedAt: time.Now().UTC(), Scheme: events.SchemeHMAC})
	if err != nil {
		t.Fatal(err)
	}
	m, err := events.NewMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	ps.Publish("projects/"+project+"/topics/dev-batch", m.Data, m.Attributes)
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "id=msg_tail_dev") || !strings.Contains(r.errOut, "using the Pub/Sub emulator of 'geminihook dev' at "+ps.Addr) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
	}

	// Another project given explicitly: the dev emulator is not used.
	u.env["GOOGLE_CLOUD_PROJECT"] = "someone-elses"
	u.env["GOOGLE_APPLICATION_CREDENTIALS"] = filepath.Join(u.dir, "none.json")
	code, _, errOut := u.run("replay", "--max", "1", "--timeout", "1s")
	if code == 0 || strings.Contains(errOut, "using the Pub/Sub emulator") {
		t.Fatalf("replay used the dev emulator for another project: exit %d\n%s", code, errOut)
	}
}

func TestUserHelpAndVersion(t *testing.T) {
	u := newUser(t)
	u.expect(0, []string{"-h"}, "usage: geminihook <command>")
	u.expect(0, []string{"--help"}, "usage: geminihook <command>")
	u.expect(0, []string{"help"}, "usage: geminihook <command>")
	u.expect(2, []string{}, "usage: geminihook <command>")
	u.expect(2, []string{"help", "nope"}, `unknown command "nope"`)
	u.expect(2, []string{"nope"}, `unknown command "nope"`)
	for name := range commands {
		for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}} {
			out, _ := u.expect(0, args, "usage: geminihook "+name, "example:\n  geminihook ")
			if strings.Contains(out, "commands:") {
				t.Fatalf("%v printed the top-level help", args)
			}
		}
	}
	out, _ := u.expect(0, []string{"version"}, "geminihook ")
	if !strings.Contains(out, "go1.") {
		t.Fatalf("version: %s", out)
	}
}

func TestUserRefusedValues(t *testing.T) {
	u := newUser(t)
	u.env["GEMINI_API_KEY"] = testAPIKey
	u.expect(2, []string{"list", "--api-version", "v2"}, `--api-version "v2" is not one the Gemini API serves: use one of v1beta, v1, v1alpha`)
	u.expect(2, []string{"send", "--type", "batch.done", "--secret", "whsec_c2VjcmV0LWtleS1ieXRlcw=="}, `--type "batch.done" is not a Gemini event type`, "--body FILE")
	u.expect(2, []string{"sign", "--scheme", "rsa"}, `--scheme "rsa" is neither hmac nor jwt`)
	u.expect(1, []string{"register", "--events", "batch.done", "--url", testHookURL, "--secret", testSecret}, `"batch.done" is not a Gemini event type`)
}
