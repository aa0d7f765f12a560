// Package httpserver runs the function's handler behind an http.Server with
// the limits a public endpoint needs when nothing stands in front of it:
// header-read, request-read and idle timeouts, a cap on header bytes and a
// cap on open connections. It is what `geminihook serve` and `dev` run; the
// deployed function is served by the Functions Framework behind Google's
// front end instead, which applies its own limits.
//
// Every request reaches the handler whatever its method or target (there is
// no router: no redirect for "//" or "/../", no 404 for CONNECT, no
// automatic answer to "OPTIONS *"). The few requests net/http refuses before
// any handler can run (a malformed request line or header, headers over the
// cap, an unsupported Transfer-Encoding, an Expect other than 100-continue)
// are answered 400 with the same small JSON body the handler writes, and
// logged; see [Refusal].
package httpserver

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihook/geminihook/internal/logging"
)

// Defaults of Options.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 1024
)

// Options configures a Server; the zero value of each field is its default.
type Options struct {
	// ReadHeaderTimeout bounds reading a request's line and headers,
	// from the first byte (or, on a new connection, from accepting it).
	// Default DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body. A body
	// still arriving then is cut and the handler answers it as unreadable.
	// Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers. net/http allows
	// 4096 bytes of slack beyond it before answering (here: 400
	// headers_too_large). Default DefaultMaxHeaderBytes (64 KiB).
	MaxHeaderBytes int
	// MaxConns caps open connections. Once reached, accepting a new
	// connection first closes the oldest one that is not running the
	// handler (idle, or still sending its request line and headers), so
	// clients that stall cannot keep a delivery out; when every connection
	// is running the handler, new ones wait in the kernel's accept queue,
	// holding no file descriptor of the process. Default DefaultMaxConns.
	MaxConns int
	// Logger receives a line for each request refused before the handler.
	// Default: JSON lines on stdout in Cloud Logging's format.
	Logger *slog.Logger
	// Drain runs during Shutdown once unfinished body reads are cut and
	// before the listener closes: the handler's own drain, which answers
	// new requests 503 and waits for deliveries in flight. Default: none.
	Drain func(context.Context) error
}

// Server serves one handler with the limits of Options.
type Server struct {
	opts Options
	srv  *http.Server

	// draining is set by Shutdown before it cuts the bodies being read;
	// see wrap for how the two meet without a lock per request.
	draining atomic.Bool

	refused atomic.Int64
	evicted atomic.Int64
	ln      atomic.Pointer[limitListener] // set by Serve
}

// Refusal describes how a request net/http refuses before the handler is
// answered: the status net/http would send, the status and reason sent
// instead. Reasons are stable, like the handler's.
type Refusal struct {
	NetHTTPStatus int
	Status        int
	Reason        string
}

// Refusals lists the answers to requests refused before the handler, by
// the status net/http would have sent. Any other status is answered 400
// malformed_request.
var Refusals = []Refusal{
	{http.StatusBadRequest, http.StatusBadRequest, "malformed_request"},
	{http.StatusRequestHeaderFieldsTooLarge, http.StatusBadRequest, "headers_too_large"},
	{http.StatusNotImplemented, http.StatusBadRequest, "unsupported_transfer_encoding"},
	{http.StatusExpectationFailed, http.StatusBadRequest, "unsupported_expect"},
	{http.StatusHTTPVersionNotSupported, http.StatusBadRequest, "unsupported_protocol"},
}

// refusalFor returns the Refusal for net/http's status.
func refusalFor(status int) Refusal {
	for _, r := range Refusals {
		if r.NetHTTPStatus == status {
			return r
		}
	}
	return Refusal{NetHTTPStatus: status, Status: http.StatusBadRequest, Reason: "malformed_request"}
}

