// Package cloudbuildcheck checks a Cloud Build configuration file offline.
//
// Check converts the YAML to JSON and decodes it strictly into the Cloud
// Build API's own Build message, so an unknown or misspelt field is an error
// exactly as it is for `gcloud builds submit`. It then checks what the API
// only finds out when a build runs: that every waitFor names an earlier step,
// that every substitution used is declared (or built in) and every declared
// one is used, that every step image comes from a Google-hosted registry
// and is pinned by digest, that a build run as a user-specified service
// account sends its logs somewhere it may write, and that no build both runs
// tests and applies Terraform (test code must never share a build, and so
// credentials, with a deploy).
package cloudbuildcheck

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// Builtins are the substitutions Cloud Build provides itself.
var Builtins = []string{
	"BRANCH_NAME", "BUILD_ID", "COMMIT_SHA", "LOCATION", "PROJECT_ID",
	"PROJECT_NUMBER", "REF_NAME", "REPO_FULL_NAME", "REPO_NAME", "REVISION_ID",
	"SERVICE_ACCOUNT", "SERVICE_ACCOUNT_EMAIL", "SHORT_SHA", "TAG_NAME",
	"TRIGGER_BUILD_CONFIG_PATH", "TRIGGER_NAME",
	"_BASE_BRANCH", "_HEAD_BRANCH", "_HEAD_REPO_URL", "_PR_NUMBER",
}

// substitutionRef matches $NAME and ${NAME}; "$$" (a literal dollar) is
// removed before matching.
var substitutionRef = regexp.MustCompile(`\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))`)

// Parse decodes a YAML (or JSON) build configuration strictly into a Build:
// fields the Cloud Build API does not define are an error.
func Parse(config []byte) (*cloudbuildpb.Build, error) {
	js, err := yaml.YAMLToJSON(config)
	if err != nil {
		return nil, fmt.Errorf("convert YAML to JSON: %w", err)
	}
	var b cloudbuildpb.Build
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		return nil, fmt.Errorf("decode as cloudbuild.v1.Build: %w", err)
	}
	return &b, nil
}

// Check parses config and checks it; it returns the build and every problem
// found, joined with errors.Join (nil when there are none).
func Check(config []byte) (*cloudbuildpb.Build, error) {
	b, err := Parse(config)
	if err != nil {
		return nil, err
	}
	return b, CheckBuild(b)
}

// CheckBuild checks a decoded build; see the package documentation.
func CheckBuild(b *cloudbuildpb.Build) error {
	var errs []error
	if len(b.GetSteps()) == 0 {
		errs = append(errs, errors.New("no steps"))
	}
	errs = append(errs, checkSteps(b)...)
	errs = append(errs, checkSubstitutions(b)...)
	errs = append(errs, checkTestsApart(b)...)
	if b.GetServiceAccount() != "" {
		switch b.GetOptions().GetLogging() {
		case cloudbuildpb.BuildOptions_CLOUD_LOGGING_ONLY, cloudbuildpb.BuildOptions_NONE:
		default:
			if b.GetLogsBucket() == "" {
				errs = append(errs, errors.New("serviceAccount is set but logs go to the default bucket: set options.logging to CLOUD_LOGGING_ONLY or set logsBucket"))
			}
		}
	}
	return errors.Join(errs...)
}

func checkSteps(b *cloudbuildpb.Build) []error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range b.GetSteps() {
		where := fmt.Sprintf("step %d", i)
		if s.GetId() != "" {
			where = fmt.Sprintf("step %d (%s)", i, s.GetId())
			if seen[s.GetId()] {
				errs = append(errs, fmt.Errorf("%s: duplicate id", where))
			}
		} else {
			errs = append(errs, fmt.Errorf("%s: no id", where))
		}
		if err := checkImage(s.GetName()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		for _, w := range s.GetWaitFor() {
			if w == "-" {
				if len(s.GetWaitFor()) > 1 {
					errs = append(errs, fmt.Errorf("%s: waitFor \"-\" must stand alone", where))
				}
				continue
			}
			if !seen[w] {
				errs = append(errs, fmt.Errorf("%s: waitFor %q is not the id of an earlier step", where, w))
			}
		}
		seen[s.GetId()] = true
	}
	return errs
}

// GoogleHosts are the registries a step image may come from: Google's own
// (gcr.io and its regional hosts, Artifact Registry) and mirror.gcr.io,
// Google's mirror of Docker Hub, which spares builds Docker Hub's rate
// limits.
var GoogleHosts = []string{"gcr.io", "mirror.gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io"}

