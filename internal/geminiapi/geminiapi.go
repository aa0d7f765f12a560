// Package geminiapi is a small client for the Gemini API's WebhookService
// (REST): create, list, get, delete and ping webhooks, and rotate their
// signing secrets.
//
// Signing secrets returned by Create and RotateSigningSecret are held in a
// Secret, whose formatting, logging and JSON methods print "[redacted]":
// only Secret.Reveal returns the value, so a stray Printf of a Webhook cannot
// leak one.
//
// Calls are bounded: every call has a deadline (Options.Timeout, 30s by
// default) covering all its attempts, and at most Options.MaxAttempts (3)
// attempts are made. Any call is retried when the server answers 429 (the
// request was refused, not executed); idempotent calls (GET, DELETE, ping)
// are also retried on 5xx answers and network errors. Create and rotate are
// never retried after the server may have acted on them: a blind retry of a
// rotation would revoke a secret nobody saw.
package geminiapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for Options.
const (
	DefaultBaseURL     = "https://generativelanguage.googleapis.com"
	DefaultAPIVersion  = "v1beta"
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 3
	// DefaultMaxBackoff caps the wait between attempts, including a wait
	// asked for by Retry-After.
	DefaultMaxBackoff = 10 * time.Second
)

// APIKeyHeader is the header that carries the API key.
const APIKeyHeader = "x-goog-api-key"

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 4 << 20

// maxListPages bounds List so a server that keeps returning tokens cannot
// loop forever.
const maxListPages = 1000

// RevocationBehavior says what happens to the previous signing secrets when
// a webhook's secret is rotated.
type RevocationBehavior string

// The revocation behaviours the API accepts.
const (
	RevokeAfter24h     RevocationBehavior = "revoke_previous_secrets_after_h24"
	RevokeImmediately  RevocationBehavior = "revoke_previous_secrets_immediately"
	revocationFieldKey                    = "revocation_behavior"
)

// Options configure a Client. The zero value uses the defaults.
type Options struct {
	// BaseURL is the API's scheme and host, DefaultBaseURL if empty.
	BaseURL string
	// APIVersion is the path prefix, DefaultAPIVersion ("v1beta") if empty.
	// Google's documentation also shows "v1".
	APIVersion string
	// HTTPClient sends the requests; http.DefaultClient if nil.
	HTTPClient *http.Client
	// Timeout bounds one call, all attempts included; DefaultTimeout if zero.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one call; DefaultMaxAttempts if zero.
	MaxAttempts int
	// MaxBackoff caps the wait between attempts; DefaultMaxBackoff if zero.
	MaxBackoff time.Duration
}

// Client calls the WebhookService. It is safe for concurrent use.
type Client struct {
	apiKey      string
	base        string // BaseURL + "/" + APIVersion
	http        *http.Client
	timeout     time.Duration
	maxAttempts int
	maxBackoff  time.Duration
}

// ErrNoAPIKey is returned by New when the API key is empty.
var ErrNoAPIKey = errors.New("geminiapi: no API key")

// New returns a client that authenticates with apiKey.
func New(apiKey string, opts Options) (*Client, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, ErrNoAPIKey
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("geminiapi: base URL %q is not an http(s) URL", base)
	}
	ver := strings.Trim(opts.APIVersion, "/")
	if ver == "" {
		ver = DefaultAPIVersion
	}
	c := &Client{
		apiKey:      strings.TrimSpace(apiKey),
		base:        strings.TrimRight(base, "/") + "/" + ver,
		http:        opts.HTTPClient,
		timeout:     opts.Timeout,
		maxAttempts: opts.MaxAttempts,
		maxBackoff:  opts.MaxBackoff,
	}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = DefaultMaxBackoff
	}
	return c, nil
}

// APIError is an error answer from the API.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is Google's canonical error code, such as "PERMISSION_DENIED";
	// empty if the answer was not Google's error JSON.
	Code string
	// Message is the server's explanation.
	Message string
}

// Error reports the status, code and message.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if t := http.StatusText(e.Status); t != "" && e.Code == "" {
		b.WriteString(" " + t)
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// IsNotFound reports whether err is an APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Secret is a signing secret. Printing, logging or JSON-encoding it yields
// "[redacted]"; Reveal returns the value. The zero Secret is empty.
type Secret struct {
	// A pointer, so that even a raw reflection print of a struct holding a
	// Secret in an unexported field shows an address, not the value.
	v *string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: &s} }

// Reveal returns the secret's value.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

const redacted = "[redacted]"

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns "[redacted]" for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// SigningSecret describes one signing secret of a webhook as later reads show it.
type SigningSecret struct {
	// TruncatedSecret is a short, non-secret form such as "whsec_...3frh".
	TruncatedSecret string `json:"truncated_secret,omitempty"`
	// ExpireTime is when the secret stops being used, if scheduled.
	ExpireTime string `json:"expire_time,omitempty"`
}

