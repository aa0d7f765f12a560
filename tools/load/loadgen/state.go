package loadgen

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// State describes a local stack: the file 'geminihook dev' writes
// (url, secret, kid, key_pem) and the bench emulator's, which adds where
// Pub/Sub and the JWKS listen. Its secret and key are throwaway local ones.
type State struct {
	URL     string `json:"url,omitempty"`
	Secret  string `json:"secret"`
	KeyID   string `json:"kid"`
	KeyPEM  string `json:"key_pem"`
	PubSub  string `json:"pubsub,omitempty"` // emulator host:port
	Project string `json:"project,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	JWKSURL string `json:"jwks_url,omitempty"`
}

// LoadState reads a state file.
func LoadState(path string) (State, error) {
	var st State
	raw, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("parse state %s: %w", path, err)
	}
	return st, nil
}

// Signer returns a signer for scheme with the state's secret and key; the
// JWT audience is target's.
func (st State) Signer(scheme, target string) (Signer, error) {
	s := Signer{Scheme: scheme, Audience: AudienceFor(target)}
	if st.Secret != "" {
		secret, err := verify.ParseSecret(st.Secret)
		if err != nil {
			return s, fmt.Errorf("state secret: %w", err)
		}
		s.Secret = secret
	}
	if st.KeyPEM != "" {
		key, err := ParseKey(st.KeyID, []byte(st.KeyPEM))
		if err != nil {
			return s, err
		}
		s.Key = key
	}
	return s, nil
}

// EncodeKey writes k as a PKCS#1 PEM block, the form dev state files use.
func EncodeKey(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// ParseKey reads a PEM RSA private key (PKCS#1 or PKCS#8) with key id kid.
func ParseKey(kid string, raw []byte) (*verifytest.Key, error) {
	if kid == "" {
		return nil, errors.New("loadgen: a key needs its kid")
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("loadgen: key: no PEM block")
	}
	var priv *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		priv = k
	} else {
		k8, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("loadgen: key: not an RSA private key (PKCS#1 or PKCS#8)")
		}
		rk, ok := k8.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("loadgen: key: not an RSA private key")
		}
		priv = rk
	}
	key, err := verifytest.KeyFromRSA(kid, priv)
	if err != nil {
		return nil, fmt.Errorf("loadgen: key: %w", err)
	}
	return key, nil
}
