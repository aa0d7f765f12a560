package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/syncbuf"
)

// startDev runs 'geminihook dev --port 0' as the user would, in the
// background, and waits until it serves. It returns its stdout and stderr.
func (u *user) startDev() (stdout, stderr *syncbuf.Buffer) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, u.bin, "dev", "--port", "0")
	cmd.Dir = u.dir
	for k, v := range u.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, stderr = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		cancel()
		u.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	u.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			u.t.Error("dev did not stop on interrupt")
		}
		cancel()
	})
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(stderr.String(), "send a delivery:"); {
		select {
		case err := <-done:
			u.t.Fatalf("dev exited: %v\nstderr:\n%s", err, stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("dev did not start\nstderr:\n%s", stderr)
		}
	}
	return stdout, stderr
}

// waitFor waits until b holds want.
func waitFor(t *testing.T, b *syncbuf.Buffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(b.String(), want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dev never printed %q:\n%s", want, b)
		}
	}
}

// TestUserSendToDevIsConfirmed: the quick start's JWT delivery to a running
// dev is published confirmed by dev's local Gemini API, which send seeded;
// --dispute shows a delivery the API contradicts quarantined unconfirmed.
// Neither the local API key nor the dev secret reaches a terminal.
func TestUserSendToDevIsConfirmed(t *testing.T) {
	u := newUser(t)
	devOut, devErr := u.startDev()
	t.Setenv("GEMINIHOOK_DEV_STATE", u.env["GEMINIHOOK_DEV_STATE"])
	st, err := loadDevState()
	if err != nil || st.GeminiAPIURL == "" || st.GeminiAPIKey != devstack.APIKey {
		t.Fatalf("dev state %+v, %v: want the local Gemini API's URL and key", st, err)
	}

	out, errOut := u.expect(0, []string{"send", "--scheme", "jwt", "--type", "batch.succeeded"}, "200 ", `"result":"published"`)
	waitFor(t, devOut, "confirmed=JOB_STATE_SUCCEEDED")
	if !strings.Contains(devOut.String(), "scheme=jwt") {
		t.Fatalf("dev printed no JWT delivery:\n%s", devOut)
	}
	leaks := out + errOut

	out, errOut = u.expect(0, []string{"send", "--scheme", "jwt", "--type", "video.generated", "--dispute"}, "200 ", `"result":"quarantined"`)
	waitFor(t, devOut, `reason="unconfirmed"`)
	leaks += out + errOut

	// An HMAC delivery is seeded too, and published (dynamic confirms JWT only).
	out, errOut = u.expect(0, []string{"send", "--type", "interaction.completed"}, "200 ", `"result":"published"`)
	leaks += out + errOut

	// --dispute needs dev's API, and an event the API can be asked about.
	_, errOut = u.expect(2, []string{"send", "--scheme", "jwt", "--dispute", "--url", "http://127.0.0.1:9/"}, "--dispute seeds the local Gemini API of a running 'geminihook dev'")
	leaks += errOut
	if err := os.WriteFile(filepath.Join(u.dir, "ping.json"), []byte(`{"type":"webhook.ping","data":{"id":"ping_1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut = u.expect(1, []string{"send", "--body", "ping.json", "--dispute"}, "cannot be confirmed")
	leaks += errOut

	leaks += devOut.String() + devErr.String()
	for _, secret := range []string{devstack.APIKey, st.Secret, strings.TrimSpace(st.KeyPEM)} {
		if strings.Contains(leaks, secret) {
			t.Fatalf("a secret reached the terminal:\n%s", leaks)
		}
	}
}
