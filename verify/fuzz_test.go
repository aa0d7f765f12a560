package verify_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func FuzzClassify(f *testing.F) {
	for _, s := range []string{kaSig, kaSig + " v1a,abc", "v2,x", "v1,", "a.b.c", "a.b.", "a.b", "a.b.c.d", "", " ", "v1x,", "eyJ.eyJ.sig"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scheme, err := verify.Classify(s)
		if err != nil {
			if scheme != "" {
				t.Fatalf("scheme %q with error %v", scheme, err)
			}
			if !errors.Is(err, verify.ErrMissingHeader) && !errors.Is(err, verify.ErrMalformedHeader) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		trimmed := strings.TrimSpace(s)
		if len(trimmed) > verify.MaxSignatureHeaderLength {
			t.Fatal("over-long header classified")
		}
		switch scheme {
		case verify.SchemeHMAC:
			if !slices.ContainsFunc(strings.Split(trimmed, " "), func(e string) bool {
				return len(e) > 2 && e[0] == 'v' && strings.Contains(e, ",")
			}) {
				t.Fatalf("%q classified as HMAC", s)
			}
		case verify.SchemeJWT:
			if strings.Count(trimmed, ".") != 2 || strings.ContainsAny(trimmed, " ,=+/") {
				t.Fatalf("%q classified as JWT", s)
			}
		default:
			t.Fatalf("unknown scheme %q", scheme)
		}
	})
}

// FuzzVerifyHMAC checks two properties: an arbitrary delivery is accepted
// only if its header holds the true signature, and a valid delivery whose
// signature header has any one byte changed is rejected.
func FuzzVerifyHMAC(f *testing.F) {
	f.Add(kaID, "1614265330", []byte(kaBody), kaSig, uint16(5), byte(1))
	f.Add("msg_1", "1614265330", []byte{}, "v1,", uint16(0), byte(0x20))
	f.Add("a.b", "x", []byte("{}"), "v1a,abc v2,def", uint16(43), byte(0xff))
	sec := verify.MustParseSecret(kaSecret)
	v, err := verify.New(verify.Options{Keyring: verify.StaticKeyring{verify.MustParseSecret("whsec_" + strings.Repeat("b3RoZXJr", 4)), sec}, Now: fixedClock(kaTime)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts string, body []byte, sig string, pos uint16, x byte) {
		h := http.Header{}
		h.Set(verify.HeaderID, id)
		h.Set(verify.HeaderTimestamp, ts)
		h.Set(verify.HeaderSignature, sig)
		if d, err := v.Verify(context.Background(), verify.Request{Header: h, Body: body}); err == nil {
			unix, _ := strconv.ParseInt(ts, 10, 64)
			want := verify.Sign(sec, id, time.Unix(unix, 0), body)
			if d.ID != id || !slices.Contains(strings.Split(strings.TrimSpace(sig), " "), want) {
				t.Fatalf("accepted id %q ts %q sig %q without the true signature", id, ts, sig)
			}
		} else {
			assertOneSentinel(t, err)
		}

		// Mutation: a valid delivery with one signature byte changed.
		if x == 0 || id == "" || strings.Contains(id, ".") || len(id) > verify.DefaultMaxIDLength {
			return
		}
		valid := verify.SignHeaders(sec, id, kaTime, body)
		if _, err := v.Verify(context.Background(), verify.Request{Header: valid, Body: body}); err != nil {
			t.Fatalf("valid delivery rejected: %v", err)
		}
		s := []byte(valid.Get(verify.HeaderSignature))
		s[int(pos)%len(s)] ^= x
		valid.Set(verify.HeaderSignature, string(s))
		if _, err := v.Verify(context.Background(), verify.Request{Header: valid, Body: body}); err == nil {
			t.Fatalf("changed signature %q accepted", s)
		}
	})
}

// fuzzKey is a fixed key so that the committed seed corpus holds tokens that
// verify.
var fuzzKey = sync.OnceValue(func() *verifytest.Key {
	raw, err := os.ReadFile("testdata/fuzzkey.pem")
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(raw)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	k, err := verifytest.KeyFromRSA("fuzz", priv.(*rsa.PrivateKey))
	if err != nil {
		panic(err)
	}
	return k
})

// fuzzClaims never expire within the fuzz clock (jwtNow).
func fuzzClaims() map[string]any {
	return map[string]any{"aud": hookURL, "iss": issuerURL, "exp": 4102444800, "iat": jwtNow.Unix(), "jti": "fuzz-1"}
}

// FuzzVerifyJWT checks that only the one token minted with the fixed key is
// ever accepted, and that changing any one byte of it makes it fail.
func FuzzVerifyJWT(f *testing.F) {
	k := fuzzKey()
	valid := k.MustMint(fuzzClaims())
	f.Add(valid, uint16(0), byte(0))
	f.Add(valid, uint16(10), byte(1))
	f.Add(valid[:strings.LastIndexByte(valid, '.')+1], uint16(400), byte(2))
	none, _ := verifytest.MintWith("none", map[string]any{"kid": "fuzz"}, fuzzClaims(), nil)
	f.Add(none, uint16(3), byte(4))
	hs, _ := verifytest.MintWith("HS256", map[string]any{"kid": "fuzz"}, fuzzClaims(), k.JWKS())
	f.Add(hs, uint16(7), byte(0x80))
	v, err := verify.New(verify.Options{KeySet: verify.NewStaticKeySet(k.Public()), Audiences: []string{hookURL}, Now: fixedClock(jwtNow), Issuer: issuerURL})
	if err != nil {
		f.Fatal(err)
	}
	verifyToken := func(tok string) (verify.Delivery, error) {
		return v.Verify(context.Background(), jwtRequest(tok))
	}
	f.Fuzz(func(t *testing.T, token string, pos uint16, x byte) {
		if d, err := verifyToken(token); err == nil {
			if strings.TrimSpace(token) != valid || d.KeyID != "fuzz" || d.ID != "fuzz-1" {
				t.Fatalf("accepted a token other than the minted one: %q", token)
			}
		} else {
			assertOneSentinel(t, err)
		}
		if x == 0 {
			return
		}
		b := []byte(valid)
		b[int(pos)%len(b)] ^= x
		if _, err := verifyToken(string(b)); err == nil {
			t.Fatalf("token with byte %d changed accepted", int(pos)%len(b))
		}
	})
}
