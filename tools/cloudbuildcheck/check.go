// Package cloudbuildcheck checks a Cloud Build configuration file offline.
//
// Check converts the YAML to JSON and decodes it strictly into the Cloud
// Build API's own Build message, so an unknown or misspelt field is an error
// exactly as it is for `gcloud builds submit`. It then checks what the API
// only finds out when a build runs: that every waitFor names an earlier step,
// that every substitution used is declared (or built in) and every declared
// one is used, that every step image is pinned, and that a build run as a
// user-specified service account sends its logs somewhere it may write.
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

// checkImage requires a tag other than latest, or a digest.
func checkImage(image string) error {
	if image == "" {
		return errors.New("no image (name)")
	}
	if strings.ContainsAny(image, "$") {
		return fmt.Errorf("image %q is chosen by substitution, so it cannot be checked as pinned", image)
	}
	if _, digest, ok := strings.Cut(image, "@"); ok {
		if !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("image %q: digest must be sha256", image)
		}
		return nil
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("image %q has no tag: pin a version", image)
	case tag == "latest":
		return fmt.Errorf("image %q uses the latest tag: pin a version", image)
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
