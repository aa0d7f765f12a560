// Package tfinventory lists the resources a Terraform module declares and
// checks geminihook's policy on them: which IAM grants may exist (and with
// which roles), which project-level grants must be narrowed by an IAM
// condition, that the function waits for the grants it needs to propagate,
// and that no secret value can reach Terraform state.
//
// `tofu test` can assert on resources it knows by name, but cannot notice a
// resource that should not be there; this static check closes that gap.
package tfinventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Block is one resource, data or ephemeral block of a module.
type Block struct {
	// Kind is "resource", "data" or "ephemeral".
	Kind string
	// Type and Name are the block's two labels.
	Type, Name string
	// Role is the literal value of the block's role argument, or "" when it
	// has none or it is not a literal string.
	Role string
	// Conditioned reports whether the block has a literal condition block
	// (an IAM condition), not a dynamic one.
	Conditioned bool
	// DependsOn lists the addresses named in the block's depends_on, e.g.
	// time_sleep.iam_propagation.
	DependsOn []string
	// Pos is where the block starts, as file:line.
	Pos string
}

// Address returns the block's address, e.g. google_pubsub_topic.family or
// data.google_project.this.
func (b Block) Address() string {
	switch b.Kind {
	case "resource":
		return b.Type + "." + b.Name
	default:
		return b.Kind + "." + b.Type + "." + b.Name
	}
}

// Inventory parses every *.tf file directly in dir (not in subdirectories)
// and returns its resource, data and ephemeral blocks sorted by address.
func Inventory(dir string) ([]Block, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	var blocks []Block
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read module file: %w", err)
		}
		f, diags := hclsyntax.ParseConfig(src, filepath.Base(path), hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", path, diags)
		}
		body := f.Body.(*hclsyntax.Body)
		for _, blk := range body.Blocks {
			switch blk.Type {
			case "resource", "data", "ephemeral":
			default:
				continue
			}
			if len(blk.Labels) != 2 {
				return nil, fmt.Errorf("%s: %s block with %d labels", blk.DefRange(), blk.Type, len(blk.Labels))
			}
			b := Block{
				Kind: blk.Type,
				Type: blk.Labels[0],
				Name: blk.Labels[1],
				Pos:  fmt.Sprintf("%s:%d", filepath.Base(path), blk.DefRange().Start.Line),
			}
			for _, inner := range blk.Body.Blocks {
				if inner.Type == "condition" {
					b.Conditioned = true
				}
			}
			if attr, ok := blk.Body.Attributes["depends_on"]; ok {
				for _, tr := range attr.Expr.Variables() {
					parts := make([]string, 0, len(tr))
					for _, step := range tr {
						switch st := step.(type) {
						case hcl.TraverseRoot:
							parts = append(parts, st.Name)
						case hcl.TraverseAttr:
							parts = append(parts, st.Name)
						}
					}
					b.DependsOn = append(b.DependsOn, strings.Join(parts, "."))
				}
			}
			if attr, ok := blk.Body.Attributes["role"]; ok {
				if v, diags := attr.Expr.Value(nil); !diags.HasErrors() && v.Type().FriendlyName() == "string" && v.IsKnown() && !v.IsNull() {
					b.Role = v.AsString()
				}
			}
			blocks = append(blocks, b)
		}
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].Address() < blocks[j].Address() })
	return blocks, nil
}

// Grants is geminihook's least-privilege set: every IAM resource the module
// may declare, with the one role it must grant.
var Grants = map[string]string{
	// The runtime account.
	"google_pubsub_topic_iam_member.runtime_publisher":                 "roles/pubsub.publisher",
	"google_secret_manager_secret_iam_member.runtime_accessor":         "roles/secretmanager.secretAccessor",
	"google_secret_manager_secret_iam_member.runtime_viewer":           "roles/secretmanager.viewer",
	"google_project_iam_member.runtime_log_writer":                     "roles/logging.logWriter",
	"google_project_iam_member.runtime_firestore_user":                 "roles/datastore.user",
	"google_secret_manager_secret_iam_member.runtime_api_key_accessor": "roles/secretmanager.secretAccessor",
	"google_service_account_iam_member.deployer_act_as":                "roles/iam.serviceAccountUser",
	// The build account.
	"google_project_iam_member.build_log_writer":                  "roles/logging.logWriter",
	"google_artifact_registry_repository_iam_member.build_writer": "roles/artifactregistry.writer",
	"google_storage_bucket_iam_member.build_source_reader":        "roles/storage.objectViewer",
	"google_project_iam_member.build_gcf_sources_reader":          "roles/storage.objectViewer",
	// The Pub/Sub service agent, for dead-lettering.
	"google_pubsub_topic_iam_member.dead_letter_publisher":         "roles/pubsub.publisher",
	"google_pubsub_subscription_iam_member.dead_letter_subscriber": "roles/pubsub.subscriber",
	// allUsers, on the function's Cloud Run service (var.public_invoker).
	"google_cloud_run_v2_service_iam_member.public_invoker": "roles/run.invoker",
}

