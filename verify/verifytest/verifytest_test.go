package verifytest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/geminihook/geminihook/verify/verifytest"
)

var k1 = verifytest.MustKey("k1")

func TestKeyAndJWKS(t *testing.T) {
	if k1.KID() != "k1" || k1.Private().N.BitLen() != 2048 {
		t.Fatalf("key %q of %d bits", k1.KID(), k1.Private().N.BitLen())
	}
	set, err := jwk.Parse(k1.JWKS())
	if err != nil || set.Len() != 1 {
		t.Fatalf("JWKS parses to %v keys, %v", set, err)
	}
	got, _ := set.Key(0)
	if got.KeyID() != "k1" || got.Algorithm() != jwa.RS256 || got.KeyUsage() != "sig" {
		t.Fatalf("JWKS key = kid %q alg %v use %q", got.KeyID(), got.Algorithm(), got.KeyUsage())
	}
	if isPriv, _ := jwk.IsPrivateKey(got); isPriv {
		t.Fatal("JWKS holds a private key")
	}
	if strings.Contains(string(k1.JWKS()), `"d"`) {
		t.Fatal("JWKS leaks the private exponent")
	}
}

// TestMintVerifiesWithJWX cross-checks minted tokens with an independent
// implementation.
func TestMintVerifiesWithJWX(t *testing.T) {
	tok, err := k1.Mint(map[string]any{"sub": "x"})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(tok), jws.WithKey(jwa.RS256, k1.Public()))
	if err != nil || string(payload) != `{"sub":"x"}` {
		t.Fatalf("jws.Verify = %s, %v", payload, err)
	}
	msg, _ := jws.Parse([]byte(tok))
	if h := msg.Signatures()[0].ProtectedHeaders(); h.KeyID() != "k1" || h.Algorithm() != jwa.RS256 {
		t.Fatalf("header kid %q alg %v", h.KeyID(), h.Algorithm())
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecJWK, _ := jwk.FromRaw(&ec.PublicKey)
	for _, tc := range []struct {
		alg string
		key any
		ver jwk.Key
	}{
		{"PS256", k1.Private(), k1.Public()},
		{"RS384", k1.Private(), k1.Public()},
		{"ES256", ec, ecJWK},
	} {
		tok, err := verifytest.MintWith(tc.alg, nil, map[string]any{"a": 1}, tc.key)
		if err != nil {
			t.Fatalf("MintWith(%s): %v", tc.alg, err)
		}
		if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.SignatureAlgorithm(tc.alg), tc.ver)); err != nil {
			t.Fatalf("%s token does not verify: %v", tc.alg, err)
		}
	}
	hs, _ := verifytest.MintWith("HS256", nil, map[string]any{"a": 1}, []byte("secret"))
	if _, err := jws.Verify([]byte(hs), jws.WithKey(jwa.HS256, []byte("secret"))); err != nil {
		t.Fatalf("HS256 token does not verify: %v", err)
	}
	none, _ := verifytest.MintWith("none", map[string]any{"kid": "k"}, nil, nil)
	if !strings.HasSuffix(none, ".") || strings.Count(none, ".") != 2 {
		t.Fatalf("none token = %q", none)
	}
}

func TestMintWithErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		alg string
		key any
	}{
		"unknown alg":       {"XX999", k1.Private()},
		"RSA key for HS256": {"HS256", k1.Private()},
		"RSA key for ES256": {"ES256", k1.Private()},
		"bytes for RS256":   {"RS256", []byte("k")},
		"nil for RS256":     {"RS256", nil},
		"RSA for HS256 alg": {"ES256", []byte("k")},
	} {
		if _, err := verifytest.MintWith(tc.alg, nil, nil, tc.key); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := verifytest.MintWith("RS256", map[string]any{"bad": func() {}}, nil, k1.Private()); err == nil {
		t.Error("unmarshalable header accepted")
	}
	if _, err := verifytest.MintWith("RS256", nil, map[string]any{"bad": make(chan int)}, k1.Private()); err == nil {
		t.Error("unmarshalable claims accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("MustMint with bad claims did not panic")
		}
	}()
	k1.MustMint(map[string]any{"bad": make(chan int)})
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestServer(t *testing.T) {
	k2 := verifytest.MustKey("k2")
	srv := verifytest.NewServer(k1)
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want loopback", srv.URL)
	}
	status, body, _ := get(t, srv.URL)
	if status != 200 || body != string(k1.JWKS()) {
		t.Fatalf("GET = %d %s", status, body)
	}
	srv.SetKeys(k1, k2)
	if _, body, _ = get(t, srv.URL); body != string(verifytest.JWKS(k1, k2)) {
		t.Fatalf("after SetKeys: %s", body)
	}
	srv.Fail(http.StatusBadGateway)
	if status, _, _ = get(t, srv.URL); status != http.StatusBadGateway {
		t.Fatalf("Fail: status %d", status)
	}
	srv.Fail(0)
	srv.Garbage(true)
	if status, body, _ = get(t, srv.URL); status != 200 {
		t.Fatalf("Garbage: status %d", status)
	}
	if _, err := jwk.Parse([]byte(body)); err == nil {
		t.Fatalf("Garbage served a parsable set: %s", body)
	}
	srv.Garbage(false)
	srv.SetHeader("Cache-Control", "max-age=60")
	if _, _, h := get(t, srv.URL); h.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("SetHeader: %v", h)
	}
	if n := srv.Fetches(); n != 5 {
		t.Fatalf("Fetches = %d, want 5", n)
	}
	// Delay holds the answer back; a client that gives up is released.
	srv.Delay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("delayed request answered before the client's deadline")
	}
	srv.Delay(0)
}
