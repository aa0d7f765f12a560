// Package verifytest provides helpers to exercise webhook verification: RSA
// signing keys that mint RS256 tokens (and deliberately wrong ones for
// negative tests), and a JWKS server on 127.0.0.1 that counts fetches and can
// be told to fail, serve garbage, slow down or rotate keys.
//
// It uses only the standard library and jwx, needs no *testing.T, and is meant
// for tests, the local development server and the load generator. Never use
// its keys in production.
package verifytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Key is a 2048-bit RSA signing key with a kid.
type Key struct {
	kid  string
	priv *rsa.PrivateKey
	pub  jwk.Key
}

// NewKey generates a 2048-bit RSA key named kid.
func NewKey(kid string) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	return KeyFromRSA(kid, priv)
}

// KeyFromRSA wraps an existing RSA private key, for example a smaller or
// fixed one in a negative test.
func KeyFromRSA(kid string, priv *rsa.PrivateKey) (*Key, error) {
	pub, err := jwk.FromRaw(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwk from RSA public key: %w", err)
	}
	for name, val := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pub.Set(name, val); err != nil {
			return nil, fmt.Errorf("set JWK %s: %w", name, err)
		}
	}
	return &Key{kid: kid, priv: priv, pub: pub}, nil
}

// MustKey is like NewKey but panics on error.
func MustKey(kid string) *Key {
	k, err := NewKey(kid)
	if err != nil {
		panic(err)
	}
	return k
}

// KID returns the key id.
func (k *Key) KID() string { return k.kid }

// Private returns the RSA private key.
func (k *Key) Private() *rsa.PrivateKey { return k.priv }

// Public returns the public key as a JWK with kid, alg RS256 and use sig.
func (k *Key) Public() jwk.Key { return k.pub }

// JWKS returns a JSON key set holding only this key's public half.
func (k *Key) JWKS() []byte { return JWKS(k) }

// JWKS returns a JSON key set holding the public halves of keys.
func JWKS(keys ...*Key) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		_ = set.AddKey(k.pub) // AddKey fails only for a key already present
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(fmt.Sprintf("verifytest: marshal JWKS: %v", err)) // cannot happen for RSA keys
	}
	return b
}

// Mint signs claims as an RS256 compact JWS whose header carries this key's kid.
func (k *Key) Mint(claims map[string]any) (string, error) {
	return MintWith("RS256", map[string]any{"kid": k.kid, "typ": "JWT"}, claims, k.priv)
}

// MustMint is like Mint but panics on error.
func (k *Key) MustMint(claims map[string]any) string {
	t, err := k.Mint(claims)
	if err != nil {
		panic(err)
	}
	return t
}

// MintWith builds a compact JWS with any alg and header members, for negative
// tests. headers are merged into the protected header after "alg" (so a
// headers["alg"] overrides the alg used in the header but not the signing
// method). signingKey depends on alg: *rsa.PrivateKey for RS256/RS384/RS512
// and PS256, []byte for HS256, *ecdsa.PrivateKey for ES256, nil for "none"
// (empty signature). Claims are marshalled with encoding/json.
func MintWith(alg string, headers, claims map[string]any, signingKey any) (string, error) {
	h := map[string]any{"alg": alg}
	maps.Copy(h, headers)
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("marshal header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	input := b64(hb) + "." + b64(cb)
	sig, err := signInput(alg, []byte(input), signingKey)
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func signInput(alg string, input []byte, key any) ([]byte, error) {
	hashes := map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512, "PS256": crypto.SHA256, "ES256": crypto.SHA256, "HS256": crypto.SHA256}
	if alg == "none" {
		return nil, nil
	}
	hf, ok := hashes[alg]
	if !ok {
		return nil, fmt.Errorf("mint: unsupported alg %q", alg)
	}
	hh := hf.New()
	hh.Write(input)
	digest := hh.Sum(nil)
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if alg == "PS256" {
			return rsa.SignPSS(rand.Reader, key, hf, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		if alg[:2] != "RS" {
			break
		}
		return rsa.SignPKCS1v15(nil, key, hf, digest)
	case *ecdsa.PrivateKey:
		if alg != "ES256" {
			break
		}
		r, s, err := ecdsa.Sign(rand.Reader, key, digest)
		if err != nil {
			return nil, fmt.Errorf("ecdsa sign: %w", err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
	case []byte:
		if alg != "HS256" {
			break
		}
		m := hmac.New(sha256.New, key)
		m.Write(input)
		return m.Sum(nil), nil
	}
	return nil, fmt.Errorf("mint: key %T does not fit alg %q", key, alg)
}

// Server serves a JWKS over HTTP on 127.0.0.1 and counts the fetches. Its
// behaviour can be changed at any time from any goroutine.
type Server struct {
	// URL is the JWKS URL.
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	jwks    []byte
	fetches int
	status  int
	garbage bool
	delay   time.Duration
	header  http.Header
}

// NewServer starts a JWKS server holding the public halves of keys.
func NewServer(keys ...*Key) *Server {
	s := &Server{jwks: JWKS(keys...), header: http.Header{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/.well-known/jwks.json"
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.fetches++
	body, status, garbage, delay := s.jwks, s.status, s.garbage, s.delay
	extra := s.header.Clone()
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	maps.Copy(w.Header(), extra)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if garbage {
		body = []byte(`{"keys": [{"kty": "RSA", "n": ` + "\x00garbage")
	}
	_, _ = w.Write(body)
}

// Fetches returns how many requests the server has received.
func (s *Server) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// SetKeys replaces the served key set (key rotation).
func (s *Server) SetKeys(keys ...*Key) { s.SetJWKS(JWKS(keys...)) }

// SetJWKS replaces the served document with raw bytes.
func (s *Server) SetJWKS(raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwks = append([]byte(nil), raw...)
}

// Fail makes the server answer every request with status; 0 restores normal
// service.
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Garbage makes the server answer 200 with a body that is not a JWKS.
func (s *Server) Garbage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garbage = on
}

// Delay makes the server wait d before answering; 0 removes the delay.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetHeader sets a response header, e.g. Cache-Control, on later answers.
func (s *Server) SetHeader(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.header.Set(name, value)
}

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.srv.Close() }
