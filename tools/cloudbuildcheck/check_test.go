package cloudbuildcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoConfig is the project's own cloudbuild.yaml; the broken copies below
// are made from it, so the checks are proven against the real file.
func repoConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRepositoryConfigPasses(t *testing.T) {
	b, err := Check([]byte(repoConfig(t)))
	if err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	ids := []string{}
	for _, s := range b.GetSteps() {
		ids = append(ids, s.GetId())
	}
	want := "go-vet,go-test,tf-fmt,tf-init,tf-validate,tf-plan,tf-apply"
	if got := strings.Join(ids, ","); got != want {
		t.Errorf("step ids = %s, want %s", got, want)
	}
	if b.GetServiceAccount() == "" || b.GetTimeout().AsDuration() == 0 {
		t.Errorf("serviceAccount %q timeout %v: both must be set", b.GetServiceAccount(), b.GetTimeout())
	}
}

// Each case breaks the real file in one way and names the error it expects.
func TestBrokenCopiesFail(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string
		wantError string
	}{
		{
			name:      "misspelt step field",
			old:       "    waitFor: [tf-init]\n",
			new:       "    waitfor: [tf-init]\n",
			wantError: `unknown field "waitfor"`,
		},
		{
			name:      "unknown top-level field",
			old:       "timeout: 1800s\n",
			new:       "timeout: 1800s\nmachineType: E2_HIGHCPU_8\n",
			wantError: `unknown field "machineType"`,
		},
		{
			name:      "misspelt option value",
			old:       "logging: CLOUD_LOGGING_ONLY",
			new:       "logging: CLOUD_LOGGING",
			wantError: "CLOUD_LOGGING",
		},
		{
			name:      "wrong type",
			old:       "timeout: 1800s\n",
			new:       "timeout: 1800\n",
			wantError: "unexpected token 1800",
		},
		{
			name:      "undeclared substitution",
			old:       "-var=region=${_REGION}",
			new:       "-var=region=${_ZONE}",
			wantError: "$_ZONE is used but not declared",
		},
		{
			name:      "undeclared substitution without braces",
			old:       "-var=region=${_REGION}",
			new:       "-var=region=$_REGION -var=zone=$_ZONE",
			wantError: "$_ZONE is used but not declared",
		},
		{
			name:      "declared substitution unused",
			old:       "  _REGION: us-central1\n",
			new:       "  _REGION: us-central1\n  _UNUSED: x\n",
			wantError: "_UNUSED is declared but never used",
		},
		{
			name:      "waitFor a later step",
			old:       "    waitFor: [tf-init]\n",
			new:       "    waitFor: [tf-plan]\n",
			wantError: `waitFor "tf-plan" is not the id of an earlier step`,
		},
		{
			name:      "waitFor an unknown step",
			old:       "    waitFor: [go-test, tf-plan]\n",
			new:       "    waitFor: [go-tests, tf-plan]\n",
			wantError: `waitFor "go-tests" is not the id of an earlier step`,
		},
		{
			name:      "untagged image",
			old:       "name: golang:1.26.8-bookworm\n    entrypoint: go\n    args: [vet",
			new:       "name: golang\n    entrypoint: go\n    args: [vet",
			wantError: `image "golang" has no tag`,
		},
		{
			name:      "latest image",
			old:       "name: golang:1.26.8-bookworm\n    entrypoint: go\n    args: [vet",
			new:       "name: golang:latest\n    entrypoint: go\n    args: [vet",
			wantError: "uses the latest tag",
		},
		{
			name:      "user service account without log destination",
			old:       "  logging: CLOUD_LOGGING_ONLY\n",
			new:       "  logging: LEGACY\n",
			wantError: "serviceAccount is set but logs go to the default bucket",
		},
		{
			name:      "duplicate step id",
			old:       "  - id: go-test\n",
			new:       "  - id: go-vet\n",
			wantError: "duplicate id",
		},
	}
	good := repoConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Count(good, tt.old) != 1 {
				t.Fatalf("cloudbuild.yaml has %d occurrences of %q, want exactly 1: update this case", strings.Count(good, tt.old), tt.old)
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
	for image, ok := range map[string]bool{
		"golang:1.26.8-bookworm":          true,
		"hashicorp/terraform:1.15.5":      true,
		"gcr.io/cloud-builders/gcloud:v1": true,
		"localhost:5000/img":              false,
		"localhost:5000/img:1.0":          true,
		"golang@sha256:abcd":              true,
		"golang@md5:abcd":                 false,
		"gcr.io/cloud-builders/gcloud":    false,
		"golang:latest":                   false,
		"$_IMAGE":                         false,
		"":                                false,
	} {
		if err := checkImage(image); (err == nil) != ok {
			t.Errorf("checkImage(%q) = %v, want ok=%v", image, err, ok)
		}
	}
}

func TestEscapedDollarIsNotASubstitution(t *testing.T) {
	config := `
steps:
  - id: echo
    name: bash:5.2
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
