// Package soak runs the real `geminihook serve` binary as a subprocess
// against in-process servers and drives it with signed deliveries, keeping
// an account of every answer, so that tests can check that each 200 has its
// Pub/Sub message, that the process's memory stays flat, and that a SIGTERM
// drains deliveries in flight.
//
// It is used by the soak test in this package (gated by GEMINIHOOK_SOAK) and
// by the graceful-shutdown test of cmd/geminihook. Everything listens on
// 127.0.0.1 and every run is bounded in time and count.
package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/syncbuf"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// ModuleRoot returns the directory of the geminihook module, found by
// walking up from the working directory to its go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/geminihook/geminihook\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("soak: the geminihook module root was not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles the geminihook command into dir and returns the binary's
// path.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "geminihook")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/geminihook")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/geminihook: %w: %s", err, out)
	}
	return bin, nil
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

// Process is a running `geminihook serve`.
type Process struct {
	// URL is the base URL the function serves on.
	URL string
	cmd *exec.Cmd
	out *syncbuf.Buffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	exited  time.Time
}

// Serve starts bin serve on a free port of 127.0.0.1 (--port 0) with
// exactly env as its environment (plus PATH and HOME) and args after the
// port flags, and waits until it says where it serves, which it does only
// once bound. The process is killed when ctx ends.
func Serve(ctx context.Context, bin string, env map[string]string, args ...string) (*Process, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--host", "127.0.0.1", "--port", "0"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &Process{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	if _, set := env["GEMINI_JWT_AUDIENCE"]; !set {
		// Dynamic webhooks need a configured audience, which Signer.JWT
		// mints tokens for: the process's own URL, so its port is chosen
		// here rather than by --port 0.
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cmd.Args[len(cmd.Args)-len(args)-1] = port
		cmd.Env = append(cmd.Env, "GEMINI_JWT_AUDIENCE=http://127.0.0.1:"+port)
	}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := servingLine.FindStringSubmatch(p.out.String()); m != nil {
			p.URL = m[1]
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("serve exited before listening: %w: %s", p.waitErr, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("serve did not report its address within 30s: %s", p.out.String())
		}
	}
}

// servingLine is what serve prints once it is bound.
var servingLine = regexp.MustCompile(`geminihook: serving \S+ on (http://127\.0\.0\.1:[0-9]+)\n`)

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process at once and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Wait waits up to timeout for the process to exit and returns its exit
// code and when it exited. It reports an error when it is still running.
func (p *Process) Wait(timeout time.Duration) (code int, at time.Time, err error) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, time.Time{}, fmt.Errorf("serve still running after %s", timeout)
	}
	if p.waitErr == nil {
		return 0, p.exited, nil
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal()), p.exited, nil
		}
		return ee.ExitCode(), p.exited, nil
	}
	return -1, p.exited, p.waitErr
}

// RSS returns the process's resident set size in bytes, from
// /proc/<pid>/status (Linux only).
func (p *Process) RSS() (int64, error) { return RSS(p.PID()) }

// RSS returns the resident set size in bytes of process pid.
func RSS(pid int) (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, errors.New("soak: RSS needs /proc (Linux)")
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS of %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// Signer builds signed deliveries for a function at URL.
type Signer struct {
	URL    string        // the function's URL, also the JWT audience
	Secret verify.Secret // for HMAC deliveries
	Key    *verifytest.Key
}

// HMAC returns a POST of body signed for id at the time at.
func (s Signer) HMAC(ctx context.Context, id string, body []byte, at time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	for k, v := range verify.SignHeaders(s.Secret, id, at, body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// JWT returns a POST of body carrying a token for id minted by s.Key.
func (s Signer) JWT(ctx context.Context, id string, body []byte, at time.Time) (*http.Request, error) {
	tok, err := s.Key.Mint(map[string]any{"aud": s.URL, "iat": at.Unix(), "exp": at.Add(5 * time.Minute).Unix(), "jti": id})
	if err != nil {
		return nil, fmt.Errorf("mint token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set(verify.HeaderID, id)
	req.Header.Set(verify.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(verify.HeaderSignature, tok)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// Answer is the account of one delivery.
type Answer struct {
	ID     string
	Status int    // 0 when no answer was received
	Body   string // the answer's body
	Err    error  // transport error, or a body cut short
}

// Do sends req with client and reads the whole answer.
func Do(client *http.Client, id string, req *http.Request) Answer {
	res, err := client.Do(req)
	if err != nil {
		return Answer{ID: id, Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Answer{ID: id, Status: res.StatusCode, Body: string(b), Err: err}
}

// Run is a built serve binary running against a local stack.
type Run struct {
	Stack   *devstack.Stack
	Process *Process
	Signer  Signer // signs with the stack's secret and key for Process.URL
}

// Start builds the binary into dir, starts a local stack with opts and runs
// serve against it. Close the run when done.
func Start(ctx context.Context, dir string, opts devstack.Options) (*Run, error) {
	stack, err := devstack.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	bin, err := Build(ctx, dir)
	if err != nil {
		stack.Close()
		return nil, err
	}
	p, err := Serve(ctx, bin, stack.Env())
	if err != nil {
		stack.Close()
		return nil, err
	}
	signer := Signer{URL: p.URL, Secret: verify.MustParseSecret(stack.Secret), Key: stack.Key}
	return &Run{Stack: stack, Process: p, Signer: signer}, nil
}

// Close kills the process (if still running) and stops the stack.
func (r *Run) Close() {
	r.Process.Kill()
	r.Stack.Close()
}
