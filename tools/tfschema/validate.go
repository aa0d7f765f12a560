package tfschema

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// ErrInvalidValue is wrapped by the errors of the value checks below: a
// configuration value the real provider's validator would refuse.
var ErrInvalidValue = errors.New("invalid value")

// The patterns of validateIAMMember in hashicorp/terraform-provider-google
// (google/tpgiamresource/resource_iam_member.go), unanchored as there.
var (
	iamMemberDeleted = regexp.MustCompile("^deleted")
	iamMemberShape   = regexp.MustCompile("(.+:.+|projectOwners|projectReaders|projectWriters|allUsers|allAuthenticatedUsers)")
)

// ValidateIAMMember reports, as the real provider does at plan time, whether
// member may be the member argument of a google_*_iam_member resource: a
// principal such as serviceAccount:x@p.iam.gserviceaccount.com, user:...,
// group:..., allUsers, never a deleted principal. The error wraps
// ErrInvalidValue and quotes the provider's message.
func ValidateIAMMember(member string) error {
	if iamMemberDeleted.MatchString(member) {
		return fmt.Errorf("%w for member (Terraform does not support IAM members for deleted principals)", ErrInvalidValue)
	}
	if !iamMemberShape.MatchString(member) {
		return fmt.Errorf("%w %q for member (IAM members must have one of the values outlined here: https://cloud.google.com/billing/docs/reference/rest/v1/Policy#Binding)", ErrInvalidValue, member)
	}
	return nil
}

// isIAMMemberType reports whether a resource type is one of the provider's
// single-member IAM resources, whose member argument ValidateIAMMember checks.
func isIAMMemberType(typeName string) bool {
	return strings.HasPrefix(typeName, "google_") && strings.HasSuffix(typeName, "_iam_member")
}

// validateValues runs the value checks the schema dump cannot express on a
// resource's configuration. Unknown and null values pass: the real provider
// checks them once they are known.
func validateValues(schema *tfprotov5.Schema, typeName string, config *tfprotov5.DynamicValue) []*tfprotov5.Diagnostic {
	if !isIAMMemberType(typeName) || config == nil {
		return nil
	}
	val, err := config.Unmarshal(schema.ValueType())
	if err != nil {
		return errorDiag("Cannot decode configuration", fmt.Sprintf("Decode configuration of %s: %v", typeName, err))
	}
	var attrs map[string]tftypes.Value
	if !val.IsKnown() || val.IsNull() {
		return nil
	}
	if err := val.As(&attrs); err != nil {
		return errorDiag("Cannot decode configuration", fmt.Sprintf("Read attributes of %s: %v", typeName, err))
	}
	m, ok := attrs["member"]
	if !ok || !m.IsKnown() || m.IsNull() {
		return nil
	}
	var member string
	if err := m.As(&member); err != nil {
		return errorDiag("Cannot decode configuration", fmt.Sprintf("Read member of %s: %v", typeName, err))
	}
	if err := ValidateIAMMember(member); err != nil {
		return []*tfprotov5.Diagnostic{{
			Severity:  tfprotov5.DiagnosticSeverityError,
			Summary:   err.Error(),
			Detail:    "The schema-only provider applies the real provider's validator for this argument; a mocked value that flows here must look like a real principal (e.g. serviceAccount:name@project.iam.gserviceaccount.com).",
			Attribute: tftypes.NewAttributePath().WithAttributeName("member"),
		}}
	}
	return nil
}
