// Package secrets supplies the HMAC signing secrets of static Gemini webhooks
// from Secret Manager, so that a rotation is picked up without a redeploy.
//
// A Keyring names either a secret (every ENABLED version is an accepted key,
// newest first, a few at most) or one version. Keys are cached for a TTL,
// re-read in the background once stale, and re-read when a delivery matches
// none of them, at most once per interval: the same policy, under the same
// option names, as verify.RemoteKeySet for JWKS keys.
// When Secret Manager fails, the keys already held keep serving; with none
// held, Secrets reports verify.ErrKeySetUnavailable and the function answers
// 503 so that Gemini retries.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"

	"github.com/geminihook/geminihook/verify"
)

// isSecretName reports whether s is projects/P/secrets/S, and
// isVersionName whether s is projects/P/secrets/S/versions/V, each part
// non-empty and without "/". They are matched by hand, not by regexps
// compiled at init: every start of the function would pay for them,
// whether or not it reads Secret Manager.
func isSecretName(s string) bool { return isName(s, "projects", "secrets") }

func isVersionName(s string) bool { return isName(s, "projects", "secrets", "versions") }

// isName reports whether s is kinds[0]/X/kinds[1]/Y/…, with one non-empty
// part without "/" after each kind.
func isName(s string, kinds ...string) bool {
	for _, kind := range kinds {
		rest, ok := strings.CutPrefix(s, kind+"/")
		if !ok {
			return false
		}
		part, after, more := strings.Cut(rest, "/")
		if part == "" {
			return false
		}
		if !more {
			return kind == kinds[len(kinds)-1]
		}
		s = after
	}
	return false
}

// IsSecretName reports whether s names a secret or a secret version, as
// opposed to a literal list of secrets.
func IsSecretName(s string) bool {
	return isSecretName(s) || isVersionName(s)
}

// Defaults of Options. The cache's knobs carry the names of
// verify.RemoteKeySetOptions, the other refreshing key cache.
const (
	DefaultMaxAge             = 5 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultEmptyRetryInterval = 2 * time.Second
	DefaultMaxVersions        = 5
)

// Options configures a Keyring; the zero value of each field is its default.
type Options struct {
	// MaxAge is how long loaded keys are used before they are re-read (in
	// the background; the old keys keep serving meanwhile). Zero means
	// DefaultMaxAge (5m).
	MaxAge time.Duration
	// MinRefreshInterval bounds how often a delivery that matches no key,
	// or a failed load, can cause a re-read. Zero means
	// DefaultMinRefreshInterval (30s).
	MinRefreshInterval time.Duration
	// EmptyRetryInterval bounds how often a load is retried while no key
	// has ever been loaded. Zero means DefaultEmptyRetryInterval (2s).
	EmptyRetryInterval time.Duration
	// MaxVersions is the most ENABLED versions used, newest first. Zero
	// means DefaultMaxVersions (5).
	MaxVersions int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives problems with single versions (never their payload).
	// Default: discard.
	Logger *slog.Logger
}

// Keyring reads signing secrets from Secret Manager. It implements
// verify.Keyring and is safe for concurrent use.
type Keyring struct {
	client *secretmanager.Client
	name   string
	opts   Options

	mu          sync.Mutex
	keys        []verify.Secret
	versions    []string // names of the versions behind keys, same order
	loadedAt    time.Time
	lastAttempt time.Time
	lastErr     error
	loading     chan struct{} // non-nil while a load runs; closed when done
	generation  int           // incremented whenever the set of versions changes
	background  bool          // a re-read of stale keys runs in the background
	bg          sync.WaitGroup
}

// New returns a Keyring for name, a secret (projects/P/secrets/S) or a
// version (projects/P/secrets/S/versions/V). It does no I/O.
func New(client *secretmanager.Client, name string, opts Options) (*Keyring, error) {
	if !IsSecretName(name) {
		return nil, fmt.Errorf("secrets: %q is not a secret or secret version name", name)
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MinRefreshInterval <= 0 {
		opts.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if opts.EmptyRetryInterval <= 0 {
		opts.EmptyRetryInterval = DefaultEmptyRetryInterval
	}
	if opts.MaxVersions <= 0 {
		opts.MaxVersions = DefaultMaxVersions
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Keyring{client: client, name: name, opts: opts}, nil
}

// Secrets returns the accepted keys, newest first. Once the keys are older
// than MaxAge they keep being returned while a re-read runs in the
// background, so no delivery waits for Secret Manager once keys are held;
// with no keys yet, Secrets reads them itself.
func (k *Keyring) Secrets(ctx context.Context) ([]verify.Secret, error) {
	k.mu.Lock()
	now := k.opts.Now()
	if keys := k.keys; keys != nil {
		stale := now.Sub(k.loadedAt) >= k.opts.MaxAge
		recentFailure := k.lastErr != nil && now.Sub(k.lastAttempt) < k.opts.MinRefreshInterval
		if stale && !recentFailure && !k.background {
			k.background = true
			k.bg.Go(func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundReadTimeout)
				defer cancel()
				k.load(ctx)
				k.mu.Lock()
				k.background = false
				k.mu.Unlock()
			})
		}
		k.mu.Unlock()
		return keys, nil
	}
	recentFailure := k.lastErr != nil && now.Sub(k.lastAttempt) < k.opts.EmptyRetryInterval
	k.mu.Unlock()
	if recentFailure {
		return nil, k.unavailable()
	}
	if _, err := k.load(ctx); err != nil {
		return nil, k.unavailable()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		return nil, k.unavailableLocked()
	}
	return k.keys, nil
}

// backgroundReadTimeout bounds a re-read started because keys went stale.
const backgroundReadTimeout = 30 * time.Second

// Wait waits for a background re-read started by Secrets to finish; for
// tests and orderly shutdown.
func (k *Keyring) Wait() { k.bg.Wait() }

// Refresh re-reads the versions when the last read is older than
// MinRefreshInterval, and reports whether the set of keys changed. Within
// MinRefreshInterval it reads nothing and returns the last read's error, so that
// while Secret Manager is failing a delivery that matches no cached key is
// answered "unavailable" (and retried by the sender) rather than rejected:
// it may be signed with a version added during the outage.
func (k *Keyring) Refresh(ctx context.Context) (bool, error) {
	k.mu.Lock()
	recent := k.opts.Now().Sub(k.lastAttempt) < k.opts.MinRefreshInterval
	lastErr := k.lastErr
	k.mu.Unlock()
	if recent {
		return false, lastErr
	}
	return k.load(ctx)
}

// Versions returns the names of the versions whose keys are in use, newest
// first; useful to tell which version matched a delivery.
func (k *Keyring) Versions() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.versions)
}

