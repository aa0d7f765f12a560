package secrets

import (
	"regexp"
	"testing"
)

// TestNamesMatchTheirPatterns checks the hand-written name matchers
// against the patterns they replace, on names and near misses.
func TestNamesMatchTheirPatterns(t *testing.T) {
	secretRE := regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+$`)
	versionRE := regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+/versions/[^/]+$`)
	for _, s := range []string{
		"projects/p/secrets/s", "projects/p/secrets/s/versions/3", "projects/p/secrets/s/versions/latest",
		"", "projects", "projects/", "projects/p", "projects/p/", "projects/p/secrets", "projects/p/secrets/",
		"projects//secrets/s", "projects/p/secrets/s/", "projects/p/secrets/s/versions", "projects/p/secrets/s/versions/",
		"projects/p/secrets/s/versions/1/", "projects/p/secrets/s/versions/1/x", "projects/p/secret/s", "Projects/p/secrets/s",
		" projects/p/secrets/s", "projects/p/secrets/s\n", "projects/p\n/secrets/s", "xprojects/p/secrets/s",
		"projects/p/versions/s", "projects/p/secrets/s/secrets/t", "whsec_abc", "projects/a/b/secrets/s",
	} {
		if got, want := isSecretName(s), secretRE.MatchString(s); got != want {
			t.Errorf("isSecretName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isVersionName(s), versionRE.MatchString(s); got != want {
			t.Errorf("isVersionName(%q) = %v, want %v", s, got, want)
		}
	}
}
