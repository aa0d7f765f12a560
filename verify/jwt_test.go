package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

type testKeys struct {
	k1, k2, k3 *verifytest.Key
	small      *verifytest.Key // 1024-bit
	ec         *ecdsa.PrivateKey
}

var keysOnce = sync.OnceValue(func() testKeys {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	sk, err := verifytest.KeyFromRSA("small", small)
	if err != nil {
		panic(err)
	}
	return testKeys{
		k1: verifytest.MustKey("k1"), k2: verifytest.MustKey("k2"), k3: verifytest.MustKey("k3"),
		small: sk, ec: ec,
	}
})

// jwtNow is the fixed clock of the JWT tests.
var jwtNow = time.Unix(1_780_000_000, 0)

func validClaims() map[string]any {
	return map[string]any{
		"iss": issuerURL,
		"aud": hookURL,
		"sub": "batches/123",
		"iat": jwtNow.Unix(),
		"exp": jwtNow.Add(10 * time.Minute).Unix(),
		"jti": "evt-1",
	}
}

func with(claims map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(claims, kv[i].(string))
		} else {
			claims[kv[i].(string)] = kv[i+1]
		}
	}
	return claims
}

func jwtRequest(token string) verify.Request {
	h := http.Header{}
	h.Set(verify.HeaderSignature, token)
	return verify.Request{Header: h, Body: []byte(`{"type":"batch.succeeded"}`)}
}