// Webhook is a registered static webhook.
type Webhook struct {
	// ID identifies the webhook in calls; taken from the response's id, or
	// from its name when that is "webhooks/{id}".
	ID string `json:"id"`
	// Name is the response's name field verbatim.
	Name string `json:"name,omitempty"`
	// URI receives the deliveries.
	URI string `json:"uri"`
	// SubscribedEvents lists the event types delivered.
	SubscribedEvents []string `json:"subscribed_events"`
	// State is "enabled", "disabled" or "disabled_due_to_failed_deliveries".
	State      string          `json:"state,omitempty"`
	CreateTime string          `json:"create_time,omitempty"` // RFC 3339, as sent
	UpdateTime string          `json:"update_time,omitempty"` // RFC 3339, as sent
	Secrets    []SigningSecret `json:"signing_secrets,omitempty"`
	// NewSigningSecret is set only in Create's answer: the secret is shown
	// once. It is redacted when printed.
	NewSigningSecret Secret `json:"-"`
}

// UnmarshalJSON accepts snake_case and camelCase field names and derives
// ID from name when the answer has no id.
func (w *Webhook) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var out Webhook
	fields := []struct {
		dst   any
		names []string
	}{
		{&out.ID, []string{"id"}},
		{&out.Name, []string{"name", "displayName", "display_name"}},
		{&out.URI, []string{"uri"}},
		{&out.SubscribedEvents, []string{"subscribed_events", "subscribedEvents"}},
		{&out.State, []string{"state"}},
		{&out.CreateTime, []string{"create_time", "createTime"}},
		{&out.UpdateTime, []string{"update_time", "updateTime"}},
	}
	for _, f := range fields {
		if err := pick(m, f.dst, f.names...); err != nil {
			return err
		}
	}
	var secrets []map[string]json.RawMessage
	if err := pick(m, &secrets, "signing_secrets", "signingSecrets"); err != nil {
		return err
	}
	for _, s := range secrets {
		var ss SigningSecret
		if err := pick(s, &ss.TruncatedSecret, "truncated_secret", "truncatedSecret"); err != nil {
			return err
		}
		if err := pick(s, &ss.ExpireTime, "expire_time", "expireTime"); err != nil {
			return err
		}
		out.Secrets = append(out.Secrets, ss)
	}
	var secret string
	if err := pick(m, &secret, "new_signing_secret", "newSigningSecret"); err != nil {
		return err
	}
	if secret != "" {
		out.NewSigningSecret = NewSecret(secret)
	}
	if out.ID == "" {
		if id, ok := strings.CutPrefix(out.Name, "webhooks/"); ok {
			out.ID = id
		}
	}
	*w = out
	return nil
}

// pick decodes the first present key of names into dst. Decoding errors
// name the field only, never its value.
func pick(m map[string]json.RawMessage, dst any, names ...string) error {
	for _, n := range names {
		if raw, ok := m[n]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, dst); err != nil {
				return fmt.Errorf("field %s has the wrong type", n)
			}
			return nil
		}
	}
	return nil
}

// webhookPath turns an id or "webhooks/{id}" into the resource path.
func webhookPath(id string) (string, error) {
	id = strings.TrimPrefix(strings.TrimSpace(id), "webhooks/")
	if id == "" || strings.ContainsAny(id, "/?#:") {
		return "", fmt.Errorf("geminiapi: invalid webhook id %q", id)
	}
	return "/webhooks/" + url.PathEscape(id), nil
}

// CreateRequest describes a webhook to create.
type CreateRequest struct {
	// Name is a display name.
	Name string
	// URI receives the deliveries (https).
	URI string
	// SubscribedEvents lists the event types to deliver.
	SubscribedEvents []string
	// WebhookID optionally chooses the id (sent as ?webhook_id=).
	WebhookID string
}

// Create registers a webhook. The answer's NewSigningSecret holds the
// signing secret, which the API shows only this once.
func (c *Client) Create(ctx context.Context, req CreateRequest) (*Webhook, error) {
	body := map[string]any{"uri": req.URI, "subscribed_events": req.SubscribedEvents}
	if req.Name != "" {
		body["name"] = req.Name
	}
	path := "/webhooks"
	if req.WebhookID != "" {
		path += "?webhook_id=" + url.QueryEscape(req.WebhookID)
	}
	var w Webhook
	if err := c.do(ctx, http.MethodPost, path, body, &w, false); err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	return &w, nil
}

// Get returns one webhook.
func (c *Client) Get(ctx context.Context, id string) (*Webhook, error) {
	p, err := webhookPath(id)
	if err != nil {
		return nil, err
	}
	var w Webhook
	if err := c.do(ctx, http.MethodGet, p, nil, &w, true); err != nil {
		return nil, fmt.Errorf("get webhook: %w", err)
	}
	return &w, nil
}