// New returns a Server for h.
func New(h http.Handler, opts Options) *Server {
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Logger == nil {
		opts.Logger = logging.New(os.Stdout, slog.LevelInfo)
	}
	s := &Server{opts: opts}
	s.srv = &http.Server{
		Handler:           s.wrap(h),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		// "OPTIONS *" reaches the handler like any other request.
		DisableGeneralOptionsHandler: true,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*trackedConn); ok {
				return context.WithValue(ctx, connKey{}, tc)
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if tc, ok := c.(*trackedConn); ok && (st == http.StateIdle || st == http.StateClosed || st == http.StateHijacked) {
				if tc.state.CompareAndSwap(connInHandler, connWaiting) {
					tc.l.wake() // an Accept waiting for room may evict it now
				}
			}
		},
		// net/http's own complaints (TLS handshakes on a plain port, accept
		// errors) go to the structured log, never to stderr unformatted.
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Refused returns how many requests were refused before reaching the
// handler since the Server started.
func (s *Server) Refused() int64 { return s.refused.Load() }

// Evicted returns how many connections were closed to make room for new
// ones under MaxConns since the Server started.
func (s *Server) Evicted() int64 { return s.evicted.Load() }

// Serve accepts connections on ln until Shutdown; it returns nil after
// Shutdown and the accept error otherwise. Open connections are capped at
// MaxConns.
func (s *Server) Serve(ln net.Listener) error {
	l := &limitListener{Listener: ln, s: s, max: s.opts.MaxConns, open: list.New()}
	l.cond = sync.NewCond(&l.mu)
	s.ln.Store(l)
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server within ctx. It cuts every request body still
// being read (such requests are not yet authenticated; the handler answers
// them as unreadable, and later ones have their reads cut at once), runs
// Options.Drain, then closes the listener and waits for answers being
// written and for connections to go idle. When ctx ends first, it closes
// every connection and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if l := s.ln.Load(); l != nil {
		l.mu.Lock()
		for e := l.open.Front(); e != nil; e = e.Next() {
			if b := e.Value.(*trackedConn).body.Load(); b != nil {
				b.cut()
			}
		}
		l.mu.Unlock()
	}
	var errs []error
	if s.opts.Drain != nil {
		// Drain is given ctx; should it overrun it anyway, the
		// connections are closed on time regardless.
		drained := make(chan error, 1)
		go func() { drained <- s.opts.Drain(ctx) }()
		select {
		case err := <-drained:
			if err != nil {
				errs = append(errs, fmt.Errorf("drain: %w", err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("drain: %w", ctx.Err()))
		}
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.srv.Close() }

type connKey struct{}

// wrap marks the connection as running a handler, so that what net/http
// writes outside one is recognised as its own refusal, and tracks the body
// so that Shutdown can cut reads that have not finished.
//
// A connection carries one request at a time, so the body being read is
// kept in its trackedConn rather than in a set shared by every request:
// one allocation and no shared lock per request. wrap publishes the body,
// then looks at draining; Shutdown sets draining, then looks at every
// connection's body. Whichever comes second sees the other's write, so a
// body is cut by one or the other (or both: cutting is idempotent).
func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc, _ := r.Context().Value(connKey{}).(*trackedConn)
		if tc != nil {
			// Fails only when the connection was just evicted: the
			// request was read whole, so it is still handled; its answer
			// cannot be delivered and the sender retries.
			tc.state.CompareAndSwap(connWaiting, connInHandler)
		}
		if tc != nil && r.Body != nil && r.Body != http.NoBody {
			b := &trackedBody{ReadCloser: r.Body, w: w, left: r.ContentLength, conn: tc}
			tc.body.Store(b)
			if s.draining.Load() {
				b.cut()
			}
			defer b.finish()
			r.Body = b
		}
		h.ServeHTTP(w, r)
	})
}

// trackedBody is a request body that reports when it has been read to its
// end, and whose reads Shutdown can cut.
type trackedBody struct {
	io.ReadCloser
	w    http.ResponseWriter // for cut; a ResponseController is made only then
	left int64               // bytes announced and not yet read; -1: unknown
	conn *trackedConn

	mu       sync.Mutex // orders finish and cut: no cut once finished
	finished bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.left > 0 {
		b.left -= int64(n)
	}
	if err != nil || b.left == 0 {
		b.finish()
	}
	return n, err
}

// finish stops tracking the body: it was read to its end, failed, or the
// handler returned. Once it has returned, cut does nothing, so a deadline
// meant for this body never lands on the connection's next request.
func (b *trackedBody) finish() {
	b.mu.Lock()
	done := b.finished
	b.finished = true
	b.mu.Unlock()
	if !done {
		b.conn.body.CompareAndSwap(b, nil)
	}
}

// cut makes the body's pending and future reads fail at once, unless it
// has finished.
func (b *trackedBody) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		_ = http.NewResponseController(b.w).SetReadDeadline(time.Now())
	}
}

