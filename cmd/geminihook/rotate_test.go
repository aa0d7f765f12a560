package main

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
)

func rotateArgs(e *mgmtEnv, extra ...string) []string {
	args := append([]string{"rotate"}, e.apiFlags()...)
	return append(args, append([]string{"--secret", testSecret}, extra...)...)
}

// states returns the states of the test secret's versions, oldest first.
func states(e *mgmtEnv) []secretmanagerpb.SecretVersion_State {
	var out []secretmanagerpb.SecretVersion_State
	for _, v := range e.sm.Versions(testSecret) {
		out = append(out, v.State)
	}
	return out
}

const (
	enabled  = secretmanagerpb.SecretVersion_ENABLED
	disabled = secretmanagerpb.SecretVersion_DISABLED
)

func equalStates(a, b []secretmanagerpb.SecretVersion_State) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRotateWithGraceThenFinish(t *testing.T) {
	e := newMgmtEnv(t)
	e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	before := time.Now().UTC()
	out := e.mustRun(rotateArgs(e, "--url", testHookURL)...)

	h := e.gemini.Webhooks()[0]
	if len(h.Secrets) != 2 || h.Secrets[1].Expire.IsZero() {
		t.Fatalf("Gemini did not keep the old secret for the grace: %d secrets", len(h.Secrets))
	}
	if got := states(e); !equalStates(got, []secretmanagerpb.SecretVersion_State{enabled, enabled}) {
		t.Fatalf("states after grace rotation %v", got)
	}
	vs := e.sm.Versions(testSecret)
	if string(e.sm.Payload(vs[1].Name)) != h.Secrets[0].Value || string(e.sm.Payload(vs[0].Name)) != h.Secrets[1].Value {
		t.Fatal("Secret Manager and Gemini disagree on the secrets")
	}
	if !strings.Contains(out, "rotate --finish --secret "+testSecret) {
		t.Fatalf("no finish instruction:\n%s", out)
	}
	// The finish time printed is a day after the rotation, in UTC.
	wantDay := before.Add(24 * time.Hour).Format("2006-01-02")
	if !strings.Contains(out, "after "+wantDay) || !strings.Contains(out, "UTC") {
		t.Fatalf("finish time missing or not UTC:\n%s", out)
	}

	// Finishing early is refused; with --force it disables the old version.
	code, _, errOut := e.run(rotateArgs(e, "--finish")...)
	if code != 1 || !strings.Contains(errOut, "grace period ends") {
		t.Fatalf("early finish: exit %d: %s", code, errOut)
	}
	t.Setenv(apiKeyEnv, "") // --finish needs no API key
	out = e.mustRun(rotateArgs(e, "--finish", "--force")...)
	if got := states(e); !equalStates(got, []secretmanagerpb.SecretVersion_State{disabled, enabled}) {
		t.Fatalf("states after finish %v", got)
	}
	if !strings.Contains(out, "disabled "+vs[0].Name) {
		t.Fatalf("finish output:\n%s", out)
	}
	out = e.mustRun(rotateArgs(e, "--finish")...)
	if !strings.Contains(out, "nothing to disable") {
		t.Fatalf("second finish:\n%s", out)
	}
	e.assertNoSecretLeaked()
}

func TestRotateImmediately(t *testing.T) {
	e := newMgmtEnv(t)
	e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	id := e.gemini.Webhooks()[0].ID
	e.mustRun(rotateArgs(e, "--webhook", id, "--revoke", "after-24h")...)
	out := e.mustRun(rotateArgs(e, "--webhook", id, "--revoke", "immediately")...)

	h := e.gemini.Webhooks()[0]
	if len(h.Secrets) != 1 {
		t.Fatalf("Gemini kept %d secrets", len(h.Secrets))
	}
	if got := states(e); !equalStates(got, []secretmanagerpb.SecretVersion_State{disabled, disabled, enabled}) {
		t.Fatalf("states %v", got)
	}
	vs := e.sm.Versions(testSecret)
	if string(e.sm.Payload(vs[2].Name)) != h.Secrets[0].Value {
		t.Fatal("stored secret is not Gemini's current one")
	}
	if strings.Count(out, "disabled ") != 2 || strings.Contains(out, "--finish") {
		t.Fatalf("output:\n%s", out)
	}
	e.assertNoSecretLeaked()
}

