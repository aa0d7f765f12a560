// Package secrets reads secrets from Secret Manager and keeps them fresh,
// so that a rotation is picked up without a redeploy: a Keyring supplies
// the HMAC signing secrets of static Gemini webhooks, a Value one secret's
// text (the Gemini API key).
//
// A Keyring names either a secret (every ENABLED version is an accepted key,
// newest first, a few at most) or one version; a Value names a version, or
// a secret for its latest version. Both follow one refresh policy, written
// once: what was read is cached for MaxAge, re-read in the background once
// stale (the old value serving meanwhile), and re-read on demand (a
// delivery that matches no key, Value.Invalidate) at most once per
// MinRefreshInterval: the same policy, under the same option names, as
// verify.RemoteKeySet for JWKS keys. When Secret Manager fails, what is
// already held keeps serving; with nothing held, Keyring.Secrets reports
// verify.ErrKeySetUnavailable and the function answers 503 so that Gemini
// retries. Close stops the background re-reads.
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

// Options configures a Keyring or a Value; the zero value of each field is
// its default.
type Options struct {
	// MaxAge is how long a read value is used before it is re-read (in the
	// background; the old value keeps serving meanwhile). Zero means
	// DefaultMaxAge (5m).
	MaxAge time.Duration
	// MinRefreshInterval bounds how often a delivery that matches no key,
	// a failed read, or Value.Invalidate can cause a re-read. Zero means
	// DefaultMinRefreshInterval (30s).
	MinRefreshInterval time.Duration
	// EmptyRetryInterval bounds how often a read is retried while no value
	// has ever been read. Zero means DefaultEmptyRetryInterval (2s).
	EmptyRetryInterval time.Duration
	// MaxVersions is the most ENABLED versions a Keyring uses, newest
	// first. Zero means DefaultMaxVersions (5). A Value reads one version.
	MaxVersions int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a Keyring's problems with single versions (never
	// their payload). Default: discard.
	Logger *slog.Logger
}

// withDefaults returns o with each zero field set to its default.
func (o Options) withDefaults() Options {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MinRefreshInterval <= 0 {
		o.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if o.EmptyRetryInterval <= 0 {
		o.EmptyRetryInterval = DefaultEmptyRetryInterval
	}
	if o.MaxVersions <= 0 {
		o.MaxVersions = DefaultMaxVersions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Keyring reads signing secrets from Secret Manager. It implements
// verify.Keyring and is safe for concurrent use. Close stops its
// background re-reads.
type Keyring struct {
	client *secretmanager.Client
	name   string
	opts   Options
	cache  *cache[keyList]
}

// keyList is what a Keyring reads: the keys, and the names of the versions
// behind them, same order.
type keyList struct {
	keys     []verify.Secret
	versions []string
}

// New returns a Keyring for name, a secret (projects/P/secrets/S) or a
// version (projects/P/secrets/S/versions/V). It does no I/O.
func New(client *secretmanager.Client, name string, opts Options) (*Keyring, error) {
	if !IsSecretName(name) {
		return nil, fmt.Errorf("secrets: %q is not a secret or secret version name", name)
	}
	k := &Keyring{client: client, name: name, opts: opts.withDefaults()}
	// The set of keys changed when the set of versions did.
	k.cache = newCache(k.opts, k.read, func(held, read keyList) bool { return slices.Equal(held.versions, read.versions) })
	return k, nil
}

// Secrets returns the accepted keys, newest first. Once the keys are older
// than MaxAge they keep being returned while a re-read runs in the
// background, so no delivery waits for Secret Manager once keys are held;
// with no keys yet, Secrets reads them itself.
func (k *Keyring) Secrets(ctx context.Context) ([]verify.Secret, error) {
	l, err := k.cache.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", verify.ErrKeySetUnavailable, err)
	}
	return l.keys, nil
}

// Wait waits for a background re-read started by Secrets to finish; for
// tests.
func (k *Keyring) Wait() { k.cache.wait() }

// Close stops the background re-reads: it cancels the one running, if any,
// and waits for it to end; none starts afterwards. The keys held keep
// serving. It returns nil, and may be called more than once.
func (k *Keyring) Close() error {
	k.cache.close()
	return nil
}

// Refresh re-reads the versions when the last read is older than
// MinRefreshInterval, and reports whether the set of keys changed. Within
// MinRefreshInterval it reads nothing and returns the last read's error, so that
// while Secret Manager is failing a delivery that matches no cached key is
// answered "unavailable" (and retried by the sender) rather than rejected:
// it may be signed with a version added during the outage.
func (k *Keyring) Refresh(ctx context.Context) (bool, error) {
	return k.cache.refresh(ctx)
}

// Versions returns the names of the versions whose keys are in use, newest
// first; useful to tell which version matched a delivery.
func (k *Keyring) Versions() []string {
	l, _ := k.cache.peek()
	return slices.Clone(l.versions)
}

// read fetches the keys. The context bounds the whole read.
func (k *Keyring) read(ctx context.Context) (keyList, error) {
	names := []string{k.name}
	if isSecretName(k.name) {
		var err error
		if names, err = k.enabledVersions(ctx); err != nil {
			return keyList{}, err
		}
		if len(names) == 0 {
			return keyList{}, fmt.Errorf("secret %s has no enabled version", k.name)
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
		return keyList{}, fmt.Errorf("secret %s: no usable version", k.name)
	}
	if len(keys) == 0 {
		// One line (errors.Join would break it), every error still wrapped.
		return keyList{}, fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), anys(errs)...)
	}
	return keyList{keys, versions}, nil
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
	data, err := accessPayload(ctx, k.client, name)
	if err != nil {
		return nil, err
	}
	return ParseList(string(data))
}

// accessPayload reads the payload of version name and checks it against
// its CRC-32C, when the service sent one. Errors name the version, never
// the payload.
func accessPayload(ctx context.Context, client *secretmanager.Client, name string) ([]byte, error) {
	resp, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("access %s: %w", name, err)
	}
	data := resp.GetPayload().GetData()
	if sum := resp.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, castagnoli())) != *sum {
		return nil, fmt.Errorf("access %s: payload checksum mismatch", name)
	}
	return data, nil
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
