// Package geminiapi opens the Gemini API's webhook service through the
// official SDK, google.golang.org/genai, and adds only what that SDK lacks:
//
//   - validation of the options before any request (an API version the
//     API serves, an http(s) base URL, a non-empty key);
//   - ListAll, which follows next_page_token (the SDK returns one page);
//   - APIError, Google's error JSON ({"error":{"code","message","status"}})
//     decoded from the SDK's *apierrors.APIError, whose own message is the
//     raw body;
//   - NoRetry, the per-call option that turns off the SDK's default retries
//     (it retries 408, 409, 429 and 5xx on every method, POSTs included) for
//     the calls that must never run twice: a blind retry of a rotation would
//     revoke a secret nobody saw, and a retried create would leave a second
//     webhook whose secret is lost.
//
// Requests and responses are the SDK's own types
// (google.golang.org/genai/interactions/models/{webhooks,operations}).
package geminiapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
	"google.golang.org/genai/interactions/retry"
)

// Defaults for Options.
const (
	DefaultBaseURL    = "https://generativelanguage.googleapis.com"
	DefaultAPIVersion = "v1beta"
	DefaultTimeout    = 30 * time.Second
)

// APIVersions are the path versions the Gemini API serves. The SDK accepts
// any string; anything else would only earn a 404 from Google.
var APIVersions = []string{"v1beta", "v1", "v1alpha"}

// maxListPages bounds ListAll so a server that keeps returning tokens
// cannot loop forever.
const maxListPages = 1000

// Options configure New. The zero value uses the defaults.
type Options struct {
	// BaseURL is the API's scheme and host, DefaultBaseURL if empty.
	BaseURL string
	// APIVersion is one of APIVersions, DefaultAPIVersion if empty.
	APIVersion string
	// Timeout bounds one call, the SDK's retries included; DefaultTimeout
	// if zero.
	Timeout time.Duration
	// HTTPClient sends the requests; a new http.Client if nil.
	HTTPClient *http.Client
}

// Errors New returns for options it refuses.
var (
	ErrNoAPIKey      = errors.New("geminiapi: no API key")
	ErrAPIVersion    = errors.New("geminiapi: unknown API version")
	ErrBaseURL       = errors.New("geminiapi: base URL is not an http(s) URL")
	ErrTooManyPages  = errors.New("geminiapi: list did not end")
	errNoAnswerValue = errors.New("geminiapi: the answer holds no value")
)

// New returns the SDK's webhook service, authenticated with apiKey (sent as
// x-goog-api-key).
func New(ctx context.Context, apiKey string, o Options) (*interactions.Webhooks, error) {
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		return nil, ErrNoAPIKey
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrBaseURL, o.BaseURL)
	}
	if o.APIVersion == "" {
		o.APIVersion = DefaultAPIVersion
	}
	if err := CheckAPIVersion(o.APIVersion); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:     apiKey,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: o.HTTPClient,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    strings.TrimRight(o.BaseURL, "/"),
			APIVersion: o.APIVersion,
			Timeout:    &o.Timeout,
		},
	})
	if err != nil {
		// Some of the SDK's configuration errors print the whole
		// ClientConfig, API key included: never pass the key on.
		return nil, fmt.Errorf("genai.NewClient: %s", strings.ReplaceAll(err.Error(), apiKey, "[redacted]"))
	}
	return c.Webhooks, nil
}

// CheckAPIVersion returns an error wrapping ErrAPIVersion unless v is one of
// APIVersions.
func CheckAPIVersion(v string) error {
	if !slices.Contains(APIVersions, v) {
		return fmt.Errorf("%w %q (want one of %s)", ErrAPIVersion, v, strings.Join(APIVersions, ", "))
	}
	return nil
}

// NoRetry is the call option for calls that must be sent at most once.
func NoRetry() operations.Option {
	return operations.WithRetries(retry.Config{Strategy: "none"})
}

// ListAll returns every webhook, following next_page_token.
func ListAll(ctx context.Context, api *interactions.Webhooks) ([]webhooks.Webhook, error) {
	var out []webhooks.Webhook
	var token *string
	for range maxListPages {
		res, err := api.List(ctx, operations.ListWebhooksRequest{PageToken: token})
		if err != nil {
			return nil, Wrap("list webhooks", err)
		}
		page := res.GetWebhookListResponse()
		if page == nil {
			return nil, fmt.Errorf("list webhooks: %w", errNoAnswerValue)
		}
		out = append(out, page.GetWebhooks()...)
		next := page.GetNextPageToken()
		if next == nil || *next == "" {
			return out, nil
		}
		token = next
	}
	return nil, fmt.Errorf("list webhooks: %w after %d pages", ErrTooManyPages, maxListPages)
}

// APIError is an error answer from the API, decoded from Google's error JSON.
type APIError struct {
	// HTTPStatus is the HTTP status code.
	HTTPStatus int
	// Status is Google's canonical code, such as "PERMISSION_DENIED"; empty
	// when the body was not Google's error JSON.
	Status string
	// Message is the server's explanation.
	Message string
}

// Error reports the status, code and message, e.g.
// "404 NOT_FOUND: Webhook not found.".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", e.HTTPStatus)
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	} else if t := http.StatusText(e.HTTPStatus); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// maxMessage bounds how much of a non-JSON error body is quoted.
const maxMessage = 300

// Wrap names the failed call and turns the SDK's *apierrors.APIError into
// an *APIError; other errors (network, deadline) are wrapped as they are.
func Wrap(call string, err error) error {
	if err == nil {
		return nil
	}
	var sdk *apierrors.APIError
	if !errors.As(err, &sdk) {
		return fmt.Errorf("%s: %w", call, err)
	}
	ae := &APIError{HTTPStatus: sdk.StatusCode}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(sdk.Body), &body) == nil && (body.Error.Status != "" || body.Error.Message != "") {
		ae.Status, ae.Message = body.Error.Status, body.Error.Message
	} else {
		msg := strings.Join(strings.Fields(sdk.Body), " ")
		if len(msg) > maxMessage {
			msg = msg[:maxMessage] + "…"
		}
		ae.Message = msg
	}
	return fmt.Errorf("%s: %w", call, ae)
}

// IsNotFound reports whether err holds an *APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.HTTPStatus == http.StatusNotFound
}
