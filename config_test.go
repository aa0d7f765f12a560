package geminihook

import (
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadConfig reads environments through loadConfig: defaults, every
// variable set, and bad values, each named in one single-line error.
func TestLoadConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "GEMINI_WEBHOOK_SECRET": testSecret}
	tests := []struct {
		name    string
		env     map[string]string // added to base; "" deletes
		want    config            // checked when wantErr is empty
		wantErr []string          // variables the error must name
	}{
		{name: "defaults", want: config{Project: "p", Secret: testSecret, TopicPrefix: DefaultTopicPrefix, JWKSURL: DefaultJWKSURL,
			DynamicWebhooks: false, Tolerance: 5 * time.Minute, MaxBodyBytes: 1 << 20,
			Dedupe: DedupeMemory, FirestoreDB: "(default)", FirestoreColl: "geminihook-deliveries", Confirm: confirmOff}},
		{name: "everything set", env: map[string]string{
			"GEMINI_TOPIC_PREFIX": "hooks_", "GEMINI_JWKS_URL": "http://127.0.0.1:1/jwks", "GEMINI_JWT_AUDIENCE": " a, ,b ",
			"GEMINI_JWT_ISSUER": "iss", "GEMINI_DYNAMIC_WEBHOOKS": "OFF", "GEMINI_TIMESTAMP_TOLERANCE": "90s", "GEMINI_MAX_BODY_BYTES": "9870785",
			"GEMINI_DEDUPE": "Firestore", "GEMINI_FIRESTORE_DATABASE": "hooks-db", "GEMINI_FIRESTORE_COLLECTION": "deliveries",
			"GEMINI_LOG_LEVEL": "Warn",
		}, want: config{Project: "p", Secret: testSecret, TopicPrefix: "hooks_", JWKSURL: "http://127.0.0.1:1/jwks", Audiences: []string{"a", "b"},
			Issuer: "iss", DynamicWebhooks: false, Tolerance: 90 * time.Second, MaxBodyBytes: 9_870_785,
			Dedupe: DedupeFirestore, FirestoreDB: "hooks-db", FirestoreColl: "deliveries", Confirm: confirmOff, LogLevel: slog.LevelWarn}},
		{name: "every value bad", env: map[string]string{
			"GOOGLE_CLOUD_PROJECT": "", "GEMINI_WEBHOOK_SECRET": "whsec_!!not-base64!!", "GEMINI_TOPIC_PREFIX": "goog-x", "GEMINI_JWKS_URL": "ftp://x",
			"GEMINI_DYNAMIC_WEBHOOKS": "maybe", "GEMINI_TIMESTAMP_TOLERANCE": "25h", "GEMINI_MAX_BODY_BYTES": "1023",
			"GEMINI_DEDUPE": "redis", "GEMINI_FIRESTORE_DATABASE": "Default", "GEMINI_FIRESTORE_COLLECTION": "a/b",
			"GEMINI_LOG_LEVEL": "verbose",
		}, wantErr: []string{"GOOGLE_CLOUD_PROJECT", "GEMINI_WEBHOOK_SECRET", "GEMINI_TOPIC_PREFIX", "GEMINI_JWKS_URL",
			"GEMINI_DYNAMIC_WEBHOOKS", "GEMINI_TIMESTAMP_TOLERANCE", "GEMINI_MAX_BODY_BYTES",
			"GEMINI_DEDUPE", "GEMINI_FIRESTORE_DATABASE", "GEMINI_FIRESTORE_COLLECTION", "GEMINI_LOG_LEVEL"}},
		{name: "body limit above what always fits Pub/Sub", env: map[string]string{"GEMINI_MAX_BODY_BYTES": "9870786"},
			wantErr: []string{"GEMINI_MAX_BODY_BYTES", "between 1024 and 9870785"}},
		{name: "collection ids Firestore refuses", env: map[string]string{"GEMINI_FIRESTORE_COLLECTION": "__x__"},
			wantErr: []string{"GEMINI_FIRESTORE_COLLECTION"}},
		{name: "nothing to verify", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "", "GEMINI_DYNAMIC_WEBHOOKS": "off"},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET"}},
		{name: "nothing to verify, auto without audience", env: map[string]string{"GEMINI_WEBHOOK_SECRET": ""},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET", "GEMINI_JWT_AUDIENCE"}},
		{name: "dynamic on without audience, with the other problems", env: map[string]string{"GEMINI_DYNAMIC_WEBHOOKS": "on", "GEMINI_MAX_BODY_BYTES": "x"},
			wantErr: []string{"GEMINI_DYNAMIC_WEBHOOKS", "GEMINI_JWT_AUDIENCE", "GEMINI_MAX_BODY_BYTES"}},

		// GEMINI_WEBHOOK_SECRET: a whsec_ list, or a Secret Manager name.
		{name: "secret version name", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "projects/p/secrets/s/versions/3"},
			want: config{Project: "p", Secret: "projects/p/secrets/s/versions/3", TopicPrefix: DefaultTopicPrefix, JWKSURL: DefaultJWKSURL, Tolerance: 5 * time.Minute, MaxBodyBytes: 1 << 20, Confirm: confirmOff, Dedupe: DedupeMemory, FirestoreDB: DefaultFirestoreDatabase, FirestoreColl: DefaultFirestoreColl}},
		{name: "literal secrets", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_c2VjcmV0"},
			want: config{Project: "p", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_c2VjcmV0", TopicPrefix: DefaultTopicPrefix, JWKSURL: DefaultJWKSURL, Tolerance: 5 * time.Minute, MaxBodyBytes: 1 << 20, Confirm: confirmOff, Dedupe: DedupeMemory, FirestoreDB: DefaultFirestoreDatabase, FirestoreColl: DefaultFirestoreColl}},
		{name: "mistyped secret name", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "projects/p/secrets", "GEMINI_TOPIC_PREFIX": "goog"},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET", "projects/P/secrets/S", "GEMINI_TOPIC_PREFIX"}},
		{name: "secret name with a trailing part", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "projects/p/secrets/s/versions"},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET"}},
		{name: "bare base64 secret", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET", "whsec_"}},
		{name: "literal list with a bare entry", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw c2VjcmV0"},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET", "secret 2"}},
		{name: "tolerance bounds", env: map[string]string{"GEMINI_TIMESTAMP_TOLERANCE": "999ms"}, wantErr: []string{"between 1s and 24h"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			got, err := loadConfig(func(k string) string { return env[k] })
			if len(tc.wantErr) == 0 {
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("loadConfig = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("loadConfig accepted %v", tc.env)
			}
			msg := err.Error()
			for _, w := range tc.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %s", msg, w)
				}
			}
			if strings.ContainsAny(msg, "\r\n") || strings.Contains(msg, "not-base64") || strings.Contains(msg, "MfKQ9r8") || strings.Contains(msg, "c2VjcmV0") {
				t.Errorf("error %q spans lines or quotes the secret", msg)
			}
		})
	}
}