func (k *Keyring) unavailable() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.unavailableLocked()
}

func (k *Keyring) unavailableLocked() error {
	if k.lastErr != nil {
		return fmt.Errorf("%w: %w", verify.ErrKeySetUnavailable, k.lastErr)
	}
	return verify.ErrKeySetUnavailable
}

// load reads the versions once, merging concurrent callers into one read.
func (k *Keyring) load(ctx context.Context) (changed bool, err error) {
	k.mu.Lock()
	if ch := k.loading; ch != nil {
		gen := k.generation
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.generation != gen, k.lastErr
	}
	ch := make(chan struct{})
	k.loading = ch
	k.mu.Unlock()

	keys, versions, err := k.read(ctx)

	k.mu.Lock()
	defer k.mu.Unlock()
	k.loading = nil
	close(ch)
	k.lastAttempt = k.opts.Now()
	k.lastErr = err
	if err != nil {
		return false, err
	}
	changed = !slices.Equal(versions, k.versions)
	if changed {
		k.generation++
	}
	k.keys, k.versions, k.loadedAt = keys, versions, k.lastAttempt
	return changed, nil
}

// read fetches the keys. The context bounds the whole read.
func (k *Keyring) read(ctx context.Context) ([]verify.Secret, []string, error) {
	names := []string{k.name}
	if isSecretName(k.name) {
		var err error
		if names, err = k.enabledVersions(ctx); err != nil {
			return nil, nil, err
		}
		if len(names) == 0 {
			return nil, nil, fmt.Errorf("secret %s has no enabled version", k.name)
		}
	}
	type result struct {
		keys []verify.Secret
		err  error
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			keys, err := k.access(ctx, n)
			results[i] = result{keys, err}
		})
	}
	wg.Wait()
	var keys []verify.Secret
	var versions []string
	var errs []error
	for i, r := range results {
		if r.err != nil {
			k.opts.Logger.Warn("secret version not usable", "version", names[i], "error", r.err.Error())
			errs = append(errs, r.err)
			continue
		}
		for _, s := range r.keys {
			keys = append(keys, s)
			versions = append(versions, names[i])
		}
	}
	if len(keys) == 0 && len(errs) == 0 {
		return nil, nil, fmt.Errorf("secret %s: no usable version", k.name)
	}
	if len(keys) == 0 {
		// One line (errors.Join would break it), every error still wrapped.
		return nil, nil, fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), anys(errs)...)
	}
	return keys, versions, nil
}

// enabledVersions lists the newest ENABLED versions of the secret.
func (k *Keyring) enabledVersions(ctx context.Context) ([]string, error) {
	it := k.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{
		Parent:   k.name,
		Filter:   "state:ENABLED",
		PageSize: int32(k.opts.MaxVersions),
	})
	type version struct {
		name    string
		created time.Time
		number  int
	}
	var vs []version
	// Secret Manager lists newest first; read a little past MaxVersions and
	// sort anyway, so the choice does not rest on the listing order alone.
	for len(vs) < 4*k.opts.MaxVersions {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", k.name, err)
		}
		if v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			continue
		}
		n, _ := strconv.Atoi(v.GetName()[strings.LastIndexByte(v.GetName(), '/')+1:])
		vs = append(vs, version{v.GetName(), v.GetCreateTime().AsTime(), n})
	}
	slices.SortStableFunc(vs, func(a, b version) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return b.number - a.number
	})
	names := make([]string, 0, k.opts.MaxVersions)
	for _, v := range vs[:min(len(vs), k.opts.MaxVersions)] {
		names = append(names, v.name)
	}
	return names, nil
}

// castagnoli is the CRC-32C table, built on the first read rather than at
// init.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// access reads one version and parses its payload: one or more whsec_
// secrets separated by white space.
func (k *Keyring) access(ctx context.Context, name string) ([]verify.Secret, error) {
	resp, err := k.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("access %s: %w", name, err)
	}
	data := resp.GetPayload().GetData()
	if sum := resp.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, castagnoli())) != *sum {
		return nil, fmt.Errorf("access %s: payload checksum mismatch", name)
	}
	return ParseList(string(data))
}

// ParseList parses white-space separated secrets ("whsec_…"), as found in a
// secret version or in a literal GEMINI_WEBHOOK_SECRET. Errors never quote
// the secrets.
func ParseList(s string) ([]verify.Secret, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, verify.ErrEmptySecret
	}
	keys := make([]verify.Secret, 0, len(fields))
	for i, f := range fields {
		key, err := verify.ParseSecret(f)
		if err != nil {
			return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(fields), err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// anys converts errs for a variadic fmt call.
func anys(errs []error) []any {
	out := make([]any, len(errs))
	for i, err := range errs {
		out[i] = err
	}
	return out
}
