package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

// runBinary runs the binary with args and exactly env (plus PATH and
// HOME) and returns its exit code and output; it fails the test when the
// command does not finish within 20 seconds.
func runBinary(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("geminihook %s did not finish within 20s:\n%s", strings.Join(args, " "), out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestDevPortProblems runs dev the ways a newcomer gets the port wrong: a
// busy port fails at once with the hint and leaves the running dev
// server's state file alone (also with --demo, which so never delivers to
// whatever holds the port); a port that is not a number fails at once.
func TestDevPortProblems(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var hits atomic.Int64
	go func() {
		for {
			c, err := busy.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	port := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	state := filepath.Join(t.TempDir(), "dev.json")
	const before = `{"url":"http://127.0.0.1:1","secret":"whsec_c3RhdGUgb2YgdGhlIHJ1bm5pbmcgZGV2IHNlcnZlcg=="}`
	if err := os.WriteFile(state, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GEMINIHOOK_DEV_STATE": state}
	for _, args := range [][]string{{"dev", "--port", port}, {"dev", "--demo", "--port", port}} {
		code, out := runBinary(t, env, args...)
		if code != 1 || !strings.Contains(out, "port in use, try --port") {
			t.Errorf("%v on a busy port: exit %d\n%s\nwant exit 1 with \"port in use, try --port\"", args, code, out)
		}
		if got, _ := os.ReadFile(state); string(got) != before {
			t.Errorf("%v on a busy port rewrote the dev state file", args)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("dev connected %d times to the process holding the port", n)
	}
	code, out := runBinary(t, env, "dev", "--port", "abc")
	if code == 0 || !strings.Contains(out, `invalid port "abc"`) {
		t.Errorf("dev --port abc: exit %d\n%s", code, out)
	}
	code, out = runBinary(t, env, "dev", "stray")
	if code != 2 || !strings.Contains(out, `unexpected argument "stray"`) {
		t.Errorf("dev stray: exit %d\n%s", code, out)
	}
}

// TestDevDemoLeavesNoState runs dev --demo and checks that it writes no
// state file for send to find after it exits, and that its banner does
// not suggest send.
func TestDevDemoLeavesNoState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "dev.json")
	code, out := runBinary(t, map[string]string{"GEMINIHOOK_DEV_STATE": state}, "dev", "--demo", "--port", "0")
	if code != 0 || !strings.Contains(out, "demo: 18 deliveries answered 200, 18 messages published") {
		t.Fatalf("dev --demo: exit %d\n%s", code, out)
	}
	if strings.Contains(out, " send ") {
		t.Errorf("dev --demo suggests send, which cannot reach it once it exits:\n%s", out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("dev --demo wrote the dev state file (%v)", err)
	}
}

// TestServeStartupChecks runs serve as a user would get it wrong: a stray
// argument, a configuration with several problems, missing credentials, a
// busy port. Each exits non-zero at once, listing every problem, and never
// says it is serving.
func TestServeStartupChecks(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	good := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "GEMINI_WEBHOOK_SECRET": "whsec_c3RhdGUgb2YgdGhlIHJ1bm5pbmcgZGV2IHNlcnZlcg==", "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range good {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(env, kv[i])
			} else {
				env[kv[i]] = kv[i+1]
			}
		}
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{"stray argument", good, []string{"serve", "--port", "0", "extra"}, 2, []string{`unexpected argument "extra"`}},
		{"every configuration problem", with("GOOGLE_CLOUD_PROJECT", "", "GEMINI_TOPIC_PREFIX", "1bad", "GEMINI_JWKS_URL", "ftp://x"),
			[]string{"serve", "--port", "0"}, 1, []string{"GOOGLE_CLOUD_PROJECT", "GEMINI_TOPIC_PREFIX", "GEMINI_JWKS_URL"}},
		{"missing credentials", with("PUBSUB_EMULATOR_HOST", "", "GOOGLE_APPLICATION_CREDENTIALS", "", "HOME", t.TempDir()),
			[]string{"serve", "--port", "0"}, 1, []string{"credentials"}},
		{"busy port", good, []string{"serve", "--port", fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)}, 1, []string{"port in use, try --port"}},
		{"port not a number", good, []string{"serve", "--port", "http"}, 1, []string{`invalid port "http"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runBinary(t, tc.env, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "serving") {
				t.Errorf("said it was serving:\n%s", out)
			}
		})
	}
}

// TestServeAnswersEveryRequest runs serve against devstack and sends
// requests a router would redirect or refuse and requests net/http refuses
// by itself: each gets an answer from the status contract in the
// function's JSON format, and a log line.
func TestServeAnswersEveryRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	p, err := soak.Serve(ctx, binary(t), stack.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if !regexp.MustCompile(`serving GeminiWebhook on http://127\.0\.0\.1:[1-9][0-9]*\n`).MatchString(p.Output()) {
		t.Fatalf("serve --port 0 did not say which port it got:\n%s", p.Output())
	}
	addr := strings.TrimPrefix(p.URL, "http://")
	tests := []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "method_not_allowed"},
		{"double slash", "POST // HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400, "missing_header"},
		{"dot segments", "POST /../../etc HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400, "missing_header"},
		{"absolute-form target", "POST http://elsewhere.example/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400, "missing_header"},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"},
		{"GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"},
		{"unsupported Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, "unsupported_transfer_encoding"},
		{"headers over 64 KiB", "POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 80<<10) + "\r\n\r\n", 400, "headers_too_large"},
		{"malformed request line", "POST\r\n\r\n", 400, "malformed_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(p.Output(), "\n")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.raw)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			var a struct{ Result, Reason string }
			body, _ := io.ReadAll(res.Body)
			if err := json.Unmarshal(body, &a); err != nil || res.StatusCode != tc.status || a.Reason != tc.reason {
				t.Errorf("%d %q, want %d %s", res.StatusCode, body, tc.status, tc.reason)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(lastLines(p.Output(), before), `"reason":"`+tc.reason+`"`) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line with reason %s:\n%s", tc.reason, lastLines(p.Output(), before))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// lastLines returns the output after its first n lines.
func lastLines(out string, n int) string {
	for range n {
		i := strings.IndexByte(out, '\n')
		if i < 0 {
			return ""
		}
		out = out[i+1:]
	}
	return out
}

// stall is a pstest reactor that holds every Publish until released.
type stall struct {
	release chan struct{}
	calls   atomic.Int64
}

// React implements pstest.Reactor.
func (s *stall) React(any) (bool, any, error) {
	s.calls.Add(1)
	<-s.release
	return false, nil, nil
}

// TestServeShutdownWithPubSubStalled sends SIGTERM to serve while Pub/Sub
// holds every publish and unauthenticated clients stall mid-body: the
// stalled reads are cut and answered, the deliveries waiting on Pub/Sub
// are answered 503 with Retry-After (never 200 without a message), and the
// process exits before Cloud Run's 10 seconds.
func TestServeShutdownWithPubSubStalled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := &stall{release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(st.release) }) }
	defer release()
	stack, err := devstack.Start(ctx, devstack.Options{PubSub: []pstest.ServerReactorOption{{FuncName: "Publish", Reactor: st}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { release(); stack.Close() }()
	p, err := soak.Serve(ctx, binary(t), stack.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	addr := strings.TrimPrefix(p.URL, "http://")
	signer := soak.Signer{URL: p.URL, Secret: verify.MustParseSecret(stack.Secret), Key: stack.Key}

	client := &http.Client{Timeout: 30 * time.Second}
	const inFlight = 4
	answers := make([]soak.Answer, inFlight)
	var wg sync.WaitGroup
	for i := range inFlight {
		wg.Go(func() {
			id := fmt.Sprintf("msg_stalled_%d", i)
			req, err := signer.HMAC(ctx, id, samples.Body("batch.succeeded", i, time.Now()), time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			answers[i] = soak.Do(client, id, req)
		})
	}
	var slow []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_slow\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,AAAA\r\nContent-Length: 1000\r\n\r\n{")
		slow = append(slow, c)
	}
	for st.calls.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no publish reached Pub/Sub")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the other deliveries reach their publish
	sigterm := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, exited, err := p.Wait(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	took := exited.Sub(sigterm)
	t.Logf("SIGTERM with Pub/Sub stalled, %d deliveries waiting on it and %d slow bodies: exit %d after %s", inFlight, len(slow), code, took.Round(time.Millisecond))
	if took >= 10*time.Second {
		t.Errorf("exited %s after SIGTERM, past Cloud Run's 10s", took)
	}
	for i, a := range answers {
		if a.Status == http.StatusOK {
			t.Errorf("delivery %d answered 200 while Pub/Sub held its message", i)
		}
		if a.Err == nil && a.Status != http.StatusServiceUnavailable {
			t.Errorf("delivery %d: %d %s, want 503", i, a.Status, a.Body)
		}
	}
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(c)
		if !bytes.Contains(got, []byte("body_unreadable")) {
			t.Errorf("slow body %d: answered %q, want its read cut and answered body_unreadable", i, got)
		}
	}
}
