package geminihook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"

	"github.com/geminihook/geminihook/internal/confirm"
	idem "github.com/geminihook/geminihook/internal/idempotency"
	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/verify"
)

// buildOptions are the seams tests use to point the real clients at
// in-process servers. The zero value is production.
type buildOptions struct {
	pubsubOptions        []option.ClientOption
	secretManagerOptions []option.ClientOption
	firestoreOptions     []option.ClientOption // with GEMINI_DEDUPE=firestore
	firestore            idem.FirestoreOptions // Collection and Now are set from the configuration
	jwksClient           *http.Client          // default: verify's default
	now                  func() time.Time
	logger               *slog.Logger // default: a Cloud Logging logger on logOutput at GEMINI_LOG_LEVEL
	logOutput            io.Writer    // default os.Stdout; used only when logger is nil
	publish              publish.Options
	secrets              secrets.Options
	jwksMinRefresh       time.Duration
	confirm              confirm.Options // APIKey, BaseURL and Now are set from the configuration
	confirmBudget        time.Duration   // default confirmBudget
}

// function is the HTTP handler behind GeminiWebhook. It reads the
// configuration and builds its clients on the first request, and keeps them
// only once building succeeded, so a failed start is retried by the next
// delivery instead of being remembered.
type function struct {
	getenv func(string) string
	opts   buildOptions // defaults filled in: now and logger are never nil
	// level is the default logger's level: info until the configuration
	// is read, then GEMINI_LOG_LEVEL.
	level slog.LevelVar

	mu      sync.Mutex
	srv     *server
	project stringValue // the configured project, once known: for trace fields

	// in-flight tracking for Shutdown
	flight    sync.Mutex
	inFlight  int
	draining  bool
	drained   chan struct{} // closed when draining and inFlight reaches 0
	closeOnce sync.Once
}

func newFunction(getenv func(string) string, opts buildOptions) *function {
	if opts.now == nil {
		opts.now = time.Now
	}
	f := &function{getenv: getenv, drained: make(chan struct{})}
	if opts.logger == nil {
		if opts.logOutput == nil {
			opts.logOutput = os.Stdout
		}
		opts.logger = logging.New(opts.logOutput, &f.level)
	}
	f.opts = opts
	return f
}

// stringValue is an atomic string whose zero value is "".
type stringValue struct{ v atomic.Value }

func (s *stringValue) Load() string {
	v, _ := s.v.Load().(string)
	return v
}

func (s *stringValue) Store(v string) { s.v.Store(v) }

// server is everything one instance needs to handle deliveries.
type server struct {
	cfg       config
	verifier  *verify.Verifier
	publisher publisher
	seen      idempotency
	secrets   *secrets.Keyring // nil unless keys come from Secret Manager
	confirm   *confirmer       // nil when GEMINI_CONFIRM is off
	logger    *slog.Logger     // for background work; deliveries log through the function
	late      sync.WaitGroup   // watchLate's goroutines
	closers   []func() error
	// sm is nil until a secret is read from Secret Manager; see secretManager.
	sm *secretmanager.Client
}

// errShuttingDown answers deliveries that arrive after Shutdown began.
var errShuttingDown = errors.New("shutting down")

// server returns the instance's server, building it on first use.
func (f *function) server(ctx context.Context) (*server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		return f.srv, nil
	}
	cfg, err := loadConfig(f.getenv)
	if err != nil {
		return nil, err
	}
	f.level.Set(cfg.LogLevel)
	s, err := buildServer(ctx, cfg, f.opts)
	if err != nil {
		return nil, err
	}
	f.srv = s
	f.project.Store(cfg.Project)
	f.opts.logger.Info("function ready",
		"project", cfg.Project, "topic_prefix", cfg.TopicPrefix,
		"static_webhooks", cfg.Secret != "", "dynamic_webhooks", cfg.DynamicWebhooks,
		"jwt_audience", strings.Join(cfg.Audiences, ","),
		"secret_source", secretSource(cfg), "confirm", cfg.Confirm)
	return s, nil
}

// secretSource describes where keys come from without revealing them.
func secretSource(c config) string {
	switch {
	case c.Secret == "":
		return "none"
	case c.secretIsLiteral():
		return "literal"
	default:
		return c.Secret
	}
}

