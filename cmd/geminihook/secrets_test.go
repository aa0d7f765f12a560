package main

import (
	"slices"
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
