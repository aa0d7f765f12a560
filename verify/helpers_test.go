package verify_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"sync"
	"time"

	"github.com/geminihook/geminihook/internal/testclock"
	"github.com/geminihook/geminihook/verify"
)

// Standard Webhooks known-answer vector (libraries/go/webhook_test.go).
const (
	kaSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	kaID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	kaUnix    = 1614265330
	kaBody    = `{"test": 2432232314}`
	kaSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	kaBadSig  = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	hookURL   = "https://hooks.example.test/gemini"
	issuerURL = "https://accounts.google.com"
)

var kaTime = time.Unix(kaUnix, 0)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newClock(t time.Time) *testclock.Clock { return testclock.New(t) }

// learningKeyring serves a list of secrets and, on Refresh, adds the secrets
// it has been told about, the way a keyring re-reading Secret Manager picks
// up a rotated secret. It counts calls.
type learningKeyring struct {
	mu        sync.Mutex
	secrets   []verify.Secret
	pending   []verify.Secret
	refreshes int
	calls     int
	failWith  error
}

func (k *learningKeyring) Secrets(context.Context) ([]verify.Secret, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	if k.failWith != nil {
		return nil, k.failWith
	}
	return append([]verify.Secret(nil), k.secrets...), nil
}

func (k *learningKeyring) Refresh(context.Context) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refreshes++
	if len(k.pending) == 0 {
		return false, nil
	}
	k.secrets = append(append([]verify.Secret(nil), k.pending...), k.secrets...)
	k.pending = nil
	return true, nil
}

func (k *learningKeyring) Refreshes() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refreshes
}

func signRS256(t interface{ Fatal(...any) }, priv *rsa.PrivateKey, input string) string {
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sig)
}

func jwkJSON(k jwk.Key) ([]byte, error) { return json.Marshal(k) }
