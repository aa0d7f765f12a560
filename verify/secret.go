package verify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SecretPrefix is the prefix Standard Webhooks puts before a base64 HMAC key.
const SecretPrefix = "whsec_"

// Secret is a decoded HMAC-SHA256 key. The zero Secret holds no key and never
// verifies anything. A Secret is safe for concurrent use and cheap to copy.
// Printing a Secret never reveals the key.
type Secret struct {
	k *secretKey
}

type secretKey struct {
	key  []byte
	pool sync.Pool // of hash.Hash (keyed HMAC-SHA256), reused across deliveries
}

func newSecretKey(key []byte) *secretKey {
	sk := &secretKey{key: key}
	sk.pool.New = func() any { return hmac.New(sha256.New, sk.key) }
	return sk
}

// ParseSecret decodes a secret given as "whsec_<base64>" or as bare base64.
// Standard and URL-safe alphabets are accepted, with or without padding.
// It returns an error wrapping [ErrEmptySecret] for an empty key and one
// wrapping [ErrInvalidSecret] for text that is not base64.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix)
	if s == "" {
		return Secret{}, ErrEmptySecret
	}
	trimmed := strings.TrimRight(s, "=")
	var key []byte
	var err error
	if strings.ContainsAny(trimmed, "-_") {
		key, err = base64.RawURLEncoding.DecodeString(trimmed)
	} else {
		key, err = base64.RawStdEncoding.DecodeString(trimmed)
	}
	if err != nil {
		// The base64 error names an offset only, never the input.
		return Secret{}, fmt.Errorf("%w: %w", ErrInvalidSecret, err)
	}
	return NewSecret(key)
}

// MustParseSecret is like [ParseSecret] but panics on error. It is meant for
// tests and examples.
func MustParseSecret(s string) Secret {
	sec, err := ParseSecret(s)
	if err != nil {
		panic(err)
	}
	return sec
}

// NewSecret returns a Secret holding a copy of the raw key bytes. It returns
// [ErrEmptySecret] for an empty key.
func NewSecret(raw []byte) (Secret, error) {
	if len(raw) == 0 {
		return Secret{}, ErrEmptySecret
	}
	return Secret{k: newSecretKey(append([]byte(nil), raw...))}, nil
}

// GenerateSecret returns a fresh secret: "whsec_" followed by the standard
// base64 of 32 random bytes.
func GenerateSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return s.k == nil || len(s.k.key) == 0 }

// String returns a redacted placeholder; it never reveals the key.
func (s Secret) String() string { return SecretPrefix + "…redacted" }

// GoString returns the same redacted placeholder as String, so %#v is safe too.
func (s Secret) GoString() string { return "verify.Secret{" + s.String() + "}" }

// Equal reports whether s and o hold the same key, in constant time.
func (s Secret) Equal(o Secret) bool {
	if s.IsZero() || o.IsZero() {
		return s.IsZero() && o.IsZero()
	}
	return hmac.Equal(s.k.key, o.k.key)
}

// getHash returns a reset HMAC-SHA256 keyed with s; give it back with putHash.
func (s Secret) getHash() hash.Hash {
	h := s.k.pool.Get().(hash.Hash)
	h.Reset()
	return h
}

func (s Secret) putHash(h hash.Hash) { s.k.pool.Put(h) }

// Sign returns the Standard Webhooks v1 signature entry "v1,<base64>" for the
// given id, timestamp (truncated to Unix seconds) and body. It panics if s is
// the zero Secret.
func Sign(s Secret, id string, timestamp time.Time, body []byte) string {
	if s.IsZero() {
		panic("verify: Sign with the zero Secret")
	}
	h := s.getHash()
	defer s.putHash(h)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, timestamp.Unix(), 10))
	h.Write([]byte{'.'})
	h.Write(body)
	var sum [sha256.Size]byte
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// SignHeaders returns an http.Header with webhook-id, webhook-timestamp and a
// webhook-signature computed by [Sign]. It is handy for tools and tests.
func SignHeaders(s Secret, id string, timestamp time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, Sign(s, id, timestamp, body))
	return h
}