func TestRotateRefusalsAndFailures(t *testing.T) {
	e := newMgmtEnv(t)
	e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	id := e.gemini.Webhooks()[0].ID
	e.gemini.AddWebhook("dup", "https://dup.example/", []string{"batch.failed"})
	e.gemini.AddWebhook("dup", "https://dup.example/", []string{"batch.failed"})

	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"bad revoke", []string{"--webhook", id, "--revoke", "later"}, 2, "--revoke must be"},
		{"unknown url", []string{"--url", "https://nobody.example/"}, 1, "no webhook is registered for https://nobody.example/"},
		{"ambiguous url", []string{"--url", "https://dup.example/"}, 1, "2 webhooks are registered"},
		{"no url", []string{}, 1, "no --webhook"},
		{"unknown webhook", []string{"--webhook", "nope"}, 1, "404 NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := e.run(rotateArgs(e, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d: %s\nwant exit %d and %q", code, errOut, tt.code, tt.wantErr)
			}
		})
	}
	if n := e.gemini.CallCount(geminiapitest.OpRotate); n != 1 { // only the unknown webhook reached rotate
		t.Fatalf("rotate called %d times", n)
	}

	// A rotation whose secret cannot be stored says so and how to recover.
	e.sm.Fail("AddSecretVersion", status.Error(codes.PermissionDenied, "denied"))
	code, _, errOut := e.run(rotateArgs(e, "--webhook", id, "--revoke", "immediately")...)
	if code != 1 || !strings.Contains(errOut, "could not be stored") || !strings.Contains(errOut, "rejected until a secret is stored") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	e.sm.Recover()
	if got := states(e); !equalStates(got, []secretmanagerpb.SecretVersion_State{enabled}) {
		t.Fatalf("states %v", got)
	}
	// Running it again converges.
	e.mustRun(rotateArgs(e, "--webhook", id, "--revoke", "immediately")...)
	if got := states(e); !equalStates(got, []secretmanagerpb.SecretVersion_State{disabled, enabled}) {
		t.Fatalf("states %v", got)
	}
	e.assertNoSecretLeaked()
}

// TestRotateAndRegisterUnansweredCalls: a create or rotation sent but not
// answered may have happened; it is not retried (a retry would create a
// second webhook or revoke a secret nobody saw) and the message says what
// to do.
func TestRotateAndRegisterUnansweredCalls(t *testing.T) {
	e := newMgmtEnv(t)
	e.mustRun(registerArgs(e, "--url", testHookURL, "--secret", testSecret)...)
	id := e.gemini.Webhooks()[0].ID
	e.gemini.Delay(geminiapitest.OpRotate, time.Minute)
	code, _, errOut := e.run(rotateArgs(e, "--webhook", id, "--api-timeout", "300ms")...)
	if code != 1 || !strings.Contains(errOut, "outcome is unknown") || !strings.Contains(errOut, "--revoke immediately") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := e.gemini.CallCount(geminiapitest.OpRotate); n != 1 {
		t.Fatalf("rotate sent %d times", n)
	}
	e.gemini.Delay(geminiapitest.OpCreate, time.Minute)
	code, _, errOut = e.run(registerArgs(e, "--url", "https://other.example/", "--secret", testSecret, "--api-timeout", "300ms")...)
	if code != 1 || !strings.Contains(errOut, "outcome is unknown: run geminihook list") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := e.gemini.CallCount(geminiapitest.OpCreate); n != 2 { // the first register's, and this one once
		t.Fatalf("create sent %d times", n)
	}
	// A refusal is an answer: no such advice.
	e.gemini.Recover()
	e.gemini.Fail(geminiapitest.OpRotate, 503, "busy")
	code, _, errOut = e.run(rotateArgs(e, "--webhook", id)...)
	if code != 1 || !strings.Contains(errOut, "503 UNAVAILABLE: busy") || strings.Contains(errOut, "outcome is unknown") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := e.gemini.CallCount(geminiapitest.OpRotate); n != 2 {
		t.Fatalf("a refused rotation was retried: %d calls", n)
	}
}
