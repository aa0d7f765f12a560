package tfschema

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

func TestValidateIAMMember(t *testing.T) {
	tests := []struct {
		member string
		ok     bool
	}{
		{"serviceAccount:geminihook-run@test-project.iam.gserviceaccount.com", true},
		{"user:alice@example.com", true},
		{"group:ops@example.com", true},
		{"principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*", true},
		{"allUsers", true},
		{"allAuthenticatedUsers", true},
		{"projectOwners", true},
		// What an unconfigured mock_provider returns for a computed string.
		{"z0wyCNiLtl", false},
		{"", false},
		{"geminihook-run@test-project.iam.gserviceaccount.com", false},
		{"deleted:serviceAccount:old@test-project.iam.gserviceaccount.com?uid=1", false},
	}
	for _, tt := range tests {
		err := ValidateIAMMember(tt.member)
		if tt.ok && err != nil {
			t.Errorf("ValidateIAMMember(%q) = %v, want nil", tt.member, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ValidateIAMMember(%q) = %v, want ErrInvalidValue", tt.member, err)
		}
	}
}

// iamMemberConfig encodes a google_pubsub_topic_iam_member configuration
// with the given member, every other attribute null.
func iamMemberConfig(t *testing.T, schema *tfprotov5.Schema, member tftypes.Value) *tfprotov5.DynamicValue {
	t.Helper()
	typ := schema.ValueType().(tftypes.Object)
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
	}
	vals["member"] = member
	vals["role"] = tftypes.NewValue(tftypes.String, "roles/pubsub.publisher")
	dv, err := tfprotov5.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// The server refuses, through the plugin protocol, what the real provider's
// validator refuses, and lets unknown values through to be checked later.
func TestServerValidatesIAMMembers(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "google")
	p, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	const typeName = "google_pubsub_topic_iam_member"
	schema := p.Resources[typeName]
	tests := []struct {
		name    string
		member  tftypes.Value
		wantErr bool
	}{
		{"service account", tftypes.NewValue(tftypes.String, "serviceAccount:a@test-project.iam.gserviceaccount.com"), false},
		{"random mock value", tftypes.NewValue(tftypes.String, "z0wyCNiLtl"), true},
		{"unknown", tftypes.NewValue(tftypes.String, tftypes.UnknownValue), false},
		{"null", tftypes.NewValue(tftypes.String, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.ValidateResourceTypeConfig(ctx, &tfprotov5.ValidateResourceTypeConfigRequest{
				TypeName: typeName,
				Config:   iamMemberConfig(t, schema, tt.member),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := hasError(r.Diagnostics); got != tt.wantErr {
				t.Fatalf("diagnostics %v, want error %v", r.Diagnostics, tt.wantErr)
			}
			if tt.wantErr {
				d := r.Diagnostics[0]
				if !strings.Contains(d.Summary, `invalid value "z0wyCNiLtl" for member`) {
					t.Errorf("summary %q does not quote the provider's message", d.Summary)
				}
				if !d.Attribute.Equal(tftypes.NewAttributePath().WithAttributeName("member")) {
					t.Errorf("diagnostic points at %v, want member", d.Attribute)
				}
			}
		})
	}
}

func TestNewSchemasServed(t *testing.T) {
	for _, tt := range []struct{ provider, resource string }{
		{"time", "time_sleep"},
		{"google-beta", "google_project_service_identity"},
		{"google", "google_firestore_field"},
	} {
		p, err := Load(tt.provider)
		if err != nil {
			t.Fatalf("Load(%s): %v", tt.provider, err)
		}
		if _, ok := p.Resources[tt.resource]; !ok {
			t.Errorf("%s serves no %s", tt.provider, tt.resource)
		}
	}
}