// forbiddenTypes may not appear as resource, data or ephemeral blocks:
// each would put the signing secret's value into Terraform state or plans.
// Conditioned lists the grants of Grants that are made on the whole project
// for want of a narrower resource and must therefore carry an IAM condition
// naming the one resource they are for.
var Conditioned = map[string]bool{
	"google_project_iam_member.build_gcf_sources_reader": true,
	"google_project_iam_member.runtime_firestore_user":   true,
}

// Propagation is the resource that waits for new grants to propagate, and
// Function the resource that must wait for it.
const (
	Propagation = "time_sleep.iam_propagation"
	Function    = "google_cloudfunctions2_function.webhook"
)

// notWaitedFor lists the grants of Grants that neither the function's build
// nor its first instance needs, so Propagation need not wait for them.
var notWaitedFor = map[string]bool{
	"google_pubsub_topic_iam_member.dead_letter_publisher":         true,
	"google_pubsub_subscription_iam_member.dead_letter_subscriber": true,
	"google_cloud_run_v2_service_iam_member.public_invoker":        true,
}

var forbiddenTypes = []string{"google_secret_manager_secret_version"}

// isIAM reports whether a resource type changes IAM policy.
func isIAM(typ string) bool {
	return strings.Contains(typ, "_iam_") || strings.HasSuffix(typ, "_iam_policy") ||
		strings.HasPrefix(typ, "google_organization_iam") || strings.HasPrefix(typ, "google_folder_iam")
}

// Check applies the policy to blocks: the IAM resources are exactly Grants,
// each with its role as a literal, and no forbidden type appears. It returns
// every violation, joined.
func Check(blocks []Block) error {
	var errs []error
	found := map[string]bool{}
	for _, b := range blocks {
		for _, t := range forbiddenTypes {
			if b.Type == t {
				errs = append(errs, fmt.Errorf("%s: %s would store the secret's value in state; add it with `geminihook register` or gcloud instead", b.Pos, b.Address()))
			}
		}
		if b.Kind != "resource" || !isIAM(b.Type) {
			continue
		}
		want, ok := Grants[b.Address()]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %s is not in the least-privilege set", b.Pos, b.Address()))
		case b.Role != want:
			errs = append(errs, fmt.Errorf("%s: %s grants %q, want %q", b.Pos, b.Address(), b.Role, want))
		}
		if Conditioned[b.Address()] && !b.Conditioned {
			errs = append(errs, fmt.Errorf("%s: %s is a project-level grant and must carry a condition naming its one resource", b.Pos, b.Address()))
		}
		found[b.Address()] = true
	}
	errs = append(errs, checkPropagation(blocks)...)
	missing := []string{}
	for addr := range Grants {
		if !found[addr] {
			missing = append(missing, addr)
		}
	}
	sort.Strings(missing)
	for _, addr := range missing {
		errs = append(errs, fmt.Errorf("%s is missing from the module", addr))
	}
	return errors.Join(errs...)
}

// checkPropagation verifies that Function depends on Propagation and that
// Propagation depends on every grant the function's build and first
// instance need.
func checkPropagation(blocks []Block) []error {
	var errs []error
	byAddr := map[string]Block{}
	for _, b := range blocks {
		byAddr[b.Address()] = b
	}
	fn, ok := byAddr[Function]
	if !ok {
		return []error{fmt.Errorf("%s is missing from the module", Function)}
	}
	if !contains(fn.DependsOn, Propagation) {
		errs = append(errs, fmt.Errorf("%s: %s must wait for %s (depends_on), or its build races its grants", fn.Pos, Function, Propagation))
	}
	wait, ok := byAddr[Propagation]
	if !ok {
		return append(errs, fmt.Errorf("%s is missing from the module", Propagation))
	}
	need := make([]string, 0, len(Grants))
	for addr := range Grants {
		if !notWaitedFor[addr] && !contains(wait.DependsOn, addr) {
			need = append(need, addr)
		}
	}
	sort.Strings(need)
	for _, addr := range need {
		errs = append(errs, fmt.Errorf("%s: %s must wait for %s (depends_on)", wait.Pos, Propagation, addr))
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
