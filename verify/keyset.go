package verify

import (
	"context"
	"crypto/rsa"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// MinRSABits is the smallest RSA modulus accepted for RS256 verification.
const MinRSABits = 2048

// KeySet supplies public keys for JWT verification, looked up by kid.
// Implementations must be safe for concurrent use.
//
// Key returns the JWK for kid as-is; the Verifier, not the key set, decides
// whether the key is usable: it must be an RSA key (public or private, whose
// public half is used) of at least [MinRSABits] bits whose "use", when set, is
// "sig" and whose "alg", when set, is "RS256". Any other key is rejected with
// [ErrUnsuitableKey].
type KeySet interface {
	// Key returns the key for kid. It returns an error wrapping
	// ErrUnknownKey when the set (after any rate-limited refresh) has no
	// such kid, and an error wrapping ErrKeySetUnavailable when no key
	// material can be had at all, or when the kid is not cached and the
	// set could not be re-read to look for it. The Verifier treats any
	// other error as ErrKeySetUnavailable.
	Key(ctx context.Context, kid string) (jwk.Key, error)
}

// preparedKeySet is implemented by this package's key sets: they convert and
// check each key once when it is loaded instead of on every delivery.
type preparedKeySet interface {
	preparedKey(ctx context.Context, kid string) (*preparedKey, error)
}

// preparedKey is a JWK with its RSA public key extracted and checked once.
type preparedKey struct {
	key jwk.Key
	pub *rsa.PublicKey // nil when the key is unsuitable
	bad string         // why it is unsuitable
}

// prepareKey extracts the RSA public key from k and checks it is usable for
// RS256 signatures.
func prepareKey(k jwk.Key) *preparedKey {
	p := &preparedKey{key: k}
	if k == nil {
		p.bad = "nil key"
		return p
	}
	if k.KeyType() != jwa.RSA {
		p.bad = "key type " + string(k.KeyType()) + " is not RSA"
		return p
	}
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		p.bad = "key use is not sig"
		return p
	}
	if a := k.Algorithm(); a != nil && a.String() != "" && a.String() != jwa.RS256.String() {
		p.bad = "key alg " + a.String() + " is not RS256"
		return p
	}
	raw, err := jwk.PublicRawKeyOf(k)
	if err != nil {
		p.bad = "cannot extract public key"
		return p
	}
	pub, ok := raw.(*rsa.PublicKey)
	if !ok || pub.N == nil {
		p.bad = "not an RSA public key"
		return p
	}
	if pub.N.BitLen() < MinRSABits {
		p.bad = fmt.Sprintf("RSA key of %d bits is shorter than %d", pub.N.BitLen(), MinRSABits)
		return p
	}
	if pub.E < 3 || pub.E%2 == 0 {
		p.bad = "RSA public exponent is invalid"
		return p
	}
	p.pub = pub
	return p
}

// StaticKeySet is a fixed set of keys, for tests and for pinned keys. It never
// refreshes; an unknown kid yields [ErrUnknownKey].
type StaticKeySet struct {
	keys map[string]*preparedKey
}

// NewStaticKeySet returns a key set holding keys. Keys without a kid cannot
// be looked up and are left out; when several keys share a kid the first wins.
func NewStaticKeySet(keys ...jwk.Key) *StaticKeySet {
	return &StaticKeySet{keys: indexKeys(keys)}
}

// StaticKeySetFromSet returns a key set holding the keys of set.
func StaticKeySetFromSet(set jwk.Set) *StaticKeySet {
	if set == nil {
		return NewStaticKeySet()
	}
	keys := make([]jwk.Key, 0, set.Len())
	for i := range set.Len() {
		if k, ok := set.Key(i); ok {
			keys = append(keys, k)
		}
	}
	return NewStaticKeySet(keys...)
}

// ParseStaticKeySet parses a JWKS document (or a single JWK) into a key set.
func ParseStaticKeySet(jwks []byte) (*StaticKeySet, error) {
	set, err := jwk.Parse(jwks)
	if err != nil {
		return nil, fmt.Errorf("parse key set: %w", err)
	}
	return StaticKeySetFromSet(set), nil
}

func indexKeys(keys []jwk.Key) map[string]*preparedKey {
	m := make(map[string]*preparedKey, len(keys))
	for _, k := range keys {
		if k == nil || k.KeyID() == "" {
			continue
		}
		if _, dup := m[k.KeyID()]; dup {
			continue
		}
		m[k.KeyID()] = prepareKey(k)
	}
	return m
}

// Len returns the number of keys held.
func (s *StaticKeySet) Len() int { return len(s.keys) }

// Key returns the key for kid or an error wrapping [ErrUnknownKey].
func (s *StaticKeySet) Key(ctx context.Context, kid string) (jwk.Key, error) {
	p, err := s.preparedKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	return p.key, nil
}

func (s *StaticKeySet) preparedKey(_ context.Context, kid string) (*preparedKey, error) {
	if p, ok := s.keys[kid]; ok {
		return p, nil
	}
	return nil, ErrUnknownKey
}