// List returns every webhook, following next_page_token.
func (c *Client) List(ctx context.Context) ([]Webhook, error) {
	var all []Webhook
	token := ""
	for range maxListPages {
		p := "/webhooks"
		if token != "" {
			p += "?page_token=" + url.QueryEscape(token)
		}
		var page map[string]json.RawMessage
		if err := c.do(ctx, http.MethodGet, p, nil, &page, true); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		var ws []Webhook
		if err := pick(page, &ws, "webhooks"); err != nil {
			return nil, fmt.Errorf("list webhooks: decode answer: %w", err)
		}
		all = append(all, ws...)
		token = ""
		if err := pick(page, &token, "next_page_token", "nextPageToken"); err != nil {
			return nil, fmt.Errorf("list webhooks: decode answer: %w", err)
		}
		if token == "" {
			return all, nil
		}
	}
	return nil, fmt.Errorf("list webhooks: more than %d pages", maxListPages)
}

// Delete removes a webhook. A 404 on a retried attempt counts as success,
// since an earlier attempt may have deleted it.
func (c *Client) Delete(ctx context.Context, id string) error {
	p, err := webhookPath(id)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, p, nil, nil, true); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return nil
}

// Ping asks the API to send a ping event to the webhook.
func (c *Client) Ping(ctx context.Context, id string) error {
	p, err := webhookPath(id)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPost, p+":ping", map[string]any{}, nil, true); err != nil {
		return fmt.Errorf("ping webhook: %w", err)
	}
	return nil
}

// RotateSigningSecret issues a new signing secret for the webhook and
// returns it; the previous secrets are revoked as behavior says.
func (c *Client) RotateSigningSecret(ctx context.Context, id string, behavior RevocationBehavior) (Secret, error) {
	p, err := webhookPath(id)
	if err != nil {
		return Secret{}, err
	}
	switch behavior {
	case RevokeAfter24h, RevokeImmediately:
	default:
		return Secret{}, fmt.Errorf("geminiapi: unknown revocation behavior %q", behavior)
	}
	var resp map[string]json.RawMessage
	if err := c.do(ctx, http.MethodPost, p+":rotateSigningSecret", map[string]any{revocationFieldKey: behavior}, &resp, false); err != nil {
		return Secret{}, fmt.Errorf("rotate signing secret: %w", err)
	}
	var s string
	if err := pick(resp, &s, "secret", "new_signing_secret", "newSigningSecret"); err != nil {
		return Secret{}, fmt.Errorf("rotate signing secret: decode answer: %w", err)
	}
	if s == "" {
		return Secret{}, errors.New("rotate signing secret: the answer holds no secret")
	}
	return NewSecret(s), nil
}

// do sends one call with bounded attempts. idempotent allows retries on 5xx
// and network errors; 429 is retried for every call.
func (c *Client) do(ctx context.Context, method, path string, in, out any, idempotent bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := c.attempt(ctx, method, path, body, out)
		if err == nil {
			return nil
		}
		if method == http.MethodDelete && attempt > 1 && status == http.StatusNotFound {
			return nil
		}
		lastErr = err
		retry := status == http.StatusTooManyRequests ||
			(idempotent && (status >= 500 || (status == 0 && ctx.Err() == nil)))
		if !retry || attempt >= c.maxAttempts {
			return lastErr
		}
		wait := c.backoff(attempt, retryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return lastErr
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return lastErr
		case <-t.C:
		}
	}
}

// backoff returns the wait before attempt+1: Retry-After when given,
// otherwise exponential from 200ms with jitter, both capped.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := retryAfter
	if d <= 0 {
		d = 200 * time.Millisecond << (attempt - 1)
		d += time.Duration(rand.Int64N(int64(d) / 2))
	}
	return min(d, c.maxBackoff)
}

// attempt sends one request. It returns the HTTP status (0 if none arrived)
// and the Retry-After delay.
func (c *Client) attempt(ctx context.Context, method, path string, body []byte, out any) (int, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set(APIKeyHeader, c.apiKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL error carries only the method and URL, which hold no key.
		return 0, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp.StatusCode, 0, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After")), parseError(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			// Never quote the body: it may hold a secret.
			return resp.StatusCode, 0, fmt.Errorf("decode answer: %w", sanitizeJSONError(err))
		}
	}
	return resp.StatusCode, 0, nil
}

// sanitizeJSONError drops error text that could quote response bytes.
func sanitizeJSONError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %s has the wrong type", te.Field)
	}
	return errors.New("invalid JSON")
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// parseError reads Google's error JSON {"error":{"code","message","status"}};
// any other body becomes a short, single-line message.
func parseError(status int, body []byte) *APIError {
	var g struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &g) == nil && (g.Error.Message != "" || g.Error.Status != "") {
		return &APIError{Status: status, Code: g.Error.Status, Message: g.Error.Message}
	}
	msg := strings.Join(strings.Fields(string(body)), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return &APIError{Status: status, Message: msg}
}
