package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
)

// ErrEmptyValue reports a secret version whose payload is empty or white
// space only: a Value never serves an empty text.
var ErrEmptyValue = errors.New("secrets: empty secret version")

// Value is the text of one secret version, such as an API key, read from
// Secret Manager and kept fresh under the package's refresh policy: it is
// served from the cache, re-read in the background once older than MaxAge
// or after Invalidate, and read by Get itself only while none is held. It
// is safe for concurrent use. Close stops its background re-reads.
type Value struct {
	client *secretmanager.Client
	name   string // a version name
	cache  *cache[string]
}

// NewValue returns a Value for name: a version
// (projects/P/secrets/S/versions/V), or a secret (projects/P/secrets/S),
// which means its latest version, re-resolved on every read. Of opts,
// MaxVersions and Logger are not used. It does no I/O.
func NewValue(client *secretmanager.Client, name string, opts Options) (*Value, error) {
	switch {
	case isSecretName(name):
		name += "/versions/latest"
	case !isVersionName(name):
		return nil, fmt.Errorf("secrets: %q is not a secret or secret version name", name)
	}
	v := &Value{client: client, name: name}
	v.cache = newCache(opts.withDefaults(), v.read, func(held, read string) bool { return held == read })
	return v, nil
}

// Get returns the text of the version, without surrounding white space.
// Once held, it is returned at once, even while a re-read runs or when the
// last one failed. With none held, Get reads it, at most once per
// EmptyRetryInterval while reads fail, and returns the error of the last
// read otherwise. Errors name the version, never its text.
func (v *Value) Get(ctx context.Context) (string, error) {
	return v.cache.get(ctx)
}

// Invalidate reports that the text held no longer works (an API refused
// the key: a rotation may have replaced it). The next Get re-reads it in
// the background, no sooner than MinRefreshInterval after the last read,
// and serves the text held until a read succeeds.
func (v *Value) Invalidate() { v.cache.invalidate() }

// Close stops the background re-reads: it cancels the one running, if any,
// and waits for it to end; none starts afterwards. The text held keeps
// serving. It returns nil, and may be called more than once.
func (v *Value) Close() error {
	v.cache.close()
	return nil
}

// read reads the version once.
func (v *Value) read(ctx context.Context) (string, error) {
	data, err := accessPayload(ctx, v.client, v.name)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("access %s: %w", v.name, ErrEmptyValue)
	}
	return s, nil
}
