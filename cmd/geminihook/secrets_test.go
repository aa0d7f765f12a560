package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

func TestSecretNames(t *testing.T) {
	tests := []struct {
		in, secret, version string
		ok                  bool
	}{
		{"projects/p/secrets/s", "projects/p/secrets/s", "", true},
		{" projects/p/secrets/s/versions/3 ", "projects/p/secrets/s", "3", true},
		{"projects/p/secrets/s/versions/latest", "projects/p/secrets/s", "latest", true},
		{"projects//secrets/s", "", "", false},
		{"projects/p/secrets/", "", "", false},
		{"projects/p/secrets/s/versions/", "", "", false},
		{"projects/p/topics/s", "", "", false},
		{"s", "", "", false},
	}
	for _, tt := range tests {
		secret, version, err := parseSecretName(tt.in)
		if (err == nil) != tt.ok || secret != tt.secret || version != tt.version {
			t.Errorf("parseSecretName(%q) = %q, %q, %v", tt.in, secret, version, err)
		}
	}
	if v, err := secretVersionName("projects/p/secrets/s"); err != nil || v != "projects/p/secrets/s/versions/latest" {
		t.Errorf("secretVersionName = %q, %v", v, err)
	}
}

func TestSortVersionsNewestFirst(t *testing.T) {
	var vs []*secretmanagerpb.SecretVersion
	for _, n := range []string{"2", "10", "1", "9"} {
		vs = append(vs, &secretmanagerpb.SecretVersion{Name: "projects/p/secrets/s/versions/" + n})
	}
	sortVersionsNewestFirst(vs)
	var got []int
	for _, v := range vs {
		got = append(got, versionNumber(v.Name))
	}
	if !slices.Equal(got, []int{10, 9, 2, 1}) {
		t.Fatalf("order %v", got)
	}
	if versionNumber("projects/p/secrets/s/versions/latest") != 0 {
		t.Fatal("alias numbered")
	}
}

// The hand-written part matchers accept exactly what the documented
// patterns accept: every byte at every position class, and the length
// limits on both sides.
func TestSecretNamePartsMatchPatterns(t *testing.T) {
	patterns := []struct {
		name string
		fn   func(string) bool
		re   *regexp.Regexp
	}{
		{"project", isProjectPart, regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]{0,99}$`)},
		{"secret", isSecretPart, regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)},
		{"version", isVersionPart, regexp.MustCompile(`^([1-9][0-9]{0,18}|latest)$`)},
	}
	var inputs []string
	for c := range 256 {
		b := string(rune(c))
		if c >= 0x80 {
			b = string([]byte{byte(c)})
		}
		inputs = append(inputs, b, "a"+b, b+"1", "1"+b+"2")
	}
	for _, n := range []int{0, 1, 18, 19, 20, 99, 100, 101, 254, 255, 256} {
		inputs = append(inputs, strings.Repeat("a", n), strings.Repeat("9", n), "1"+strings.Repeat("0", max(n-1, 0)))
	}
	inputs = append(inputs, "latest", "Latest", "latest1", "0", "01", "my-project", "example.com:p", "-p", "p-", "s_1-A", "é")
	for _, p := range patterns {
		for _, in := range inputs {
			if got, want := p.fn(in), p.re.MatchString(in); got != want {
				t.Errorf("%s part %q: matcher says %v, pattern %v", p.name, in, got, want)
			}
		}
	}
}

func TestStripANSI(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                       "plain",
		"\x1b[1;32mprojects/p\x1b[0m": "projects/p",
		"a\x1b[Kb":                    "ab",
		"\x1b]not a colour":           "\x1b]not a colour",
	} {
		if got := stripANSI(in); got != want {
			t.Errorf("stripANSI(%q) = %q, want %q", in, got, want)
		}
	}
}
