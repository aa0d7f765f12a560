package geminihook

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
	idem "github.com/geminihook/geminihook/internal/idempotency"
	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/internal/secrets"
	"github.com/geminihook/geminihook/verify"
)

// Defaults of the environment contract (README, "Configuration"), taken
// from verify where it defines them.
const (
	DefaultTopicPrefix        = "gemini-"
	DefaultJWKSURL            = verify.GeminiJWKSURL
	DefaultTimestampTolerance = verify.DefaultTolerance
	DefaultMaxBodyBytes       = 1 << 20
	DefaultDedupe             = DedupeMemory
	DefaultFirestoreDatabase  = "(default)"
	DefaultFirestoreColl      = idem.DefaultCollection
)

// Values of GEMINI_DEDUPE: where the function records the deliveries it
// published.
const (
	// DedupeMemory keeps the record in each instance's memory: a retry
	// that reaches another instance, or comes after a restart, is
	// published again.
	DedupeMemory = "memory"
	// DedupeFirestore shares the record between instances in Firestore:
	// each delivery is published once, and the function answers 503 while
	// Firestore is unavailable.
	DedupeFirestore = "firestore"
)

// config is the function's configuration, read once from the environment.
type config struct {
	Project         string
	Secret          string // secret or version name, or a literal whsec_ list
	TopicPrefix     string
	JWKSURL         string
	Audiences       []string // accepted JWT aud values; never derived from the request
	Issuer          string
	DynamicWebhooks bool // JWT deliveries are verified (GEMINI_DYNAMIC_WEBHOOKS, resolved)
	Tolerance       time.Duration
	MaxBodyBytes    int64
	APIKeySecret    string // Gemini API key: a Secret Manager name or literal:KEY
	Confirm         string // confirmOff, confirmDynamic or confirmAll
	APIBaseURL      string // "" for the SDK's default
	Dedupe          string // DedupeMemory or DedupeFirestore
	FirestoreDB     string // the Firestore database id, with DedupeFirestore
	FirestoreColl   string // the collection of delivery records, with DedupeFirestore
	LogLevel        slog.Level
}

// secretIsLiteral reports whether Secret holds secrets rather than naming a
// Secret Manager resource: a literal starts with "whsec_" (loadConfig
// refuses a value that is neither).
func (c config) secretIsLiteral() bool {
	return strings.HasPrefix(c.Secret, verify.SecretPrefix)
}

// Values of GEMINI_DYNAMIC_WEBHOOKS.
const (
	dynamicAuto = "auto" // on exactly when GEMINI_JWT_AUDIENCE is set
	dynamicOn   = "on"
	dynamicOff  = "off"
)

