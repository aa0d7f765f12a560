package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func init() {
	addCommand(command{
		name:    "send",
		summary: "sign a sample or given body (HMAC or JWT) and POST it to the function",
		run:     runSend,
	})
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", stderr)
	var so signOptions
	so.flags(fs)
	url := fs.String("url", "", "function URL (default: the running dev server, else http://127.0.0.1:8080)")
	count := fs.Int("count", 1, "deliveries to send, each with its own webhook-id (1-10000)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *count < 1 || *count > 10000 {
		return fmt.Errorf("--count %d is outside 1-10000", *count)
	}
	if *url == "" {
		*url = "http://127.0.0.1:8080"
		if st, err := loadDevState(); err == nil {
			*url = st.URL
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	failed := 0
	for i := range *count {
		o := so
		if *count > 1 && o.id != "" {
			o.id = fmt.Sprintf("%s-%d", o.id, i)
		}
		body, err := o.body()
		if err != nil {
			return err
		}
		status, answer, err := o.send(ctx, client, *url, body)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d %s\n", status, strings.TrimSpace(answer))
		if status/100 != 2 {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d deliveries were not accepted", failed, *count)
	}
	return nil
}

// signOptions are the flags shared by send and sign.
type signOptions struct {
	scheme    string
	secret    string
	keyFile   string
	kid       string
	audience  string
	issuer    string
	id        string
	eventType string
	bodyFile  string
	timestamp int64
}

func (o *signOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.scheme, "scheme", "hmac", "signature scheme: hmac (static webhook) or jwt (dynamic webhook)")
	fs.StringVar(&o.secret, "secret", "", "whsec_ signing secret for hmac (default $GEMINI_WEBHOOK_SECRET, else the running dev server's)")
	fs.StringVar(&o.keyFile, "key", "", "PEM RSA private key for jwt (default: the running dev server's key)")
	fs.StringVar(&o.kid, "kid", "", "kid of the jwt key (default: the dev server's)")
	fs.StringVar(&o.audience, "aud", "", "jwt audience (default: the target URL)")
	fs.StringVar(&o.issuer, "iss", "", "jwt issuer (default: none)")
	fs.StringVar(&o.id, "id", "", "webhook-id (default: a fresh msg_ id)")
	fs.StringVar(&o.eventType, "type", "batch.succeeded", "event type of the sample body: "+strings.Join(samples.Types, ", "))
	fs.StringVar(&o.bodyFile, "body", "", "file holding the body to send instead of a sample (- for stdin)")
	fs.Int64Var(&o.timestamp, "timestamp", 0, "webhook-timestamp in Unix seconds (default: now)")
}

// body returns the body to sign.
func (o *signOptions) body() ([]byte, error) {
	if o.bodyFile != "" {
		return readInput(o.bodyFile)
	}
	return samples.Body(o.eventType, int(time.Now().UnixNano()%1_000_000), time.Now()), nil
}

// sign returns the webhook headers for body, sent to url (the JWT audience
// when --aud is not given).
func (o *signOptions) sign(body []byte, url string) (http.Header, error) {
	id := o.id
	if id == "" {
		id = newID()
	}
	ts := time.Now()
	if o.timestamp != 0 {
		ts = time.Unix(o.timestamp, 0)
	}
	switch o.scheme {
	case "hmac":
		secret, err := o.hmacSecret()
		if err != nil {
			return nil, err
		}
		return verify.SignHeaders(secret, id, ts, body), nil
	case "jwt":
		key, err := o.jwtKey()
		if err != nil {
			return nil, err
		}
		aud := o.audience
		if aud == "" {
			aud = strings.TrimSuffix(url, "/")
		}
		if aud == "" {
			return nil, errors.New("jwt needs an audience: give --aud")
		}
		claims := map[string]any{"aud": aud, "iat": ts.Unix(), "exp": ts.Add(5 * time.Minute).Unix(), "jti": id}
		if o.issuer != "" {
			claims["iss"] = o.issuer
		}
		token, err := key.Mint(claims)
		if err != nil {
			return nil, fmt.Errorf("mint token: %w", err)
		}
		h := http.Header{}
		h.Set(verify.HeaderID, id)
		h.Set(verify.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(verify.HeaderSignature, token)
		return h, nil
	default:
		return nil, fmt.Errorf("--scheme %q is neither hmac nor jwt", o.scheme)
	}
}

func (o *signOptions) hmacSecret() (verify.Secret, error) {
	s := o.secret
	if s == "" {
		if v := os.Getenv("GEMINI_WEBHOOK_SECRET"); strings.HasPrefix(v, verify.SecretPrefix) {
			s = strings.Fields(v)[0]
		}
	}
	if s == "" {
		st, err := loadDevState()
		if err != nil {
			return verify.Secret{}, errors.New("no secret: give --secret, set GEMINI_WEBHOOK_SECRET, or run 'geminihook dev'")
		}
		s = st.Secret
	}
	return verify.ParseSecret(s)
}

func (o *signOptions) jwtKey() (*verifytest.Key, error) {
	if o.keyFile != "" {
		raw, err := os.ReadFile(o.keyFile)
		if err != nil {
			return nil, err
		}
		priv, err := parseRSAKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.keyFile, err)
		}
		if o.kid == "" {
			return nil, errors.New("--key needs --kid")
		}
		return verifytest.KeyFromRSA(o.kid, priv)
	}
	st, err := loadDevState()
	if err != nil {
		return nil, errors.New("no key: give --key and --kid, or run 'geminihook dev'")
	}
	return st.key()
}

// send signs body and POSTs it to url; it returns the status and answer.
func (o *signOptions) send(ctx context.Context, client *http.Client, url string, body []byte) (int, string, error) {
	h, err := o.sign(body, url)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(answer), nil
}

// devState is what a running 'geminihook dev' leaves for send and sign:
// a throwaway local secret and key, never a production one.
type devState struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	KeyID  string `json:"kid"`
	KeyPEM string `json:"key_pem"`

	PubSubEmulatorHost string `json:"pubsub_emulator_host"`
	Project            string `json:"project"`
	Prefix             string `json:"prefix"`
}

func (s devState) key() (*verifytest.Key, error) {
	priv, err := parseRSAKey([]byte(s.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("dev state key: %w", err)
	}
	return verifytest.KeyFromRSA(s.KeyID, priv)
}

// devStatePath is where dev writes its state: the user's cache directory,
// or $GEMINIHOOK_DEV_STATE when set.
func devStatePath() (string, error) {
	if p := os.Getenv("GEMINIHOOK_DEV_STATE"); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "geminihook", "dev.json"), nil
}

func loadDevState() (devState, error) {
	var st devState
	p, err := devStatePath()
	if err != nil {
		return st, err
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(raw, &st)
}

func saveDevState(st devState) (string, error) {
	p, err := devStatePath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	return p, os.WriteFile(p, raw, 0o600)
}

func encodeRSAKey(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func parseRSAKey(raw []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key (PKCS#1 or PKCS#8)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key")
	}
	return rk, nil
}

// randomToken returns n random base32 characters.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n]
}
