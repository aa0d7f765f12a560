package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
)

// The benchmarks come in pairs: a floor doing only the unavoidable
// cryptography, and the full Verify of the same delivery. Quote their ratio.
//
//	go test -run='^$' -bench . -benchmem -count 5 ./verify

func benchBody() []byte {
	return bytes.Repeat([]byte(`{"k":"0123456789abcdef"},`), 1024/25+1)[:1024]
}

// BenchmarkHMACFloor is HMAC-SHA256 over id.timestamp.body of a 1 KiB body
// with a keyed hash reused across iterations.
func BenchmarkHMACFloor(b *testing.B) {
	sec := verify.MustParseSecret(kaSecret)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(kaSecret, "whsec_"))
	body := benchBody()
	content := append([]byte(kaID+"."+strconv.Itoa(kaUnix)+"."), body...)
	want, _ := base64.StdEncoding.DecodeString(verify.Sign(sec, kaID, kaTime, body)[3:])
	h := hmac.New(sha256.New, key)
	var sum [sha256.Size]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		h.Reset()
		h.Write(content)
		if !hmac.Equal(h.Sum(sum[:0]), want) {
			b.Fatal("mismatch")
		}
	}
}

// BenchmarkVerifyHMAC is the full Verify of the delivery of BenchmarkHMACFloor.
func BenchmarkVerifyHMAC(b *testing.B) {
	sec := verify.MustParseSecret(kaSecret)
	body := benchBody()
	v, err := verify.New(verify.Options{Keyring: verify.StaticKeyring{sec}, Now: fixedClock(kaTime)})
	if err != nil {
		b.Fatal(err)
	}
	r := verify.Request{Header: verify.SignHeaders(sec, kaID, kaTime, body), Body: body}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyHMACRejectForged measures a forged signature against two
// secrets with 16 v1 entries: the bounded worst case of an attacker.
func BenchmarkVerifyHMACRejectForged(b *testing.B) {
	body := benchBody()
	sec := verify.MustParseSecret(kaSecret)
	v, err := verify.New(verify.Options{Keyring: verify.StaticKeyring{sec, sec}, Now: fixedClock(kaTime)})
	if err != nil {
		b.Fatal(err)
	}
	h := verify.SignHeaders(sec, kaID, kaTime, body)
	h.Set(verify.HeaderSignature, strings.Repeat(kaBadSig+" ", 200))
	r := verify.Request{Header: h, Body: body}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), r); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkRSAFloor is SHA-256 of a token's signing input plus
// rsa.VerifyPKCS1v15 with a ready *rsa.PublicKey.
func BenchmarkRSAFloor(b *testing.B) {
	k := keysOnce().k1
	token := k.MustMint(validClaims())
	dot := strings.LastIndexByte(token, '.')
	input := []byte(token[:dot])
	sig, _ := base64.RawURLEncoding.DecodeString(token[dot+1:])
	pub := &k.Private().PublicKey
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWT is the full Verify of the token of BenchmarkRSAFloor with
// a warm static key set.
func BenchmarkVerifyJWT(b *testing.B) {
	k := keysOnce().k1
	v, err := verify.New(verify.Options{KeySet: verify.NewStaticKeySet(k.Public()), Audiences: []string{hookURL}, Now: fixedClock(jwtNow), Issuer: issuerURL})
	if err != nil {
		b.Fatal(err)
	}
	r := jwtRequest(k.MustMint(validClaims()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWTRejectAlg measures the cheap rejection of a token with a
// forbidden algorithm: no key lookup, no RSA.
func BenchmarkVerifyJWTRejectAlg(b *testing.B) {
	k := keysOnce().k1
	v, err := verify.New(verify.Options{KeySet: verify.NewStaticKeySet(k.Public()), Audiences: []string{hookURL}, Now: fixedClock(jwtNow)})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := k.Mint(validClaims())
	tok = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"k1"}`)) + tok[strings.IndexByte(tok, '.'):]
	r := jwtRequest(tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), r); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkRatioHMAC and BenchmarkRatioJWT run the floor and the full Verify
// alternately in small batches and report verify/floor as a metric, so the
// ratio holds up on a shared, noisy machine where separate benchmarks drift.
func BenchmarkRatioHMAC(b *testing.B) {
	sec := verify.MustParseSecret(kaSecret)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(kaSecret, "whsec_"))
	body := benchBody()
	content := append([]byte(kaID+"."+strconv.Itoa(kaUnix)+"."), body...)
	want, _ := base64.StdEncoding.DecodeString(verify.Sign(sec, kaID, kaTime, body)[3:])
	h := hmac.New(sha256.New, key)
	var sum [sha256.Size]byte
	floor := func() {
		h.Reset()
		h.Write(content)
		if !hmac.Equal(h.Sum(sum[:0]), want) {
			b.Fatal("mismatch")
		}
	}
	v, err := verify.New(verify.Options{Keyring: verify.StaticKeyring{sec}, Now: fixedClock(kaTime)})
	if err != nil {
		b.Fatal(err)
	}
	r := verify.Request{Header: verify.SignHeaders(sec, kaID, kaTime, body), Body: body}
	full := func() {
		if _, err := v.Verify(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	ratioLoop(b, floor, full)
}

func BenchmarkRatioJWT(b *testing.B) {
	k := keysOnce().k1
	token := k.MustMint(validClaims())
	dot := strings.LastIndexByte(token, '.')
	input := []byte(token[:dot])
	sig, _ := base64.RawURLEncoding.DecodeString(token[dot+1:])
	pub := &k.Private().PublicKey
	floor := func() {
		digest := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	v, err := verify.New(verify.Options{KeySet: verify.NewStaticKeySet(k.Public()), Audiences: []string{hookURL}, Now: fixedClock(jwtNow), Issuer: issuerURL})
	if err != nil {
		b.Fatal(err)
	}
	r := jwtRequest(token)
	full := func() {
		if _, err := v.Verify(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	ratioLoop(b, floor, full)
}

// ratioLoop runs floor and full in alternating batches of 16 and reports the
// ratio of the fastest full batch to the fastest floor batch: on a shared
// machine the minimum is the least disturbed estimate of each cost. ns/op
// covers 16 floor plus 16 full calls.
func ratioLoop(b *testing.B, floor, full func()) {
	const batch = 16
	minFloor, minFull := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for b.Loop() {
		start := time.Now()
		for range batch {
			floor()
		}
		mid := time.Now()
		for range batch {
			full()
		}
		minFloor = min(minFloor, mid.Sub(start))
		minFull = min(minFull, time.Since(mid))
	}
	b.ReportMetric(float64(minFull)/float64(minFloor), "verify/floor")
}