// buildServer creates the clients. None of them contacts its service here.
func buildServer(ctx context.Context, cfg config, opts buildOptions) (_ *server, err error) {
	s := &server{cfg: cfg, logger: opts.logger}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

	var keyring verify.Keyring
	switch {
	case cfg.Secret == "":
	case cfg.secretIsLiteral():
		keys, err := secrets.ParseList(cfg.Secret)
		if err != nil {
			return nil, fmt.Errorf("GEMINI_WEBHOOK_SECRET: %w", err)
		}
		keyring = verify.StaticKeyring(keys)
	default:
		client, err := s.secretManager(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("GEMINI_WEBHOOK_SECRET: %w", err)
		}
		so := opts.secrets
		so.Now = opts.now
		so.Logger = opts.logger
		kr, err := secrets.New(client, cfg.Secret, so)
		if err != nil {
			return nil, err
		}
		keyring, s.secrets = kr, kr
		s.closers = append(s.closers, kr.Close) // runs before the client's Close
	}

	var keySet verify.KeySet
	if cfg.DynamicWebhooks {
		rks := verify.NewRemoteKeySet(cfg.JWKSURL, verify.RemoteKeySetOptions{
			HTTPClient:         opts.jwksClient,
			MinRefreshInterval: opts.jwksMinRefresh,
			Now:                opts.now,
		})
		keySet = rks
		s.closers = append(s.closers, rks.Close) // ends a JWKS fetch in flight
	}

	s.verifier, err = verify.New(verify.Options{
		Keyring:   keyring,
		KeySet:    keySet,
		Tolerance: cfg.Tolerance,
		Audiences: cfg.Audiences,
		Issuer:    cfg.Issuer,
		Now:       opts.now,
	})
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}

	guard, fs, err := newGuard(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	s.seen = guarded{guard}
	if fs != nil {
		s.closers = append(s.closers, fs.Close)
	}
	// Run after the publishers are closed, which ends every wait for a
	// late answer, and before the store's client is closed.
	s.closers = append(s.closers, func() error { s.late.Wait(); return nil })

	p, err := publish.New(ctx, cfg.Project, cfg.TopicPrefix, opts.publish, opts.pubsubOptions...)
	if err != nil {
		return nil, err
	}
	s.publisher = p
	s.closers = append(s.closers, p.Close)

	if s.confirm, err = newConfirmer(ctx, cfg, opts, s); err != nil {
		return nil, err
	}
	return s, nil
}

// secretCallTimeout bounds one Secret Manager call, retries included. The
// client's defaults (a minute, retrying UNAVAILABLE on AccessSecretVersion)
// would hold a delivery waiting on keys far longer than the sender waits,
// while cached keys or a 503 are the answers it needs within seconds.
const secretCallTimeout = 3 * time.Second

// boundSecretCalls caps the calls the keyring makes at secretCallTimeout.
// A later gax.WithTimeout overrides the client's default one.
func boundSecretCalls(c *secretmanager.Client) {
	c.CallOptions.ListSecretVersions = append(c.CallOptions.ListSecretVersions, gax.WithTimeout(secretCallTimeout))
	c.CallOptions.AccessSecretVersion = append(c.CallOptions.AccessSecretVersion, gax.WithTimeout(secretCallTimeout))
}

// close releases the clients in the reverse order of their creation:
// publishers first so their buffers are sent, then the late-answer
// watchers, then the idempotency store.
func (s *server) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return joinErrors(errs)
}

// enter registers a delivery in flight; it fails once Shutdown has begun.
func (f *function) enter() bool {
	f.flight.Lock()
	defer f.flight.Unlock()
	if f.draining {
		return false
	}
	f.inFlight++
	return true
}

// leave ends a delivery registered by enter.
func (f *function) leave() {
	f.flight.Lock()
	defer f.flight.Unlock()
	f.inFlight--
	if f.draining && f.inFlight == 0 {
		f.closeOnce.Do(func() { close(f.drained) })
	}
}

// Shutdown implements the package-level Shutdown for this function.
func (f *function) Shutdown(ctx context.Context) error {
	f.flight.Lock()
	f.draining = true
	if f.inFlight == 0 {
		f.closeOnce.Do(func() { close(f.drained) })
	}
	f.flight.Unlock()
	select {
	case <-f.drained:
	case <-ctx.Done():
		return fmt.Errorf("waiting for deliveries in flight: %w", ctx.Err())
	}
	f.mu.Lock()
	s := f.srv
	f.srv = nil
	f.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.close()
}

// errorList is several errors as one: Error joins their messages with "; "
// on one line (errors.Join would use line breaks, which split a log field),
// and errors.Is and errors.As see each of them.
type errorList []error

func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errorList) Unwrap() []error { return l }

// joinErrors returns nil when errs holds no error, the error itself when it
// holds one, and an errorList of the non-nil errors otherwise.
func joinErrors(errs []error) error {
	var l errorList
	for _, err := range errs {
		if err != nil {
			l = append(l, err)
		}
	}
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}