// loadConfig reads the environment through getenv and reports every problem
// at once. Error messages name variables, never a secret value.
func loadConfig(getenv func(string) string) (config, error) {
	e := &env{getenv: getenv}
	c := config{
		Project:         e.str("GOOGLE_CLOUD_PROJECT"),
		Secret:          e.str("GEMINI_WEBHOOK_SECRET"),
		TopicPrefix:     e.topicPrefix("GEMINI_TOPIC_PREFIX", DefaultTopicPrefix),
		JWKSURL:         e.url("GEMINI_JWKS_URL", DefaultJWKSURL),
		Audiences:       e.list("GEMINI_JWT_AUDIENCE"),
		Issuer:          e.str("GEMINI_JWT_ISSUER"),
		DynamicWebhooks: false, // resolved below from GEMINI_DYNAMIC_WEBHOOKS and the audience
		Tolerance:       e.duration("GEMINI_TIMESTAMP_TOLERANCE", DefaultTimestampTolerance, time.Second, 24*time.Hour),
		// Capped so that every accepted body reaches a topic: a larger one
		// could be neither published nor quarantined.
		MaxBodyBytes:  e.int("GEMINI_MAX_BODY_BYTES", DefaultMaxBodyBytes, 1024, events.MaxBodyBytes),
		Dedupe:        e.oneOf("GEMINI_DEDUPE", DefaultDedupe, DedupeMemory, DedupeFirestore),
		FirestoreDB:   e.match("GEMINI_FIRESTORE_DATABASE", DefaultFirestoreDatabase, validFirestoreDatabase, "a Firestore database id ((default), or 4 to 63 lowercase letters, digits and hyphens, starting with a letter)"),
		FirestoreColl: e.match("GEMINI_FIRESTORE_COLLECTION", DefaultFirestoreColl, validCollection, "a Firestore collection id (at most 1500 bytes, no /, not . or .., not __name__-like)"),
	}
	switch e.dynamicMode("GEMINI_DYNAMIC_WEBHOOKS") {
	case dynamicOn:
		c.DynamicWebhooks = true
		if len(c.Audiences) == 0 {
			e.bad("GEMINI_DYNAMIC_WEBHOOKS", "on needs GEMINI_JWT_AUDIENCE: the accepted audience is configuration, never derived from the request")
		}
	case dynamicAuto:
		c.DynamicWebhooks = len(c.Audiences) > 0
	}
	c.APIKeySecret = e.apiKeyConfig("GEMINI_API_KEY_SECRET")
	c.Confirm = e.confirmMode("GEMINI_CONFIRM", c.APIKeySecret != "", c.DynamicWebhooks)
	c.APIBaseURL = e.url("GEMINI_API_BASE_URL", "")
	c.LogLevel = e.logLevel("GEMINI_LOG_LEVEL")
	if c.Project == "" {
		e.bad("GOOGLE_CLOUD_PROJECT", "required: the project that owns the topics")
	}
	e.secret("GEMINI_WEBHOOK_SECRET", c.Secret)
	if c.Secret == "" && !c.DynamicWebhooks {
		e.bad("GEMINI_WEBHOOK_SECRET", "required unless dynamic webhooks are on (GEMINI_JWT_AUDIENCE set): nothing could be verified")
	}
	if err := joinErrors(e.errs); err != nil {
		return config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// env reads variables through getenv and collects every problem it finds.
// Each reader returns its default for an unset, empty or invalid variable.
type env struct {
	getenv func(string) string
	errs   []error
}

// bad records a problem with variable name.
func (e *env) bad(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// str returns the trimmed value of name.
func (e *env) str(name string) string { return strings.TrimSpace(e.getenv(name)) }

// topicPrefix returns name as a topic prefix.
func (e *env) topicPrefix(name, def string) string {
	v := e.str(name)
	switch {
	case v == "":
		return def
	case !validTopicPrefix(v):
		e.bad(name, "%q cannot start a Pub/Sub topic name (letters first, then letters, digits, - _ . ~ + %%; at most 240 characters)", v)
	}
	return v
}

// logLevel returns name as a log level (README, "Logs"): debug, info
// (the default), warn or error.
func (e *env) logLevel(name string) slog.Level {
	v := e.str(name)
	if v == "" {
		return slog.LevelInfo
	}
	l, ok := logging.ParseLevel(v)
	if !ok {
		e.bad(name, "%q is not a log level (debug, info, warn or error)", v)
	}
	return l
}

// url returns name as an http(s) URL.
func (e *env) url(name, def string) string {
	v := e.str(name)
	if v == "" {
		return def
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		e.bad(name, "%q is not an http(s) URL", v)
	}
	return v
}

// list returns the non-empty comma-separated items of name.
func (e *env) list(name string) []string {
	var out []string
	for _, a := range strings.Split(e.str(name), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// oneOf returns name, which must be one of values (case-insensitive).
func (e *env) oneOf(name, def string, values ...string) string {
	v := strings.ToLower(e.str(name))
	if v == "" {
		return def
	}
	for _, ok := range values {
		if v == ok {
			return v
		}
	}
	e.bad(name, "%q is not one of %s", v, strings.Join(values, ", "))
	return def
}

// match returns name when valid accepts it; what describes valid values.
func (e *env) match(name, def string, valid func(string) bool, what string) string {
	v := e.str(name)
	switch {
	case v == "":
		return def
	case !valid(v):
		e.bad(name, "%q is not %s", v, what)
		return def
	}
	return v
}

// validFirestoreDatabase reports whether id names a Firestore database:
// "(default)", or a named database's id as Firestore accepts it, 4-63
// lowercase letters, digits and hyphens, starting with a letter and not
// ending with a hyphen (the pattern ^[a-z][a-z0-9-]{2,61}[a-z0-9]$,
// matched by hand so that no regexp is compiled at every cold start).
func validFirestoreDatabase(id string) bool {
	if id == DefaultFirestoreDatabase {
		return true
	}
	if len(id) < 4 || len(id) > 63 || id[0] < 'a' || id[0] > 'z' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validCollection reports whether id is a collection id Firestore accepts.
func validCollection(id string) bool {
	return id != "" && len(id) <= 1500 && !strings.Contains(id, "/") && id != "." && id != ".." &&
		!(strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"))
}

// dynamicMode returns name as dynamicAuto (the default), dynamicOn or
// dynamicOff.
func (e *env) dynamicMode(name string) string {
	v := e.str(name)
	switch strings.ToLower(v) {
	case "", dynamicAuto:
		return dynamicAuto
	case dynamicOn, "true", "1", "yes":
		return dynamicOn
	case dynamicOff, "false", "0", "no":
		return dynamicOff
	default:
		e.bad(name, "%q is none of auto, on and off", v)
		return dynamicAuto
	}
}

// secret checks name's value v: empty, a Secret Manager secret or version
// name, or a space-separated list of whsec_ secrets. Anything else (a
// mistyped name such as projects/p/secrets, a bare base64 key) is refused.
// The message never quotes v: what looks like a name may hold a key.
func (e *env) secret(name, v string) {
	switch {
	case v == "", secrets.IsSecretName(v):
	case strings.HasPrefix(v, verify.SecretPrefix):
		for i, f := range strings.Fields(v) {
			if !strings.HasPrefix(f, verify.SecretPrefix) {
				e.bad(name, "secret %d of the literal list does not start with %s", i+1, verify.SecretPrefix)
				return
			}
		}
		if _, err := secrets.ParseList(v); err != nil {
			e.bad(name, "not a valid list of %s secrets: %v", verify.SecretPrefix, err)
		}
	case strings.HasPrefix(v, "projects/"):
		e.bad(name, "not a Secret Manager name: want projects/P/secrets/S or projects/P/secrets/S/versions/V")
	default:
		e.bad(name, "neither a Secret Manager name (projects/P/secrets/S or projects/P/secrets/S/versions/V) nor a list of %s secrets", verify.SecretPrefix)
	}
}

// duration returns name as a duration within [lo, hi].
func (e *env) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := e.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		e.bad(name, "%q is not a duration between %s and %s (e.g. 5m)", v, fmtDuration(lo), fmtDuration(hi))
		return def
	}
	return d
}

// fmtDuration writes whole hours, minutes or seconds as "24h", "5m", "1s".
func fmtDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// int returns name as an integer within [lo, hi].
func (e *env) int(name string, def, lo, hi int64) int64 {
	v := e.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		e.bad(name, "%q is not a byte count between %d and %d", v, lo, hi)
		return def
	}
	return n
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