// limitListener caps open connections at max, closing the oldest one not
// running the handler to make room, and wraps each in a trackedConn.
type limitListener struct {
	net.Listener
	s   *Server
	max int

	mu     sync.Mutex
	cond   *sync.Cond // signalled when a connection closes or the listener does
	open   *list.List // of *trackedConn, oldest first
	closed bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	// At the cap with every connection in the handler, leave new ones in
	// the kernel's queue until one finishes.
	l.mu.Lock()
	for l.open.Len() >= l.max && !l.evictableLocked() && !l.closed {
		l.cond.Wait()
	}
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Make room: close the oldest connection waiting for a request. Should
	// they all have reached the handler meanwhile, hold the new one.
	for l.open.Len() >= l.max && !l.evictOldestLocked() {
		if l.closed {
			c.Close()
			return nil, net.ErrClosed
		}
		l.cond.Wait()
	}
	tc.elem = l.open.PushBack(tc)
	return tc, nil
}

// evictableLocked reports whether a connection is waiting for a request.
func (l *limitListener) evictableLocked() bool {
	for e := l.open.Front(); e != nil; e = e.Next() {
		if e.Value.(*trackedConn).state.Load() == connWaiting {
			return true
		}
	}
	return false
}

// evictOldestLocked closes the oldest connection waiting for a request and
// reports whether there was one.
func (l *limitListener) evictOldestLocked() bool {
	for e := l.open.Front(); e != nil; e = e.Next() {
		tc := e.Value.(*trackedConn)
		if tc.state.CompareAndSwap(connWaiting, connEvicted) {
			l.releaseLocked(tc)
			l.s.evicted.Add(1)
			tc.Conn.Close() // net/http's reader then ends the connection
			return true
		}
	}
	return false
}

// releaseLocked forgets tc; it is idempotent.
func (l *limitListener) releaseLocked(tc *trackedConn) {
	if tc.elem != nil {
		l.open.Remove(tc.elem)
		tc.elem = nil
		l.cond.Broadcast()
	}
}

// wake lets an Accept waiting for room look again.
func (l *limitListener) wake() {
	l.mu.Lock()
	l.cond.Broadcast()
	l.mu.Unlock()
}

// openConns returns how many connections are open.
func (l *limitListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open.Len()
}

func (l *limitListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// States of a trackedConn.
const (
	connWaiting   int32 = iota // idle, or reading a request's line and headers
	connInHandler              // a request reached the handler; its answer is not yet sent
	connEvicted                // closed to make room under MaxConns
)

// trackedConn recognises the answers net/http writes by itself, outside
// any handler, and replaces them with a Refusal in the handler's format;
// it frees its place under MaxConns when closed.
type trackedConn struct {
	net.Conn
	s     *Server
	l     *limitListener
	state atomic.Int32
	elem  *list.Element               // in l.open; nil once released (guarded by l.mu)
	body  atomic.Pointer[trackedBody] // the request body being read, if any
}

// CloseWrite half-closes the connection. net/http does so after refusing
// oversized headers, so that a client still sending can read the answer;
// without it the wrapper would hide the *net.TCPConn's method.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func (c *trackedConn) Write(p []byte) (int, error) {
	if c.state.Load() == connInHandler || !bytes.HasPrefix(p, []byte("HTTP/1.")) || len(p) < 12 {
		return c.Conn.Write(p)
	}
	status, err := strconv.Atoi(string(p[9:12]))
	if err != nil || status < 400 {
		return c.Conn.Write(p)
	}
	ref := refusalFor(status)
	c.s.refused.Add(1)
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	// net/http's text can quote the request line: it stays out of the log.
	c.s.opts.Logger.Warn("request refused before the handler",
		"result", "rejected", "status", ref.Status, "reason", ref.Reason,
		"net_http_status", status, "remote_ip", host)
	if _, err := c.Conn.Write(refusalResponse(ref)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// refusalResponse is the whole HTTP/1.1 answer to a refused request: the
// handler's JSON body and headers, and Connection: close as net/http
// closes the connection after it.
func refusalResponse(r Refusal) []byte {
	body := `{"result":"rejected","reason":"` + r.Reason + `"}` + "\n"
	return []byte(fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		r.Status, http.StatusText(r.Status), len(body), body))
}