// TestDynamicWebhooksConfig is the matrix of GEMINI_DYNAMIC_WEBHOOKS
// (unset, auto, on, off) and GEMINI_JWT_AUDIENCE (set, unset): dynamic
// webhooks are on exactly when asked for or, by default, when an audience
// is set, and "on" without an audience is a configuration error.
func TestDynamicWebhooksConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode, audience string
		want           bool
		wantErr        bool
	}{
		{"", "", false, false},
		{"", "https://a.example/hook", true, false},
		{"auto", "", false, false},
		{"AUTO", "https://a.example/hook", true, false},
		{"on", "", false, true},
		{"on", " , ", false, true},
		{"on", "https://a.example/hook", true, false},
		{"true", "https://a.example/hook", true, false},
		{"off", "", false, false},
		{"off", "https://a.example/hook", false, false},
		{"no", "https://a.example/hook", false, false},
	} {
		env := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "GEMINI_WEBHOOK_SECRET": testSecret,
			"GEMINI_DYNAMIC_WEBHOOKS": tc.mode, "GEMINI_JWT_AUDIENCE": tc.audience}
		c, err := loadConfig(func(k string) string { return env[k] })
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "GEMINI_DYNAMIC_WEBHOOKS") || !strings.Contains(err.Error(), "GEMINI_JWT_AUDIENCE") {
				t.Errorf("mode %q audience %q: error %v, want one naming both variables", tc.mode, tc.audience, err)
			}
			continue
		}
		if err != nil || c.DynamicWebhooks != tc.want {
			t.Errorf("mode %q audience %q: dynamic %v, %v; want %v", tc.mode, tc.audience, c.DynamicWebhooks, err, tc.want)
		}
	}
}

// validFirestoreDatabase accepts "(default)" and exactly the ids Firestore's
// documented pattern accepts: every byte in every position, and the length
// limits on both sides.
func TestFirestoreDatabaseIDMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-z][a-z0-9-]{2,61}[a-z0-9]$`)
	inputs := []string{DefaultFirestoreDatabase, "(Default)", "", "hooks-db", "Hooks-db", "1ooks", "hook-", "abcd"}
	for c := range 256 {
		b := string([]byte{byte(c)})
		inputs = append(inputs, "ab"+b+"d", b+"bcd", "abc"+b)
	}
	for _, n := range []int{2, 3, 4, 5, 62, 63, 64, 65} {
		inputs = append(inputs, strings.Repeat("a", n), "a"+strings.Repeat("-", max(n-2, 0))+"a")
	}
	for _, in := range inputs {
		want := in == DefaultFirestoreDatabase || re.MatchString(in)
		if got := validFirestoreDatabase(in); got != want {
			t.Errorf("validFirestoreDatabase(%q) = %v, want %v", in, got, want)
		}
	}
}
