package geminihook

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geminihook/geminihook/internal/secrets"
)

// Defaults of the environment contract (README, "Configuration").
const (
	DefaultTopicPrefix        = "gemini-"
	DefaultJWKSURL            = "https://generativelanguage.googleapis.com/.well-known/jwks.json"
	DefaultTimestampTolerance = 5 * time.Minute
	DefaultMaxBodyBytes       = 1 << 20
)

// config is the function's configuration, read once from the environment.
type config struct {
	Project         string
	Secret          string // secret or version name, or a literal whsec_ list
	TopicPrefix     string
	JWKSURL         string
	Audiences       []string // empty: the request's own URL
	Issuer          string
	DynamicWebhooks bool
	Tolerance       time.Duration
	MaxBodyBytes    int64
}

// secretIsLiteral reports whether Secret holds secrets rather than naming a
// Secret Manager resource.
func (c config) secretIsLiteral() bool {
	return c.Secret != "" && !secrets.IsSecretName(c.Secret)
}

// loadConfig reads the environment through getenv and reports every problem
// at once. Error messages name variables, never a secret value.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Project:         strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT")),
		Secret:          strings.TrimSpace(getenv("GEMINI_WEBHOOK_SECRET")),
		TopicPrefix:     DefaultTopicPrefix,
		JWKSURL:         DefaultJWKSURL,
		Issuer:          strings.TrimSpace(getenv("GEMINI_JWT_ISSUER")),
		DynamicWebhooks: true,
		Tolerance:       DefaultTimestampTolerance,
		MaxBodyBytes:    DefaultMaxBodyBytes,
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	if c.Project == "" {
		bad("GOOGLE_CLOUD_PROJECT", "required: the project that owns the topics")
	}
	if c.secretIsLiteral() {
		if _, err := secrets.ParseList(c.Secret); err != nil {
			bad("GEMINI_WEBHOOK_SECRET", "neither a Secret Manager name (projects/P/secrets/S[/versions/V]) nor a list of whsec_ secrets: %v", err)
		}
	}
	if v, ok := lookup(getenv, "GEMINI_TOPIC_PREFIX"); ok {
		if !validTopicPrefix(v) {
			bad("GEMINI_TOPIC_PREFIX", "%q cannot start a Pub/Sub topic name (letters first, then letters, digits, - _ . ~ + %%; at most 240 characters)", v)
		}
		c.TopicPrefix = v
	}
	if v, ok := lookup(getenv, "GEMINI_JWKS_URL"); ok {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("GEMINI_JWKS_URL", "%q is not an http(s) URL", v)
		}
		c.JWKSURL = v
	}
	if v, ok := lookup(getenv, "GEMINI_JWT_AUDIENCE"); ok {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Audiences = append(c.Audiences, a)
			}
		}
	}
	if v, ok := lookup(getenv, "GEMINI_DYNAMIC_WEBHOOKS"); ok {
		switch strings.ToLower(v) {
		case "on", "true", "1", "yes":
			c.DynamicWebhooks = true
		case "off", "false", "0", "no":
			c.DynamicWebhooks = false
		default:
			bad("GEMINI_DYNAMIC_WEBHOOKS", "%q is neither on nor off", v)
		}
	}
	if v, ok := lookup(getenv, "GEMINI_TIMESTAMP_TOLERANCE"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 24*time.Hour {
			bad("GEMINI_TIMESTAMP_TOLERANCE", "%q is not a duration between 1s and 24h (e.g. 5m)", v)
		} else {
			c.Tolerance = d
		}
	}
	if v, ok := lookup(getenv, "GEMINI_MAX_BODY_BYTES"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 || n > 32<<20 {
			bad("GEMINI_MAX_BODY_BYTES", "%q is not a byte count between 1024 and 33554432", v)
		} else {
			c.MaxBodyBytes = n
		}
	}
	if c.Secret == "" && !c.DynamicWebhooks {
		bad("GEMINI_WEBHOOK_SECRET", "required when GEMINI_DYNAMIC_WEBHOOKS is off: nothing could be verified")
	}
	if len(errs) > 0 {
		return config{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// lookup returns the trimmed value of name and whether it is set and non-empty.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// validTopicPrefix reports whether p followed by "quarantine" is a valid
// Pub/Sub topic id.
func validTopicPrefix(p string) bool {
	if len(p)+len("quarantine") > 255 || p == "" {
		return false
	}
	if c := p[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return false
	}
	if strings.HasPrefix(strings.ToLower(p), "goog") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~+%", c) >= 0) {
			return false
		}
	}
	return true
}
