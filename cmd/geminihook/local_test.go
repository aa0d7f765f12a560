package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// run runs the tool in process and returns its exit code and output.
func run(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestDevDemo runs the whole local path: every event type through both
// schemes into the in-process Pub/Sub server, as README's first command.
func TestDevDemo(t *testing.T) {
	t.Setenv("GEMINIHOOK_DEV_STATE", filepath.Join(t.TempDir(), "dev.json"))
	for _, k := range []string{"GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST", "GEMINI_WEBHOOK_SECRET", "GEMINI_TOPIC_PREFIX", "GEMINI_JWKS_URL", "FUNCTION_TARGET", "GEMINI_API_KEY_SECRET", "GEMINI_API_BASE_URL", "GEMINI_CONFIRM"} {
		t.Setenv(k, os.Getenv(k)) // restored after the test; dev sets them
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, out, errOut := run(t, ctx, "dev", "--demo", "--port", freePort(t))
	if code != 0 {
		t.Fatalf("dev --demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "demo: 18 deliveries answered 200, 18 messages published") {
		t.Fatalf("demo summary missing:\n%s", out)
	}
	if !strings.Contains(out, "demo: 9 events confirmed by the local Gemini API, 1 unconfirmed (quarantined)") ||
		!strings.Contains(out, `batch.succeeded batches/batch-001000: the Gemini API says state_mismatch (JOB_STATE_RUNNING)`) {
		t.Fatalf("confirmation summary missing:\n%s", out)
	}
	for _, typ := range []string{"batch.succeeded", "batch.failed", "batch.cancelled", "batch.expired", "interaction.completed",
		"interaction.requires_action", "interaction.failed", "interaction.cancelled", "video.generated"} {
		for _, scheme := range []string{"hmac", "jwt"} {
			found := false
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, " "+typ+" ") && strings.Contains(line, "scheme="+scheme) {
					found = true
					if confirmed := strings.Contains(line, " confirmed="); confirmed != (scheme == "jwt") {
						t.Errorf("%s: confirmed %v, want it exactly for jwt", line, confirmed)
					}
				}
			}
			if !found {
				t.Errorf("no published line for %s over %s", typ, scheme)
			}
		}
	}
}

// TestSignAndSendVerify checks that what sign prints and what send posts
// verify with the project's own verifier, for both schemes.
func TestSignAndSendVerify(t *testing.T) {
	secret, _ := verify.GenerateSecret()
	key := verifytest.MustKey("k1")
	jwks := verifytest.NewServer(key)
	defer jwks.Close()
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte(encodeRSAKey(key.Private())), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GEMINIHOOK_DEV_STATE", filepath.Join(t.TempDir(), "none.json"))

	var got []verify.Delivery
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := verify.New(verify.Options{
			Keyring:   verify.StaticKeyring{verify.MustParseSecret(secret)},
			KeySet:    verify.NewRemoteKeySet(jwks.URL, verify.RemoteKeySetOptions{}),
			Audiences: []string{srvURL},
		})
		if err != nil {
			t.Error(err)
		}
		body, _ := io.ReadAll(r.Body)
		d, err := v.Verify(r.Context(), verify.Request{Header: r.Header, Body: body})
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got = append(got, d)
		w.Write([]byte(`{"result":"published"}`))
	}))
	defer srv.Close()
	srvURL = srv.URL

	ctx := context.Background()
	if code, out, errOut := run(t, ctx, "send", "--url", srv.URL, "--secret", secret, "--type", "batch.failed", "--id", "msg_a"); code != 0 || !strings.HasPrefix(out, "200 ") {
		t.Fatalf("send hmac: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run(t, ctx, "send", "--url", srv.URL, "--scheme", "jwt", "--key", keyFile, "--kid", "k1", "--count", "3"); code != 0 || strings.Count(out, "200 ") != 3 {
		t.Fatalf("send jwt: %d %q %q", code, out, errOut)
	}
	if len(got) != 4 || got[0].ID != "msg_a" || got[0].Scheme != verify.SchemeHMAC || got[1].Scheme != verify.SchemeJWT || got[1].ID == got[2].ID {
		t.Fatalf("verified deliveries: %+v", got)
	}
	// A wrong secret is reported as a failure with the server's answer.
	other, _ := verify.GenerateSecret()
	if code, out, _ := run(t, ctx, "send", "--url", srv.URL, "--secret", other); code != 1 || !strings.HasPrefix(out, "401 ") {
		t.Fatalf("send with a wrong secret: exit %d, %q", code, out)
	}

	// sign: the printed headers verify over the same body.
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/1"}}`)
	os.WriteFile(bodyFile, body, 0o600)
	code, out, errOut := run(t, ctx, "sign", "--secret", secret, "--body", bodyFile, "--id", "msg_signed")
	if code != 0 {
		t.Fatalf("sign: %d %s", code, errOut)
	}
	h := http.Header{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h.Set(k, v)
	}
	v, _ := verify.New(verify.Options{Keyring: verify.StaticKeyring{verify.MustParseSecret(secret)}})
	if d, err := v.Verify(ctx, verify.Request{Header: h, Body: body}); err != nil || d.ID != "msg_signed" {
		t.Fatalf("signed headers %v do not verify: %v", h, err)
	}
	code, out, _ = run(t, ctx, "sign", "--secret", secret, "--body", bodyFile, "--curl")
	if code != 0 || !strings.Contains(out, "-H 'webhook-signature: v1,") {
		t.Fatalf("sign --curl: %q", out)
	}
	// No secret anywhere: a clear error, no crash.
	t.Setenv("GEMINI_WEBHOOK_SECRET", "")
	if code, _, errOut := run(t, ctx, "sign", "--body", bodyFile); code != 1 || !strings.Contains(errOut, "no secret") {
		t.Fatalf("sign without a secret: %d %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	if code, _, errOut := run(t, context.Background()); code != 2 || !strings.Contains(errOut, "commands:") {
		t.Fatalf("no arguments: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, context.Background(), "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	if code, _, _ := run(t, context.Background(), "help"); code != 0 {
		t.Fatalf("help: %d", code)
	}
	if code, _, _ := run(t, context.Background(), "send", "--no-such-flag"); code != 2 {
		t.Fatalf("bad flag: %d", code)
	}
}
