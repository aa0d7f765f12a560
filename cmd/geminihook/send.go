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
	"slices"
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
	url := fs.String("url", "", "function URL (default: the running dev server, else "+defaultTarget+")")
	count := fs.Int("count", 1, "deliveries to send, each with its own webhook-id (1-10000)")
	dispute := fs.Bool("dispute", false, "to a running dev server: make its local Gemini API contradict the event, so a confirmed (--scheme jwt) delivery is quarantined unconfirmed")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "send", pos); err != nil {
		return err
	}
	if *count < 1 || *count > 10000 {
		fmt.Fprintf(stderr, "--count %d is outside 1-10000\n", *count)
		return errUsage
	}
	if err := so.check(fs); err != nil {
		return err
	}
	*url = targetURL(*url)
	client := &http.Client{Timeout: 30 * time.Second}
	seed, err := devSeeder(*url, *dispute)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
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
		if err := seed.seed(ctx, client, body); err != nil {
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
	fs.StringVar(&o.secret, "secret", "", "whsec_ signing secret for hmac (default $GEMINI_WEBHOOK_SECRET when it is one, else the running dev server's)")
	fs.StringVar(&o.keyFile, "key", "", "PEM RSA private key for jwt, with --kid (default: the running dev server's key)")
	fs.StringVar(&o.kid, "kid", "", "kid of the jwt key (default: the dev server's; without --key it relabels the dev key, e.g. to see an unknown kid refused)")
	fs.StringVar(&o.audience, "aud", "", "jwt audience (default: the target URL)")
	fs.StringVar(&o.issuer, "iss", "", "jwt issuer (default: none)")
	fs.StringVar(&o.id, "id", "", "webhook-id (default: a fresh msg_ id)")
	fs.StringVar(&o.eventType, "type", "batch.succeeded", "event type of the sample body: "+strings.Join(samples.Types, ", "))
	fs.StringVar(&o.bodyFile, "body", "", "file holding the body to send instead of a sample (- for stdin)")
	fs.Int64Var(&o.timestamp, "timestamp", 0, "webhook-timestamp in Unix seconds (default: now)")
}

// defaultTarget is where send and sign aim when neither --url nor a dev
// state file says otherwise.
const defaultTarget = "http://127.0.0.1:8080"

// targetURL returns url, else the running dev server's, else defaultTarget.
func targetURL(url string) string {
	if url != "" {
		return url
	}
	if st, err := loadDevState(); err == nil && st.URL != "" {
		return st.URL
	}
	return defaultTarget
}

// check refuses flag values that can be refused before signing.
func (o *signOptions) check(fs *flag.FlagSet) error {
	if o.scheme != "hmac" && o.scheme != "jwt" {
		fmt.Fprintf(fs.Output(), "--scheme %q is neither hmac nor jwt\n", o.scheme)
		return errUsage
	}
	if o.bodyFile == "" && !slices.Contains(samples.Types, o.eventType) {
		fmt.Fprintf(fs.Output(), "--type %q is not a Gemini event type; use one of %s, or --body FILE to send any body\n", o.eventType, strings.Join(samples.Types, ", "))
		return errUsage
	}
	return nil
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
	s := strings.TrimSpace(o.secret)
	if s != "" && !strings.HasPrefix(s, verify.SecretPrefix) {
		if _, _, err := parseSecretName(s); err == nil {
			return verify.Secret{}, fmt.Errorf("--secret %s names a Secret Manager secret; signing needs the value: give --secret whsec_… (for example from gcloud secrets versions access latest --secret=…)", s)
		}
		if strings.HasPrefix(s, "projects/") {
			return verify.Secret{}, fmt.Errorf("--secret %q is neither a %s signing secret nor a Secret Manager name: %w", s, verify.SecretPrefix, errSecretName)
		}
		return verify.Secret{}, errors.New("--secret must be a signing secret starting with " + verify.SecretPrefix)
	}
	if s == "" {
		if v := strings.Fields(os.Getenv("GEMINI_WEBHOOK_SECRET")); len(v) > 0 && strings.HasPrefix(v[0], verify.SecretPrefix) {
			s = v[0]
		}
	}
	if s == "" {
		st, err := loadDevState()
		if err != nil {
			if env := strings.TrimSpace(os.Getenv("GEMINI_WEBHOOK_SECRET")); env != "" {
				return verify.Secret{}, errors.New("no secret: GEMINI_WEBHOOK_SECRET does not start with " + verify.SecretPrefix + " (a Secret Manager name cannot sign); give --secret " + verify.SecretPrefix + "…, or run 'geminihook dev'")
			}
			return verify.Secret{}, errors.New("no secret: give --secret " + verify.SecretPrefix + "…, set GEMINI_WEBHOOK_SECRET, or run 'geminihook dev'")
		}
		s = st.Secret
	}
	sec, err := verify.ParseSecret(s)
	if err != nil {
		return verify.Secret{}, fmt.Errorf("signing secret: %w", err)
	}
	return sec, nil
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
	if o.kid != "" {
		st.KeyID = o.kid
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

// devState is what a running 'geminihook dev' leaves for send, sign, tail
// and replay: a throwaway local secret and key, never a production one, and
// where its Pub/Sub emulator listens.
type devState struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	KeyID  string `json:"kid"`
	KeyPEM string `json:"key_pem"`
	// PubSubEmulatorHost is the host:port of dev's in-process Pub/Sub;
	// tail and replay use it when PUBSUB_EMULATOR_HOST is unset.
	PubSubEmulatorHost string `json:"pubsub_emulator_host,omitempty"`
	// Project is the project of dev's topics.
	Project string `json:"project,omitempty"`
	// Prefix is dev's topic prefix (GEMINI_TOPIC_PREFIX).
	Prefix string `json:"prefix,omitempty"`
	// GeminiAPIURL is the base URL of dev's local Gemini API, which the
	// function confirms JWT-signed deliveries against; send seeds it
	// there (devstack.SeedPath) before it delivers.
	GeminiAPIURL string `json:"gemini_api_url,omitempty"`
	// GeminiAPIKey is the local Gemini API's key: it opens only that
	// local stand-in.
	GeminiAPIKey string `json:"gemini_api_key,omitempty"`
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
