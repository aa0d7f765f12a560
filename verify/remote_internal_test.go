package verify

import (
	"testing"
	"time"
)

func TestEffectiveMaxAge(t *testing.T) {
	k := NewRemoteKeySet("http://127.0.0.1/", RemoteKeySetOptions{})
	tests := map[string]time.Duration{
		"":                             time.Hour,
		"no-cache":                     time.Hour,
		"public, max-age=120":          120 * time.Second,
		"max-age=10":                   time.Minute, // never below MinRefreshInterval
		"MAX-AGE=86400":                time.Hour,   // never above MaxAge
		`max-age="300"`:                300 * time.Second,
		"max-age=abc":                  time.Hour,
		"max-age=-5":                   time.Hour,
		"s-maxage=5, max-age=600":      600 * time.Second,
		"max-age=600, must-revalidate": 600 * time.Second,
	}
	for cc, want := range tests {
		if got := k.effectiveMaxAge(cc); got != want {
			t.Errorf("effectiveMaxAge(%q) = %s, want %s", cc, got, want)
		}
	}
}