// digestRef matches a sha256 digest reference.
var digestRef = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ErrImageNotPinned and ErrImageNotGoogleHosted are wrapped by checkImage's
// errors.
var (
	ErrImageNotPinned       = errors.New("image not pinned by digest")
	ErrImageNotGoogleHosted = errors.New("image not from a Google-hosted registry")
)

// checkImage requires an image from a Google-hosted registry (GoogleHosts or
// REGION-docker.pkg.dev), pinned by a sha256 digest; a tag may stand beside
// the digest for the reader's sake.
func checkImage(image string) error {
	if image == "" {
		return errors.New("no image (name)")
	}
	if strings.ContainsAny(image, "$") {
		return fmt.Errorf("image %q is chosen by substitution, so it cannot be checked as pinned: %w", image, ErrImageNotPinned)
	}
	host, _, ok := strings.Cut(image, "/")
	if !ok || !(slices.Contains(GoogleHosts, host) || strings.HasSuffix(host, "-docker.pkg.dev")) {
		return fmt.Errorf("image %q: pull from mirror.gcr.io, gcr.io or Artifact Registry: %w", image, ErrImageNotGoogleHosted)
	}
	_, digest, ok := strings.Cut(image, "@")
	if !ok {
		return fmt.Errorf("image %q: add @sha256:<digest>: %w", image, ErrImageNotPinned)
	}
	if !digestRef.MatchString(digest) {
		return fmt.Errorf("image %q: digest must be sha256:<64 hex digits>: %w", image, ErrImageNotPinned)
	}
	return nil
}

// runsGoTest and appliesTerraform recognise the two kinds of step that must
// not share a build, from the step's entrypoint, arguments and script.
func runsGoTest(s *cloudbuildpb.BuildStep) bool {
	words := stepWords(s)
	for i := 0; i+1 < len(words); i++ {
		if strings.HasSuffix(words[i], "go") && words[i+1] == "test" {
			return true
		}
	}
	return false
}

func appliesTerraform(s *cloudbuildpb.BuildStep) bool {
	words := stepWords(s)
	for i := 0; i+1 < len(words); i++ {
		if (strings.HasSuffix(words[i], "terraform") || strings.HasSuffix(words[i], "tofu")) && words[i+1] == "apply" {
			return true
		}
	}
	// terraform images run terraform without an entrypoint.
	return s.GetEntrypoint() == "" && strings.Contains(s.GetName(), "terraform") && len(s.GetArgs()) > 0 && s.GetArgs()[0] == "apply"
}

// stepWords splits a step's entrypoint, arguments and script into words.
func stepWords(s *cloudbuildpb.BuildStep) []string {
	text := strings.Join(append([]string{s.GetEntrypoint()}, append(s.GetArgs(), s.GetScript())...), " ")
	return strings.Fields(text)
}

func checkTestsApart(b *cloudbuildpb.Build) []error {
	var test, apply []string
	for _, s := range b.GetSteps() {
		if runsGoTest(s) {
			test = append(test, s.GetId())
		}
		if appliesTerraform(s) {
			apply = append(apply, s.GetId())
		}
	}
	if len(test) > 0 && len(apply) > 0 {
		return []error{fmt.Errorf("steps %v run tests and steps %v apply Terraform in the same build: test code would run with the deployer's credentials; split them into two builds with different service accounts", test, apply)}
	}
	return nil
}

func checkSubstitutions(b *cloudbuildpb.Build) []error {
	declared := b.GetSubstitutions()
	var errs []error
	for name := range declared {
		if !strings.HasPrefix(name, "_") {
			errs = append(errs, fmt.Errorf("substitution %q: user-defined substitutions must start with an underscore", name))
		}
	}

	// Everything but the declarations themselves is scanned.
	body := proto.Clone(b).(*cloudbuildpb.Build)
	body.Substitutions = nil
	js, err := protojson.Marshal(body)
	if err != nil {
		return append(errs, fmt.Errorf("encode build for scanning: %w", err))
	}
	text := strings.ReplaceAll(string(js), "$$", "")
	used := map[string]bool{}
	for _, m := range substitutionRef.FindAllStringSubmatch(text, -1) {
		name := m[1] + m[2]
		used[name] = true
	}
	for _, name := range sortedKeys(used) {
		if _, ok := declared[name]; ok || slices.Contains(Builtins, name) {
			continue
		}
		errs = append(errs, fmt.Errorf("substitution $%s is used but not declared under substitutions (write $$ for a literal dollar)", name))
	}
	for _, name := range sortedKeys(declared) {
		if !used[name] {
			errs = append(errs, fmt.Errorf("substitution %s is declared but never used", name))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