func newJWTVerifier(t *testing.T, opts verify.Options) *verify.Verifier {
	t.Helper()
	if opts.KeySet == nil {
		ks := keysOnce()
		ecJWK, err := jwk.FromRaw(&ks.ec.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		_ = ecJWK.Set(jwk.KeyIDKey, "ec")
		encKey, _ := jwk.FromRaw(&ks.k3.Private().PublicKey)
		_ = encKey.Set(jwk.KeyIDKey, "enc")
		_ = encKey.Set(jwk.KeyUsageKey, "enc")
		ps256Key, _ := jwk.FromRaw(&ks.k3.Private().PublicKey)
		_ = ps256Key.Set(jwk.KeyIDKey, "ps")
		_ = ps256Key.Set(jwk.AlgorithmKey, jwa.PS256)
		privKey, _ := jwk.FromRaw(ks.k2.Private())
		_ = privKey.Set(jwk.KeyIDKey, "priv")
		opts.KeySet = verify.NewStaticKeySet(ks.k1.Public(), ks.small.Public(), ecJWK, encKey, ps256Key, privKey)
	}
	if opts.Now == nil {
		opts.Now = fixedClock(jwtNow)
	}
	if opts.Audiences == nil {
		opts.Audiences = []string{hookURL}
	}
	v, err := verify.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWTValid(t *testing.T) {
	k := keysOnce().k1
	v := newJWTVerifier(t, verify.Options{})
	token := k.MustMint(validClaims())
	d, err := v.Verify(context.Background(), jwtRequest(token))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if d.Scheme != verify.SchemeJWT || d.KeyID != "k1" || d.ID != "evt-1" || !d.Timestamp.IsZero() || d.Claims["sub"] != "batches/123" {
		t.Fatalf("Verify = %+v", d)
	}

	// webhook-id and webhook-timestamp, when present, are used and checked.
	r := jwtRequest(token)
	r.Header.Set(verify.HeaderID, "msg_1")
	r.Header.Set(verify.HeaderTimestamp, strconv.FormatInt(jwtNow.Unix(), 10))
	if d, err := v.Verify(context.Background(), r); err != nil || d.ID != "msg_1" || !d.Timestamp.Equal(jwtNow) {
		t.Fatalf("with headers: %+v, %v", d, err)
	}

	// Without webhook-id or jti, the id is derived from the token.
	noJTI := k.MustMint(with(validClaims(), "jti", nil))
	d1, err1 := v.Verify(context.Background(), jwtRequest(noJTI))
	d2, err2 := v.Verify(context.Background(), jwtRequest(noJTI))
	if err1 != nil || err2 != nil || !strings.HasPrefix(d1.ID, "jwt-") || len(d1.ID) != 36 || d1.ID != d2.ID {
		t.Fatalf("derived ids %q %q (%v %v)", d1.ID, d2.ID, err1, err2)
	}
	long := k.MustMint(with(validClaims(), "jti", strings.Repeat("j", verify.DefaultMaxIDLength+1)))
	if d, err := v.Verify(context.Background(), jwtRequest(long)); err != nil || !strings.HasPrefix(d.ID, "jwt-") {
		t.Fatalf("over-long jti: %+v, %v", d, err)
	}

	// A private JWK serves its public half.
	priv, _ := verifytest.MintWith("RS256", map[string]any{"kid": "priv"}, validClaims(), keysOnce().k2.Private())
	if _, err := v.Verify(context.Background(), jwtRequest(priv)); err != nil {
		t.Fatalf("private JWK: %v", err)
	}
}

func TestJWTRejections(t *testing.T) {
	ks := keysOnce()
	k := ks.k1
	mint := func(claims map[string]any) string { return k.MustMint(claims) }
	mintWith := func(alg string, hdr map[string]any, key any) string {
		tok, err := verifytest.MintWith(alg, hdr, validClaims(), key)
		if err != nil {
			t.Fatalf("MintWith(%s): %v", alg, err)
		}
		return tok
	}
	kid := map[string]any{"kid": "k1"}
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.Private().PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pubJWKS := k.JWKS()
	valid := mint(validClaims())
	parts := strings.Split(valid, ".")
	tamperedClaims := validClaims()
	tamperedClaims["sub"] = "batches/999"
	tamperedPayload, _ := verifytest.MintWith("none", nil, tamperedClaims, nil)
	b64 := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name   string
		token  string
		opts   verify.Options
		req    func(r *verify.Request)
		want   error
		reason error
	}{
		{"alg none", mintWith("none", kid, nil), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg None spelled", strings.Join([]string{b64([]byte(`{"alg":"None","kid":"k1"}`)), parts[1], ""}, "."), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg HS256", mintWith("HS256", kid, []byte("secret")), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg confusion HS256 with PEM public key", mintWith("HS256", kid, pubPEM), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg confusion HS256 with DER public key", mintWith("HS256", kid, pubDER), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg confusion HS256 with JWKS bytes", mintWith("HS256", kid, pubJWKS), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg confusion HS256 with modulus", mintWith("HS256", kid, k.Private().N.Bytes()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg ES256", mintWith("ES256", map[string]any{"kid": "ec"}, ks.ec), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg PS256", mintWith("PS256", kid, k.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"alg RS512", mintWith("RS512", kid, k.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"header alg RS256 over a PS256 signature", mintWith("PS256", map[string]any{"kid": "k1", "alg": "RS256"}, k.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"crit header", mintWith("RS256", map[string]any{"kid": "k1", "crit": []string{"b64"}, "b64": false}, k.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsupportedAlgorithm},
		{"RS256 under an EC key", mintWith("RS256", map[string]any{"kid": "ec"}, k.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsuitableKey},
		{"RS256 under a 1024-bit key", mintWith("RS256", map[string]any{"kid": "small"}, ks.small.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsuitableKey},
		{"RS256 under an encryption key", mintWith("RS256", map[string]any{"kid": "enc"}, ks.k3.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsuitableKey},
		{"RS256 under a PS256 key", mintWith("RS256", map[string]any{"kid": "ps"}, ks.k3.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnsuitableKey},
		{"unknown kid", ks.k2.MustMint(validClaims()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnknownKey},
		{"missing kid", mintWith("RS256", nil, k.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"kid of another key", mintWith("RS256", kid, ks.k2.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"jku header ignored", mintWith("RS256", map[string]any{"kid": "zz", "jku": "http://127.0.0.1:1/jwks"}, ks.k2.Private()), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrUnknownKey},
		{"expired", mint(with(validClaims(), "exp", jwtNow.Add(-time.Minute).Unix())), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenExpired},
		{"expired at leeway", mint(with(validClaims(), "exp", jwtNow.Add(-30*time.Second).Unix())), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenExpired},
		{"exp missing", mint(with(validClaims(), "exp", nil)), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenExpired},
		{"exp a string", mint(with(validClaims(), "exp", "tomorrow")), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"exp huge", mint(with(validClaims(), "exp", 1e300)), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"nbf in future", mint(with(validClaims(), "nbf", jwtNow.Add(time.Minute).Unix())), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenNotYetValid},
		{"nbf malformed", mint(with(validClaims(), "nbf", true)), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"iat in future", mint(with(validClaims(), "iat", jwtNow.Add(time.Minute).Unix())), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenNotYetValid},
		{"iat malformed", mint(with(validClaims(), "iat", "now")), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"iat beyond custom leeway", mint(with(validClaims(), "iat", jwtNow.Add(6*time.Second).Unix())), verify.Options{Leeway: 5 * time.Second}, nil, verify.ErrInvalidToken, verify.ErrTokenNotYetValid},
		{"wrong aud", mint(with(validClaims(), "aud", "https://evil.example/")), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrAudienceMismatch},
		{"aud missing", mint(with(validClaims(), "aud", nil)), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrAudienceMismatch},
		{"aud array without match", mint(with(validClaims(), "aud", []any{"a", 7, "b"})), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrAudienceMismatch},
		{"aud of another endpoint", mint(validClaims()), verify.Options{Audiences: []string{"client-id"}}, nil, verify.ErrInvalidToken, verify.ErrAudienceMismatch},
		{"wrong iss", mint(with(validClaims(), "iss", "https://evil.example")), verify.Options{Issuer: issuerURL}, nil, verify.ErrInvalidToken, verify.ErrIssuerMismatch},
		{"iss missing", mint(with(validClaims(), "iss", nil)), verify.Options{Issuer: issuerURL}, nil, verify.ErrInvalidToken, verify.ErrIssuerMismatch},
		{"tampered payload", parts[0] + "." + strings.Split(tamperedPayload, ".")[1] + "." + parts[2], verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"tampered header", b64([]byte(`{"alg":"RS256","kid":"k1","x":1}`)) + "." + parts[1] + "." + parts[2], verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(mint(with(validClaims(), "jti", "x")), ".")[2], verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"signature truncated", valid[:len(valid)-4], verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"signature trailing bits changed", valid[:len(valid)-1] + flipTrailing(valid[len(valid)-1]), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"signature empty", parts[0] + "." + parts[1] + ".", verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrBadSignature},
		{"garbage header segment", "Zm9v." + parts[1] + "." + parts[2], verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"header not base64", "a." + parts[1] + "." + parts[2], verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"garbage payload segment", mintRaw(t, k, "Zm9v"), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"payload not base64", mintRaw(t, k, "a"), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"payload JSON array", mintRaw(t, k, b64([]byte(`[1,2]`))), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"payload JSON null", mintRaw(t, k, b64([]byte(`null`))), verify.Options{}, nil, verify.ErrInvalidToken, verify.ErrTokenMalformed},
		{"two segments", parts[0] + "." + parts[1], verify.Options{}, nil, verify.ErrMalformedHeader, nil},
		{"four segments", valid + "." + parts[2], verify.Options{}, nil, verify.ErrMalformedHeader, nil},
		{"oversized token", mint(with(validClaims(), "pad", strings.Repeat("x", verify.MaxSignatureHeaderLength))), verify.Options{}, nil, verify.ErrMalformedHeader, nil},
		{"bad webhook-id", valid, verify.Options{}, func(r *verify.Request) { r.Header.Set(verify.HeaderID, "a\x01b") }, verify.ErrMalformedHeader, nil},
		{"repeated webhook-id", valid, verify.Options{}, func(r *verify.Request) { r.Header.Add(verify.HeaderID, "a"); r.Header.Add(verify.HeaderID, "a") }, verify.ErrMalformedHeader, nil},
		{"bad webhook-timestamp", valid, verify.Options{}, func(r *verify.Request) { r.Header.Set(verify.HeaderTimestamp, "soon") }, verify.ErrMalformedHeader, nil},
		{"stale webhook-timestamp", valid, verify.Options{}, func(r *verify.Request) {
			r.Header.Set(verify.HeaderTimestamp, strconv.FormatInt(jwtNow.Add(-5*time.Minute-time.Second).Unix(), 10))
		}, verify.ErrTimestampTooOld, nil},
		{"future webhook-timestamp", valid, verify.Options{}, func(r *verify.Request) {
			r.Header.Set(verify.HeaderTimestamp, strconv.FormatInt(jwtNow.Add(5*time.Minute+time.Second).Unix(), 10))
		}, verify.ErrTimestampTooNew, nil},
		{"JWT scheme disabled", valid, verify.Options{KeySet: nil, Keyring: verify.StaticKeyring{verify.MustParseSecret(kaSecret)}}, nil, verify.ErrSchemeDisabled, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			var v *verify.Verifier
			if opts.Keyring != nil {
				var err error
				if v, err = verify.New(opts); err != nil {
					t.Fatal(err)
				}
			} else {
				v = newJWTVerifier(t, opts)
			}
			r := jwtRequest(tc.token)
			if tc.req != nil {
				tc.req(&r)
			}
			d, err := v.Verify(context.Background(), r)
			if err == nil {
				t.Fatalf("Verify accepted: %+v", d)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if tc.reason != nil && !errors.Is(err, tc.reason) {
				t.Fatalf("Verify = %v, want reason %v", err, tc.reason)
			}
			assertOneSentinel(t, err)
			if strings.Contains(err.Error(), parts[2]) || strings.Contains(err.Error(), parts[1]) {
				t.Fatalf("error %q leaks the token", err)
			}
		})
	}
}

// flipTrailing changes only the unused low bits of a final base64url digit
// of a 256-byte signature (342 digits, 4 spare bits).
func flipTrailing(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^0x01])
}

// mintRaw signs an arbitrary payload segment with k so that only the payload
// decoding can fail.
func mintRaw(t *testing.T, k *verifytest.Key, payloadSeg string) string {
	t.Helper()
	tok, err := verifytest.MintWith("RS256", map[string]any{"kid": k.KID()}, nil, k.Private())
	if err != nil {
		t.Fatal(err)
	}
	hdr := strings.Split(tok, ".")[0]
	input := hdr + "." + payloadSeg
	sig := signRS256(t, k.Private(), input)
	return input + "." + sig
}

func TestJWTLeewayAndAudiences(t *testing.T) {
	k := keysOnce().k1
	tests := []struct {
		name   string
		claims map[string]any
		opts   verify.Options
	}{
		{"exp within leeway", with(validClaims(), "exp", jwtNow.Add(-29*time.Second).Unix()), verify.Options{}},
		{"nbf within leeway", with(validClaims(), "nbf", jwtNow.Add(30*time.Second).Unix()), verify.Options{}},
		{"iat within leeway", with(validClaims(), "iat", jwtNow.Add(30*time.Second).Unix()), verify.Options{}},
		{"fractional dates", with(validClaims(), "iat", float64(jwtNow.Unix())+0.5, "exp", float64(jwtNow.Unix())+60.25), verify.Options{}},
		{"aud array containing the URL", with(validClaims(), "aud", []any{"x", hookURL}), verify.Options{}},
		{"aud among configured audiences", with(validClaims(), "aud", "client-id"), verify.Options{Audiences: []string{"", "other", "client-id"}}},
		{"issuer unset, iss not checked", with(validClaims(), "iss", "https://anyone.example"), verify.Options{}},
		{"issuer set and matching", validClaims(), verify.Options{Issuer: issuerURL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newJWTVerifier(t, tc.opts)
			r := jwtRequest(k.MustMint(tc.claims))
			if _, err := v.Verify(context.Background(), r); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestHMACSchemeDisabled(t *testing.T) {
	v := newJWTVerifier(t, verify.Options{})
	h := verify.SignHeaders(verify.MustParseSecret(kaSecret), kaID, jwtNow, []byte(kaBody))
	_, err := v.Verify(context.Background(), verify.Request{Header: h, Body: []byte(kaBody)})
	if !errors.Is(err, verify.ErrSchemeDisabled) {
		t.Fatalf("HMAC delivery to a JWT-only verifier: %v", err)
	}
}

// erringKeySet is a third-party KeySet returning fixed answers.
type erringKeySet struct {
	key jwk.Key
	err error
}

func (e erringKeySet) Key(context.Context, string) (jwk.Key, error) { return e.key, e.err }

func TestJWTForeignKeySet(t *testing.T) {
	k := keysOnce().k1
	token := k.MustMint(validClaims())
	ecKey, _ := jwk.FromRaw(&keysOnce().ec.PublicKey)
	tests := []struct {
		name   string
		ks     verify.KeySet
		want   error
		reason error
	}{
		{"good key", erringKeySet{key: k.Public()}, nil, nil},
		{"nil key", erringKeySet{}, verify.ErrInvalidToken, verify.ErrUnsuitableKey},
		{"EC key", erringKeySet{key: ecKey}, verify.ErrInvalidToken, verify.ErrUnsuitableKey},
		{"unknown", erringKeySet{err: verify.ErrUnknownKey}, verify.ErrInvalidToken, verify.ErrUnknownKey},
		{"unavailable", erringKeySet{err: verify.ErrKeySetUnavailable}, verify.ErrKeySetUnavailable, nil},
		{"other error", erringKeySet{err: errors.New("boom")}, verify.ErrKeySetUnavailable, nil},
		{"set from JWKS", mustParseStatic(t, k.JWKS()), nil, nil},
		{"empty static set", verify.StaticKeySetFromSet(nil), verify.ErrInvalidToken, verify.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newJWTVerifier(t, verify.Options{KeySet: tc.ks})
			_, err := v.Verify(context.Background(), jwtRequest(token))
			if (tc.want == nil) != (err == nil) || !errors.Is(err, tc.want) || (tc.reason != nil && !errors.Is(err, tc.reason)) {
				t.Fatalf("Verify = %v, want %v / %v", err, tc.want, tc.reason)
			}
			if err != nil {
				assertOneSentinel(t, err)
			}
		})
	}
}

func mustParseStatic(t *testing.T, jwks []byte) *verify.StaticKeySet {
	t.Helper()
	s, err := verify.ParseStaticKeySet(jwks)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStaticKeySet(t *testing.T) {
	ks := keysOnce()
	noKID, _ := jwk.FromRaw(&ks.k2.Private().PublicKey)
	dup, _ := jwk.FromRaw(&ks.k2.Private().PublicKey)
	_ = dup.Set(jwk.KeyIDKey, "k1")
	s := verify.NewStaticKeySet(ks.k1.Public(), noKID, dup, nil)
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
	got, err := s.Key(context.Background(), "k1")
	if err != nil || !jwk.Equal(got, ks.k1.Public()) {
		t.Fatalf("Key(k1) = %v, %v; want the first key", got, err)
	}
	if _, err := s.Key(context.Background(), ""); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Key(\"\") = %v", err)
	}
	if _, err := verify.ParseStaticKeySet([]byte("not json")); err == nil {
		t.Fatal("ParseStaticKeySet(garbage) succeeded")
	}
}

// TestIdempotencyKey checks that a delivery's key comes from what its
// signature covers: a token keeps its key whatever webhook-id and body come
// with it, tokens differ by iss and jti (or by their bytes without jti),
// and HMAC and JWT keys live in separate namespaces.
func TestIdempotencyKey(t *testing.T) {
	k := keysOnce().k1
	v := newJWTVerifier(t, verify.Options{Keyring: verify.StaticKeyring{verify.MustParseSecret(kaSecret)}})
	key := func(r verify.Request) string {
		t.Helper()
		d, err := v.Verify(context.Background(), r)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return d.IdempotencyKey()
	}
	token := k.MustMint(validClaims())
	base := key(jwtRequest(token))
	if want := verify.KeyPrefixJWT + strconv.Itoa(len(issuerURL)) + ":" + issuerURL + "evt-1"; base != want {
		t.Fatalf("key %q, want %q", base, want)
	}
	for i := range 5 {
		r := jwtRequest(token)
		r.Header.Set(verify.HeaderID, fmt.Sprintf("msg_replay_%d", i))
		r.Body = []byte(fmt.Sprintf(`{"type":"batch.failed","n":%d}`, i))
		if got := key(r); got != base {
			t.Fatalf("replay %d: key %q, want %q", i, got, base)
		}
	}
	// iss and jti are kept apart: ("ab", "c") and ("a", "bc") differ.
	k1 := key(jwtRequest(k.MustMint(with(validClaims(), "iss", "ab", "jti", "c"))))
	k2 := key(jwtRequest(k.MustMint(with(validClaims(), "iss", "a", "jti", "bc"))))
	if k1 == k2 {
		t.Fatalf("iss/jti pairs share key %q", k1)
	}
	// Without jti: the SHA-256 of the token, different per token.
	noJTI := k.MustMint(with(validClaims(), "jti", nil))
	sum := sha256.Sum256([]byte(noJTI))
	if got, want := key(jwtRequest(noJTI)), verify.KeyPrefixJWT+"sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("key without jti %q, want %q", got, want)
	}
	if a, b := key(jwtRequest(noJTI)), key(jwtRequest(k.MustMint(with(validClaims(), "jti", nil, "exp", jwtNow.Add(time.Hour).Unix())))); a == b {
		t.Fatalf("two tokens without jti share key %q", a)
	}
	// HMAC: the webhook-id, in its own namespace, even when it spells a JWT key.
	h := verify.SignHeaders(verify.MustParseSecret(kaSecret), base, jwtNow, []byte(kaBody))
	if got := key(verify.Request{Header: h, Body: []byte(kaBody)}); got != verify.KeyPrefixHMAC+base || got == base {
		t.Fatalf("HMAC key %q", got)
	}
	if (verify.Delivery{}).IdempotencyKey() != "" {
		t.Fatal("zero Delivery has a key")
	}
}

// TestJWTStrictSyntax refuses tokens with two readings: a member named
// twice in the JOSE header or the claims (at any depth, also through
// escapes), or alg, kid or crit spelled in another case.
func TestJWTStrictSyntax(t *testing.T) {
	k := keysOnce().k1
	v := newJWTVerifier(t, verify.Options{})
	claims := `{"iss":"` + issuerURL + `","aud":"` + hookURL + `","iat":` + strconv.FormatInt(jwtNow.Unix(), 10) +
		`,"exp":` + strconv.FormatInt(jwtNow.Add(time.Minute).Unix(), 10)
	okHeader := `{"alg":"RS256","kid":"k1","typ":"JWT"}`
	tests := []struct {
		name           string
		header, claims string
		ok             bool
	}{
		{"control: strict JSON verifies", okHeader, claims + `,"jti":"x","n":{"a":[{"b":1},{"b":2}]}}`, true},
		{"control: other header member in any case", `{"alg":"RS256","kid":"k1","TYP":"JWT","Typ":"x"}`, claims + `}`, true},
		{"duplicate alg", `{"alg":"none","kid":"k1","alg":"RS256"}`, claims + `}`, false},
		{"duplicate kid", `{"alg":"RS256","kid":"k2","kid":"k1"}`, claims + `}`, false},
		{"duplicate alg through an escape", `{"alg":"RS256","kid":"k1","a\u006cg":"RS256"}`, claims + `}`, false},
		{"ALG", `{"ALG":"RS256","alg":"RS256","kid":"k1"}`, claims + `}`, false},
		{"ALG alone", `{"ALG":"RS256","kid":"k1"}`, claims + `}`, false},
		{"KID", `{"alg":"RS256","KID":"k1"}`, claims + `}`, false},
		{"Kid beside kid", `{"alg":"RS256","kid":"k1","Kid":"k2"}`, claims + `}`, false},
		{"CRIT", `{"alg":"RS256","kid":"k1","CRIT":["b64"]}`, claims + `}`, false},
		{"kid not a string", `{"alg":"RS256","kid":1}`, claims + `}`, false},
		{"duplicate aud", okHeader, claims + `,"aud":"https://attacker.example/hook"}`, false},
		{"duplicate exp", okHeader, claims + `,"exp":1}`, false},
		{"duplicate jti", okHeader, claims + `,"jti":"a","jti":"b"}`, false},
		{"duplicate nested member", okHeader, claims + `,"n":{"a":1,"a":2}}`, false},
		{"duplicate member in an array's object", okHeader, claims + `,"n":[{"a":1,"a":2}]}`, false},
		{"trailing data", okHeader, claims + `}{}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			input := base64.RawURLEncoding.EncodeToString([]byte(tc.header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(tc.claims))
			token := input + "." + signRS256(t, k.Private(), input)
			_, err := v.Verify(context.Background(), jwtRequest(token))
			if tc.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, verify.ErrInvalidToken) || verify.HTTPStatus(err) != http.StatusUnauthorized {
				t.Fatalf("Verify = %v, want 401 invalid token", err)
			}
			assertOneSentinel(t, err)
		})
	}
}

// TestJWTClaimMismatchDetail checks that an audience or issuer rejection
// names the received and the expected aud and iss, with its own reason,
// and never the token.
func TestJWTClaimMismatchDetail(t *testing.T) {
	k := keysOnce().k1
	v := newJWTVerifier(t, verify.Options{Issuer: issuerURL})
	for _, tc := range []struct {
		name   string
		claims map[string]any
		reason string
		want   []string
	}{
		{"audience", with(validClaims(), "aud", "https://attacker.example/hook"), "audience_mismatch",
			[]string{`received aud "https://attacker.example/hook" iss "` + issuerURL + `"`, `expected aud ["` + hookURL + `"] iss "` + issuerURL + `"`}},
		{"audience array", with(validClaims(), "aud", []any{"a", "b"}), "audience_mismatch", []string{`received aud ["a","b"]`}},
		{"audience absent", with(validClaims(), "aud", nil), "audience_mismatch", []string{`received aud none`}},
		{"issuer", with(validClaims(), "iss", "https://other.example"), "issuer_mismatch",
			[]string{`received aud "` + hookURL + `" iss "https://other.example"`, `expected aud ["` + hookURL + `"] iss "` + issuerURL + `"`}},
		{"issuer huge", with(validClaims(), "iss", strings.Repeat("i", 5000)), "issuer_mismatch", []string{`"` + strings.Repeat("i", 199) + "…"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := k.MustMint(tc.claims)
			_, err := v.Verify(context.Background(), jwtRequest(token))
			if verify.Reason(err) != tc.reason || verify.HTTPStatus(err) != http.StatusUnauthorized {
				t.Fatalf("Verify = %v (%s), want 401 %s", err, verify.Reason(err), tc.reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(err.Error()) > 700 || strings.Contains(err.Error(), strings.Split(token, ".")[2]) {
				t.Errorf("error %q is unbounded or holds the token", err)
			}
		})
	}
}
