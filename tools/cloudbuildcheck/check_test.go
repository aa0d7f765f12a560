package cloudbuildcheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testConfig   = "cloudbuild.yaml"
	deployConfig = "terraform/cloudbuild.yaml"
)

// repoConfig is one of the project's own build configurations; the broken
// copies below are made from them, so the checks are proven against the
// real files.
func repoConfig(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRepositoryConfigsPass(t *testing.T) {
	for name, want := range map[string]string{
		testConfig:   "go-vet,go-test,tf-fmt,tf-init,tf-validate,tf-test",
		deployConfig: "tf-init,tf-plan,tf-apply",
	} {
		b, err := Check([]byte(repoConfig(t, name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids := []string{}
		for _, s := range b.GetSteps() {
			ids = append(ids, s.GetId())
		}
		if got := strings.Join(ids, ","); got != want {
			t.Errorf("%s: step ids = %s, want %s", name, got, want)
		}
		if b.GetServiceAccount() == "" || b.GetTimeout().AsDuration() == 0 {
			t.Errorf("%s: serviceAccount %q timeout %v: both must be set", name, b.GetServiceAccount(), b.GetTimeout())
		}
	}
}

// The test build and the deploy build run as different accounts.
func TestTestsAndDeployUseDifferentAccounts(t *testing.T) {
	test, err := Parse([]byte(repoConfig(t, testConfig)))
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := Parse([]byte(repoConfig(t, deployConfig)))
	if err != nil {
		t.Fatal(err)
	}
	if test.GetServiceAccount() == deploy.GetServiceAccount() {
		t.Fatalf("both builds run as %s", test.GetServiceAccount())
	}
}

// Each case breaks a real file in one way and names the error it expects.
func TestBrokenCopiesFail(t *testing.T) {
	const tfImage = "mirror.gcr.io/hashicorp/terraform:1.15.8@sha256:7ae513256f7ce67879e218ae8593d6fbe216ec9e123abe6c94e4e10704857963\n    dir: terraform\n    args: [fmt"
	tests := []struct {
		name      string
		file      string
		old, new  string
		wantError string
	}{
		{
			name:      "misspelt step field",
			file:      deployConfig,
			old:       "    waitFor: [tf-init]\n",
			new:       "    waitfor: [tf-init]\n",
			wantError: `unknown field "waitfor"`,
		},
		{
			name:      "unknown top-level field",
			file:      testConfig,
			old:       "timeout: 1800s\n",
			new:       "timeout: 1800s\nmachineType: E2_HIGHCPU_8\n",
			wantError: `unknown field "machineType"`,
		},
		{
			name:      "misspelt option value",
			file:      testConfig,
			old:       "logging: CLOUD_LOGGING_ONLY",
			new:       "logging: CLOUD_LOGGING",
			wantError: "CLOUD_LOGGING",
		},
		{
			name:      "wrong type",
			file:      testConfig,
			old:       "timeout: 1800s\n",
			new:       "timeout: 1800\n",
			wantError: "unexpected token 1800",
		},
		{
			name:      "undeclared substitution",
			file:      deployConfig,
			old:       "-var=region=${_REGION}",
			new:       "-var=region=${_ZONE}",
			wantError: "$_ZONE is used but not declared",
		},
		{
			name:      "undeclared substitution without braces",
			file:      deployConfig,
			old:       "-var=region=${_REGION}",
			new:       "-var=region=$_REGION -var=zone=$_ZONE",
			wantError: "$_ZONE is used but not declared",
		},
		{
			name:      "declared substitution unused",
			file:      deployConfig,
			old:       "  _REGION: us-central1\n",
			new:       "  _REGION: us-central1\n  _UNUSED: x\n",
			wantError: "_UNUSED is declared but never used",
		},
		{
			name:      "waitFor a later step",
			file:      deployConfig,
			old:       "    waitFor: [tf-init]\n",
			new:       "    waitFor: [tf-apply]\n",
			wantError: `waitFor "tf-apply" is not the id of an earlier step`,
		},
		{
			name:      "waitFor an unknown step",
			file:      testConfig,
			old:       "    waitFor: [go-vet]\n",
			new:       "    waitFor: [go-vets]\n",
			wantError: `waitFor "go-vets" is not the id of an earlier step`,
		},
		{
			name:      "image by tag only",
			file:      testConfig,
			old:       tfImage,
			new:       "mirror.gcr.io/hashicorp/terraform:1.15.8\n    dir: terraform\n    args: [fmt",
			wantError: "add @sha256:<digest>",
		},
		{
			name:      "image from Docker Hub",
			file:      testConfig,
			old:       tfImage,
			new:       "hashicorp/terraform:1.15.8@sha256:7ae513256f7ce67879e218ae8593d6fbe216ec9e123abe6c94e4e10704857963\n    dir: terraform\n    args: [fmt",
			wantError: "pull from mirror.gcr.io",
		},
		{
			name:      "short digest",
			file:      testConfig,
			old:       tfImage,
			new:       "mirror.gcr.io/hashicorp/terraform@sha256:7ae513\n    dir: terraform\n    args: [fmt",
			wantError: "digest must be sha256:<64 hex digits>",
		},
		{
			name:      "user service account without log destination",
			file:      deployConfig,
			old:       "  logging: CLOUD_LOGGING_ONLY\n",
			new:       "  logging: LEGACY\n",
			wantError: "serviceAccount is set but logs go to the default bucket",
		},
		{
			name:      "duplicate step id",
			file:      testConfig,
			old:       "  - id: go-test\n",
			new:       "  - id: go-vet\n",
			wantError: "duplicate id",
		},
		{
			name:      "tests in the deploy build",
			file:      deployConfig,
			old:       "    waitFor: [tf-plan]\n",
			new:       "    waitFor: [tf-plan]\n\n  - id: go-test\n    name: mirror.gcr.io/library/golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d\n    entrypoint: go\n    args: [test, ./...]\n",
			wantError: "run tests and steps [tf-apply] apply Terraform in the same build",
		},
		{
			name:      "apply in the test build",
			file:      testConfig,
			old:       "    args: [test]\n",
			new:       "    args: [apply, -auto-approve]\n",
			wantError: "steps [go-test] run tests and steps [tf-test] apply Terraform",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := repoConfig(t, tt.file)
			if strings.Count(good, tt.old) != 1 {
				t.Fatalf("%s has %d occurrences of %q, want exactly 1: update this case", tt.file, strings.Count(good, tt.old), tt.old)
			}
			broken := strings.Replace(good, tt.old, tt.new, 1)
			_, err := Check([]byte(broken))
			if err == nil {
				t.Fatal("Check accepted the broken copy")
			}
			if !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("Check error = %v, want one containing %q", err, tt.wantError)
			}
		})
	}
}

func TestCheckImage(t *testing.T) {
	const digest = "@sha256:7ae513256f7ce67879e218ae8593d6fbe216ec9e123abe6c94e4e10704857963"
	for image, want := range map[string]error{
		"mirror.gcr.io/library/golang:1.26.8-bookworm" + digest:       nil,
		"mirror.gcr.io/hashicorp/terraform" + digest:                  nil,
		"gcr.io/cloud-builders/gcloud" + digest:                       nil,
		"us-docker.pkg.dev/my-project/tools/terraform:1.15" + digest:  nil,
		"europe-west1-docker.pkg.dev/my-project/tools/go" + digest:    nil,
		"mirror.gcr.io/library/golang:1.26.8-bookworm":                ErrImageNotPinned,
		"gcr.io/cloud-builders/gcloud:latest":                         ErrImageNotPinned,
		"mirror.gcr.io/library/golang@sha256:abcd":                    ErrImageNotPinned,
		"mirror.gcr.io/library/golang@md5:" + strings.Repeat("a", 64): ErrImageNotPinned,
		"golang:1.26.8-bookworm" + digest:                             ErrImageNotGoogleHosted,
		"hashicorp/terraform" + digest:                                ErrImageNotGoogleHosted,
		"docker.io/hashicorp/terraform" + digest:                      ErrImageNotGoogleHosted,
		"ghcr.io/org/img" + digest:                                    ErrImageNotGoogleHosted,
		"gcr.io.evil.example/img" + digest:                            ErrImageNotGoogleHosted,
		"$_IMAGE":                                                     ErrImageNotPinned,
	} {
		err := checkImage(image)
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("checkImage(%q) = %v, want %v", image, err, want)
		}
	}
	if err := checkImage(""); err == nil {
		t.Error("checkImage(\"\") accepted an empty image")
	}
}

func TestEscapedDollarIsNotASubstitution(t *testing.T) {
	config := `
steps:
  - id: echo
    name: mirror.gcr.io/library/bash:5.2@sha256:7ae513256f7ce67879e218ae8593d6fbe216ec9e123abe6c94e4e10704857963
    args: [-c, 'echo $$HOME $${_NOT_A_SUB}']
`
	if _, err := Check([]byte(config)); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestNotYAML(t *testing.T) {
	if _, err := Check([]byte("steps: [\n")); err == nil {
		t.Fatal("Check accepted malformed YAML")
	}
}
