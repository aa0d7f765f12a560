// Command minimal is the honest limit the benchmark compares geminihook
// against: the smallest correct verify-and-publish function. Served by the
// Functions Framework exactly as geminihook serve serves GeminiWebhook, it
// checks one Standard Webhooks v1 HMAC signature (constant-time compare,
// timestamp tolerance), publishes the body with one cached pubsub/v2
// publisher and answers 200 once Pub/Sub has acknowledged the message.
// Nothing else: no dedupe, no parsing or normalization, one attribute
// (webhook_id) instead of the schema's, no log line, no JWT.
//
// Its publisher is configured as internal/publish configures serve's:
// DelayThreshold 1ms, CountThreshold 100, a 5s Timeout per publish, the
// library's ByteThreshold, NumGoroutines and flow control. Unlike serve it
// builds its client at start (no I/O: the first gRPC connection is still
// made by the first publish) and has one topic instead of five.
//
// With --contract PREFIX it is the contract's floor instead: the same
// pipeline publishing as the contract requires, to PREFIX+family with the
// schema's attributes (see contract.go).
//
//	GOOGLE_CLOUD_PROJECT=p PUBSUB_EMULATOR_HOST=127.0.0.1:8085 \
//	GEMINI_WEBHOOK_SECRET=whsec_… minimal --port 18082 --topic gemini-batch
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

// entryPoint is the name the function is registered under.
const entryPoint = "Minimal"

// Limits shared with geminihook's defaults.
const (
	tolerance      = 5 * time.Minute // verify.DefaultTolerance
	maxBodyBytes   = 1 << 20         // geminihook's DefaultMaxBodyBytes
	publishTimeout = 5 * time.Second // publish.Options.Timeout default
)

// Errors a delivery is refused with.
var (
	errMissingHeader = errors.New("missing webhook header")
	errTimestamp     = errors.New("webhook timestamp outside tolerance")
	errSignature     = errors.New("no matching signature")
	errTooLarge      = errors.New("body too large")
	errReadBody      = errors.New("reading the body failed")
)

// pipeline is the minimal function: one key, one publisher; or, with
// --contract, one publisher per family topic and the schema's attributes
// (route).
type pipeline struct {
	key   []byte
	pub   *pubsub.Publisher
	route *router // nil: publish to pub with the webhook_id attribute only
	now   func() time.Time
}

// newPublisher returns the one publisher of topic, with serve's settings.
func newPublisher(client *pubsub.Client, topic string) *pubsub.Publisher {
	pub := client.Publisher(topic)
	pub.PublishSettings.DelayThreshold = time.Millisecond
	pub.PublishSettings.CountThreshold = 100
	pub.PublishSettings.Timeout = publishTimeout
	return pub
}

// parseSecret decodes "whsec_<base64>" (standard alphabet, as Gemini and
// geminihook's GenerateSecret write it).
func parseSecret(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "whsec_")
	key, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(key) == 0 {
		return nil, errors.New("GEMINI_WEBHOOK_SECRET is not a whsec_ base64 secret")
	}
	return key, nil
}

// ServeHTTP verifies, publishes and answers.
func (p *pipeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := p.verify(r)
	var body []byte
	if err == nil {
		body, err = readBody(r)
	}
	if err == nil {
		err = p.check(r, id, body)
	}
	switch {
	case errors.Is(err, errMissingHeader), errors.Is(err, errReadBody):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, errTooLarge):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), publishTimeout)
	defer cancel()
	pub, msg := p.pub, &pubsub.Message{Data: body, Attributes: map[string]string{"webhook_id": id}}
	if p.route != nil {
		pub, msg = p.route.message(id, body, p.now())
	}
	res := pub.Publish(ctx, msg)
	if _, err := res.Get(ctx); err != nil {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "publish failed", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"result":"published"}`+"\n")
}

// verify checks the headers that need no body: presence and the timestamp.
func (p *pipeline) verify(r *http.Request) (string, error) {
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if id == "" || ts == "" || sig == "" {
		return "", errMissingHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", errTimestamp
	}
	if d := p.now().Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return "", errTimestamp
	}
	return id, nil
}

// check compares every v1 entry of webhook-signature with the HMAC-SHA256
// of "id.timestamp.body", in constant time.
func (p *pipeline) check(r *http.Request, id string, body []byte) error {
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(r.Header.Get("webhook-timestamp")))
	mac.Write([]byte{'.'})
	mac.Write(body)
	var want [44]byte // base64 of a SHA-256 sum
	base64.StdEncoding.Encode(want[:], mac.Sum(nil))
	for _, e := range strings.Fields(r.Header.Get("webhook-signature")) {
		if v, ok := strings.CutPrefix(e, "v1,"); ok && subtle.ConstantTimeCompare([]byte(v), want[:]) == 1 {
			return nil
		}
	}
	return errSignature
}

// readBody reads at most maxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errReadBody, err)
	}
	if len(body) > maxBodyBytes {
		return nil, errTooLarge
	}
	return body, nil
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.String("port", "8080", "port to listen on")
	topic := flag.String("topic", "", "topic ID to publish to (required unless --contract)")
	contract := flag.String("contract", "", "topic prefix: publish to PREFIX+family with the schema's attributes, as the function does, instead of to --topic with one")
	flag.Parse()
	if err := run(*host, *port, *topic, *contract); err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}

func run(host, port, topic, contract string) (err error) {
	if (topic == "") == (contract == "") {
		return errors.New("one of --topic and --contract is required")
	}
	key, err := parseSecret(os.Getenv("GEMINI_WEBHOOK_SECRET"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The client honours PUBSUB_EMULATOR_HOST, as serve's does.
	client, err := pubsub.NewClient(ctx, os.Getenv("GOOGLE_CLOUD_PROJECT"))
	if err != nil {
		return fmt.Errorf("pubsub client: %w", err)
	}
	// Runs last: the publishers' deferred stops flush first.
	defer func() { err = errors.Join(err, client.Close()) }()
	p := &pipeline{key: key, now: time.Now}
	if contract != "" {
		p.route = newRouter(client, contract)
		defer p.route.stop()
	} else {
		p.pub = newPublisher(client, topic)
		defer p.pub.Stop()
	}
	functions.HTTP(entryPoint, p.ServeHTTP)
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", entryPoint)
	}
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort(host, port) }()
	select {
	case err = <-errc:
		err = fmt.Errorf("functions framework: %w", err)
	case <-ctx.Done():
	}
	return err
}
