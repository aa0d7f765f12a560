package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func ExampleSign() {
	secret := verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	sig := verify.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	fmt.Println(sig)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

func ExampleVerifier_Verify() {
	secret := verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	sentAt := time.Unix(1614265330, 0)
	v, err := verify.New(verify.Options{
		Keyring: verify.StaticKeyring{secret},
		Now:     func() time.Time { return sentAt.Add(10 * time.Second) }, // omit to use time.Now
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123"}}`)
	header := http.Header{}
	header.Set("Webhook-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	header.Set("Webhook-Timestamp", "1614265330")
	header.Set("Webhook-Signature", verify.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sentAt, body))

	d, err := v.Verify(context.Background(), verify.Request{Header: header, Body: body})
	fmt.Println(d.ID, d.Scheme, d.KeyIndex, err)

	// A changed body no longer verifies; HTTPStatus says what to answer.
	_, err = v.Verify(context.Background(), verify.Request{Header: header, Body: []byte(`{}`)})
	fmt.Println(errors.Is(err, verify.ErrNoMatchingSignature), verify.HTTPStatus(err))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek hmac 0 <nil>
	// true 401
}

func ExampleNewRemoteKeySet() {
	// A local JWKS server stands in for Gemini's.
	key := verifytest.MustKey("gemini-2026")
	jwks := verifytest.NewServer(key)
	defer jwks.Close()

	keys := verify.NewRemoteKeySet(jwks.URL, verify.RemoteKeySetOptions{}) // no I/O yet
	v, err := verify.New(verify.Options{
		KeySet:    keys,
		Audiences: []string{"https://hooks.example.test/gemini"}, // this endpoint's own URL, from configuration
		Issuer:    "https://accounts.google.com",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	token, _ := key.Mint(map[string]any{
		"iss": "https://accounts.google.com",
		"aud": "https://hooks.example.test/gemini",
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	})
	header := http.Header{}
	header.Set("Webhook-Signature", token)
	d, err := v.Verify(context.Background(), verify.Request{
		Header: header,
		Body:   []byte(`{"type":"interaction.completed"}`),
	})
	fmt.Println(d.Scheme, d.KeyID, err, jwks.Fetches(), strings.HasPrefix(d.IdempotencyKey(), verify.KeyPrefixJWT))
	// Output: jwt gemini-2026 <nil> 1 true
}

func ExampleClassify() {
	for _, h := range []string{"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "Bearer x"} {
		scheme, err := verify.Classify(h)
		fmt.Printf("%q %v\n", scheme, err != nil)
	}
	// Output:
	// "hmac" false
	// "jwt" false
	// "" true
}
