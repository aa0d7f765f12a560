package geminihook

import (
	"reflect"
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
			DynamicWebhooks: true, Tolerance: 5 * time.Minute, MaxBodyBytes: 1 << 20,
			Dedupe: DedupeMemory, FirestoreDB: "(default)", FirestoreColl: "geminihook-deliveries"}},
		{name: "everything set", env: map[string]string{
			"GEMINI_TOPIC_PREFIX": "hooks_", "GEMINI_JWKS_URL": "http://127.0.0.1:1/jwks", "GEMINI_JWT_AUDIENCE": " a, ,b ",
			"GEMINI_JWT_ISSUER": "iss", "GEMINI_DYNAMIC_WEBHOOKS": "OFF", "GEMINI_TIMESTAMP_TOLERANCE": "90s", "GEMINI_MAX_BODY_BYTES": "9870785",
			"GEMINI_DEDUPE": "Firestore", "GEMINI_FIRESTORE_DATABASE": "hooks-db", "GEMINI_FIRESTORE_COLLECTION": "deliveries",
		}, want: config{Project: "p", Secret: testSecret, TopicPrefix: "hooks_", JWKSURL: "http://127.0.0.1:1/jwks", Audiences: []string{"a", "b"},
			Issuer: "iss", DynamicWebhooks: false, Tolerance: 90 * time.Second, MaxBodyBytes: 9_870_785,
			Dedupe: DedupeFirestore, FirestoreDB: "hooks-db", FirestoreColl: "deliveries"}},
		{name: "every value bad", env: map[string]string{
			"GOOGLE_CLOUD_PROJECT": "", "GEMINI_WEBHOOK_SECRET": "whsec_!!not-base64!!", "GEMINI_TOPIC_PREFIX": "goog-x", "GEMINI_JWKS_URL": "ftp://x",
			"GEMINI_DYNAMIC_WEBHOOKS": "maybe", "GEMINI_TIMESTAMP_TOLERANCE": "25h", "GEMINI_MAX_BODY_BYTES": "1023",
			"GEMINI_DEDUPE": "redis", "GEMINI_FIRESTORE_DATABASE": "Default", "GEMINI_FIRESTORE_COLLECTION": "a/b",
		}, wantErr: []string{"GOOGLE_CLOUD_PROJECT", "GEMINI_WEBHOOK_SECRET", "GEMINI_TOPIC_PREFIX", "GEMINI_JWKS_URL",
			"GEMINI_DYNAMIC_WEBHOOKS", "GEMINI_TIMESTAMP_TOLERANCE", "GEMINI_MAX_BODY_BYTES",
			"GEMINI_DEDUPE", "GEMINI_FIRESTORE_DATABASE", "GEMINI_FIRESTORE_COLLECTION"}},
		{name: "body limit above what always fits Pub/Sub", env: map[string]string{"GEMINI_MAX_BODY_BYTES": "9870786"},
			wantErr: []string{"GEMINI_MAX_BODY_BYTES", "between 1024 and 9870785"}},
		{name: "collection ids Firestore refuses", env: map[string]string{"GEMINI_FIRESTORE_COLLECTION": "__x__"},
			wantErr: []string{"GEMINI_FIRESTORE_COLLECTION"}},
		{name: "nothing to verify", env: map[string]string{"GEMINI_WEBHOOK_SECRET": "", "GEMINI_DYNAMIC_WEBHOOKS": "off"},
			wantErr: []string{"GEMINI_WEBHOOK_SECRET"}},
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
			if strings.ContainsAny(msg, "\r\n") || strings.Contains(msg, "not-base64") {
				t.Errorf("error %q spans lines or quotes the secret", msg)
			}
		})
	}
}
