package httpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/syncbuf"
)

// contractHandler answers like the function: 405 with a JSON body for
// anything but POST, 400 body_unreadable when the body cannot be read,
// else 200. It records what reached it.
type contractHandler struct {
	mu   sync.Mutex
	seen []string // "METHOD request-uri"
	hold chan struct{}
}

func (h *contractHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen = append(h.seen, r.Method+" "+r.RequestURI)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		io.WriteString(w, `{"result":"rejected","reason":"method_not_allowed"}`+"\n")
		return
	}
	if _, err := io.ReadAll(r.Body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"result":"rejected","reason":"body_unreadable"}`+"\n")
		return
	}
	if h.hold != nil {
		<-h.hold
	}
	io.WriteString(w, `{"result":"published"}`+"\n")
}

func (h *contractHandler) saw() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// start serves h on a loopback port and returns the server, its address
// and its log.
func start(t *testing.T, h http.Handler, opts Options) (*Server, string, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	s := New(h, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String(), logs
}

// exchange writes raw on a new connection and reads one response.
func exchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to %.40q: %v", raw, err)
	}
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestEveryRequestReachesHandler sends requests a router would redirect,
// refuse or answer by itself, and checks that each one reached the
// handler as sent and got its answer.
func TestEveryRequestReachesHandler(t *testing.T) {
	h := &contractHandler{}
	_, addr, _ := start(t, h, Options{})
	tests := []struct{ raw, seen string }{
		{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "CONNECT example.com:443"},
		{"GET // HTTP/1.1\r\nHost: x\r\n\r\n", "GET //"},
		{"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "GET /../../etc/passwd"},
		{"GET /a/./b/../c HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a/./b/../c"},
		{"GET http://other.example/x HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://other.example/x"},
		{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS *"},
		{"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", "BREW /pot"},
		{"HEAD / HTTP/1.0\r\n\r\n", "HEAD /"},
	}
	for _, tc := range tests {
		res, body := exchange(t, addr, tc.raw)
		if res.StatusCode != http.StatusMethodNotAllowed || (tc.seen != "HEAD /" && !strings.Contains(body, "method_not_allowed")) {
			t.Errorf("%q: %d %q, want the handler's 405", tc.seen, res.StatusCode, body)
		}
	}
	saw := h.saw()
	for _, tc := range tests {
		found := false
		for _, s := range saw {
			found = found || s == tc.seen
		}
		if !found {
			t.Errorf("%q never reached the handler (saw %q)", tc.seen, saw)
		}
	}
}

// TestRefusedBeforeHandler sends requests net/http refuses by itself and
// checks that each gets a 400 in the handler's JSON format with a stable
// reason, that a line is logged without the request's bytes, and that the
// handler is not called.
func TestRefusedBeforeHandler(t *testing.T) {
	h := &contractHandler{}
	s, addr, logs := start(t, h, Options{MaxHeaderBytes: 1024})
	big := strings.Repeat("a", 8<<10)
	tests := []struct{ name, raw, reason string }{
		{"malformed request line", "GARBAGE-SECRET-LINE\r\n\r\n", "malformed_request"},
		{"no Host header", "POST / HTTP/1.1\r\n\r\n", "malformed_request"},
		{"header without colon", "POST / HTTP/1.1\r\nHost: x\r\nbroken-SECRET\r\n\r\n", "malformed_request"},
		{"headers over the cap", "POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", "headers_too_large"},
		{"unsupported transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported_transfer_encoding"},
		{"unsupported expectation", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", "unsupported_expect"},
		{"unsupported protocol", "POST / HTTP/3.0\r\nHost: x\r\n\r\n", "unsupported_protocol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := exchange(t, addr, tc.raw)
			var a struct{ Result, Reason string }
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatalf("answer %q is not JSON: %v", body, err)
			}
			if res.StatusCode != http.StatusBadRequest || a.Result != "rejected" || a.Reason != tc.reason || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%d %q (%s), want 400 rejected %s", res.StatusCode, body, res.Header.Get("Content-Type"), tc.reason)
			}
			if !strings.Contains(logs.String(), `"reason":"`+tc.reason+`"`) {
				t.Errorf("no log line with reason %s:\n%s", tc.reason, logs)
			}
		})
	}
	if saw := h.saw(); len(saw) != 0 {
		t.Errorf("refused requests reached the handler: %q", saw)
	}
	if got := s.Refused(); got != int64(len(tests)) {
		t.Errorf("Refused() = %d, want %d", got, len(tests))
	}
	if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), big[:64]) {
		t.Errorf("the log holds request bytes:\n%s", logs)
	}
}

// TestHugeHeadersAnswered sends a megabyte of headers that never end, as a
// hostile client does, and checks that it is cut at the cap and can read
// the 400 headers_too_large answer while it is still sending.
func TestHugeHeadersAnswered(t *testing.T) {
	_, addr, _ := start(t, &contractHandler{}, Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Huge: ")
		chunk := strings.Repeat("h", 16<<10)
		for range 64 { // 1 MiB, never finished; fails once the server closes
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a megabyte of headers: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "headers_too_large") {
		t.Errorf("%d %q, want 400 headers_too_large", res.StatusCode, body)
	}
}

// readUntilClosed reads c until the server closes it and returns what it
// read; it fails the test if c is still open after 10 seconds.
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after 10s (read %q)", b)
	}
	return string(b)
}

// TestTimeoutsCloseConnections holds connections the ways slow clients do
// and checks that the server closes each.
func TestTimeoutsCloseConnections(t *testing.T) {
	h := &contractHandler{}
	_, addr, _ := start(t, h, Options{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("silent connection", func(t *testing.T) {
		if got := readUntilClosed(t, dial()); got != "" {
			t.Errorf("answered %q", got)
		}
	})
	t.Run("request line that never ends", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "POST /"+strings.Repeat("a", 100))
		readUntilClosed(t, c)
	})
	t.Run("headers that never end", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		readUntilClosed(t, c)
	})
	t.Run("body that never ends", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
		got := readUntilClosed(t, c)
		if !strings.Contains(got, "400 Bad Request") || !strings.Contains(got, "body_unreadable") {
			t.Errorf("stalled body answered %q, want the handler's 400 body_unreadable", got)
		}
	})
	t.Run("idle kept-alive connection", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		got := readUntilClosed(t, c)
		if !strings.HasPrefix(got, "HTTP/1.1 405") {
			t.Errorf("answered %q", got)
		}
	})
}

// TestMaxConns fills MaxConns with a delivery in its handler and a
// client that sends nothing: a new connection closes the silent one, never
// the delivery, and is served. With every connection in the handler, a new
// one waits until one finishes.
func TestMaxConns(t *testing.T) {
	h := &contractHandler{hold: make(chan struct{})}
	s, addr, _ := start(t, h, Options{MaxConns: 2, ReadHeaderTimeout: time.Minute})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	waitSeen := func(n int) {
		for len(h.saw()) < n {
			time.Sleep(5 * time.Millisecond)
		}
	}
	delivery := dial()
	io.WriteString(delivery, "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	waitSeen(1)
	silent := dial()
	for s.ln.Load().openConns() < 2 { // the silent connection is accepted first
		time.Sleep(5 * time.Millisecond)
	}

	newcomer := dial()
	io.WriteString(newcomer, "GET /new HTTP/1.1\r\nHost: x\r\n\r\n")
	newcomer.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(newcomer)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("newcomer at MaxConns: %v", err)
	}
	readUntilClosed(t, silent)
	if s.Evicted() != 1 {
		t.Errorf("Evicted() = %d, want 1", s.Evicted())
	}

	// Both places now hold deliveries in their handlers.
	io.WriteString(newcomer, "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	waitSeen(3)
	queued := dial()
	io.WriteString(queued, "GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
	queued.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	qr := bufio.NewReader(queued)
	if _, err := http.ReadResponse(qr, nil); err == nil {
		t.Fatal("a connection over MaxConns was served while every place ran the handler")
	}
	close(h.hold)
	queued.SetReadDeadline(time.Now().Add(10 * time.Second))
	if res, err := http.ReadResponse(qr, nil); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("queued connection once a delivery finished: %v", err)
	}
	for _, c := range []net.Conn{delivery, newcomer} {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if res, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("delivery held at MaxConns: %v", err)
		}
	}
	// Both deliveries were answered: the queued connection, accepted
	// once they finished, may only have closed one of them idle.
}

// TestShutdownCutsUnfinishedReads shuts down with one delivery in flight
// (its body read, its handler running) and one client stalled mid-body:
// the stalled read is cut and answered at once, the delivery in flight
// finishes with its answer during Drain, and Shutdown returns nil.
func TestShutdownCutsUnfinishedReads(t *testing.T) {
	h := &contractHandler{hold: make(chan struct{})}
	drained := make(chan struct{})
	opts := Options{ReadTimeout: time.Minute, Drain: func(ctx context.Context) error {
		close(drained)
		return nil
	}}
	s, addr, _ := start(t, h, opts)

	inflight, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer inflight.Close()
	io.WriteString(inflight, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	io.WriteString(stalled, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":")
	for len(h.saw()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	if got := readUntilClosed(t, stalled); !strings.Contains(got, "body_unreadable") {
		t.Errorf("stalled body at shutdown answered %q, want body_unreadable", got)
	}
	<-drained
	close(h.hold) // the delivery in flight finishes
	if got := readUntilClosed(t, inflight); !strings.Contains(got, "200 OK") || !strings.Contains(got, "published") {
		t.Errorf("delivery in flight answered %q", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// A request whose handler starts once Shutdown has begun (here: while the
// drain runs, before the listener closes) has its unfinished body cut at
// once instead of waiting for the sender or the read timeout.
func TestShutdownCutsReadsThatStartLater(t *testing.T) {
	h := &contractHandler{}
	draining, release := make(chan struct{}), make(chan struct{})
	opts := Options{ReadTimeout: time.Minute, Drain: func(ctx context.Context) error {
		close(draining)
		<-release
		return nil
	}}
	s, addr, _ := start(t, h, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	<-draining

	late, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	io.WriteString(late, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":")
	if got := readUntilClosed(t, late); !strings.Contains(got, "body_unreadable") {
		t.Errorf("body started during shutdown answered %q, want body_unreadable", got)
	}
	close(release)
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownDeadline checks that a handler that never returns cannot
// hold Shutdown past its context: the connection is closed and the error
// says so.
func TestShutdownDeadline(t *testing.T) {
	h := &contractHandler{hold: make(chan struct{})}
	defer close(h.hold)
	s, addr, _ := start(t, h, Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	for len(h.saw()) < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a stuck handler: %v, want the deadline", err)
	}
	readUntilClosed(t, c)
}

// TestDefaults checks that the zero Options are the documented defaults.
func TestDefaults(t *testing.T) {
	s := New(http.NotFoundHandler(), Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	got := fmt.Sprint(s.srv.ReadHeaderTimeout, s.srv.ReadTimeout, s.srv.IdleTimeout, s.srv.MaxHeaderBytes, s.opts.MaxConns)
	want := fmt.Sprint(DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultIdleTimeout, DefaultMaxHeaderBytes, DefaultMaxConns)
	if got != want {
		t.Errorf("defaults %s, want %s", got, want)
	}
	if !s.srv.DisableGeneralOptionsHandler {
		t.Error("OPTIONS * would be answered by net/http")
	}
}
