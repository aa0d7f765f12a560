package tfschema

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

func TestNames(t *testing.T) {
	got, err := Names()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "archive,google,google-beta,random,time" {
		t.Fatalf("Names() = %v, want [archive google google-beta random time]", got)
	}
}

func TestLoadUnknownProvider(t *testing.T) {
	_, err := Load("aws")
	if !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("Load(aws) error = %v, want ErrUnknownProvider", err)
	}
}

func attr(t *testing.T, b *tfprotov5.SchemaBlock, name string) *tfprotov5.SchemaAttribute {
	t.Helper()
	for _, a := range b.Attributes {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("no attribute %q", name)
	return nil
}

func block(t *testing.T, b *tfprotov5.SchemaBlock, name string) *tfprotov5.SchemaNestedBlock {
	t.Helper()
	for _, nb := range b.BlockTypes {
		if nb.TypeName == name {
			return nb
		}
	}
	t.Fatalf("no block %q", name)
	return nil
}

// The schemas the Terraform module relies on come through with their
// attributes, nesting and types intact.
func TestLoadGoogle(t *testing.T) {
	p, err := newServer(t, "google").load()
	if err != nil {
		t.Fatal(err)
	}
	if p.Address != "registry.opentofu.org/hashicorp/google" {
		t.Errorf("Address = %q", p.Address)
	}
	fn, ok := p.Resources["google_cloudfunctions2_function"]
	if !ok {
		t.Fatal("no google_cloudfunctions2_function")
	}
	if a := attr(t, fn.Block, "name"); !a.Required || !a.Type.Is(tftypes.String) {
		t.Errorf("name = %+v, want required string", a)
	}
	if a := attr(t, fn.Block, "url"); !a.Computed || a.Optional {
		t.Errorf("url = %+v, want computed only", a)
	}
	bc := block(t, fn.Block, "build_config")
	if bc.Nesting != tfprotov5.SchemaNestedBlockNestingModeList || bc.MaxItems != 1 {
		t.Errorf("build_config nesting = %v max %d, want list of at most 1", bc.Nesting, bc.MaxItems)
	}
	sc := block(t, fn.Block, "service_config")
	env := attr(t, sc.Block, "environment_variables")
	if !env.Type.Equal(tftypes.Map{ElementType: tftypes.String}) {
		t.Errorf("environment_variables type = %v, want map(string)", env.Type)
	}
	if _, ok := p.Resources["google_secret_manager_secret_version"]; !ok {
		t.Error("no google_secret_manager_secret_version")
	}
	if _, ok := p.Identities["google_pubsub_topic"]; !ok {
		t.Error("no identity schema for google_pubsub_topic")
	}
	if _, ok := p.Functions["name_from_id"]; !ok {
		t.Error("no provider function name_from_id")
	}
}

func TestLoadArchive(t *testing.T) {
	p, err := Load("registry.opentofu.org/hashicorp/archive")
	if err != nil {
		t.Fatal(err)
	}
	ds, ok := p.DataSources["archive_file"]
	if !ok {
		t.Fatal("no archive_file data source")
	}
	ex := attr(t, ds.Block, "excludes")
	if !ex.Type.Equal(tftypes.Set{ElementType: tftypes.String}) || !ex.Optional {
		t.Errorf("excludes = %+v, want optional set(string)", ex)
	}
}

func TestParseType(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want tftypes.Type
	}{
		{"string", `"string"`, tftypes.String},
		{"number", `"number"`, tftypes.Number},
		{"bool", `"bool"`, tftypes.Bool},
		{"dynamic", `"dynamic"`, tftypes.DynamicPseudoType},
		{"list", `["list","string"]`, tftypes.List{ElementType: tftypes.String}},
		{"set of map", `["set",["map","number"]]`, tftypes.Set{ElementType: tftypes.Map{ElementType: tftypes.Number}}},
		{"object", `["object",{"a":"string","b":["list","bool"]}]`, tftypes.Object{AttributeTypes: map[string]tftypes.Type{
			"a": tftypes.String, "b": tftypes.List{ElementType: tftypes.Bool},
		}}},
		{"object with optional", `["object",{"a":"string"},["a"]]`, tftypes.Object{
			AttributeTypes:     map[string]tftypes.Type{"a": tftypes.String},
			OptionalAttributes: map[string]struct{}{"a": {}},
		}},
		{"tuple", `["tuple",["string","number"]]`, tftypes.Tuple{ElementTypes: []tftypes.Type{tftypes.String, tftypes.Number}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseType(json.RawMessage(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("parseType(%s) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTypeRejects(t *testing.T) {
	for _, in := range []string{``, `"strung"`, `["list"]`, `["list","string","x"]`, `["sack","string"]`, `["object",["a"]]`, `["tuple","string"]`, `42`} {
		if got, err := parseType(json.RawMessage(in)); err == nil {
			t.Errorf("parseType(%s) = %v, want error", in, got)
		}
	}
}

func TestStrictUnmarshalRejectsUnknownFields(t *testing.T) {
	var b blockJSON
	err := strictUnmarshal([]byte(`{"attributes":{},"nesting":"list"}`), &b)
	if err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("strictUnmarshal error = %v, want one naming the unknown field", err)
	}
}

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Provider{}
)

// newServer serves a provider loaded once per test binary: converting the
// google schema takes a moment.
func newServer(t *testing.T, name string) *Server {
	t.Helper()
	loadedMu.Lock()
	defer loadedMu.Unlock()
	p, ok := loaded[name]
	if !ok {
		var err error
		if p, err = Load(name); err != nil {
			t.Fatal(err)
		}
		loaded[name] = p
	}
	return NewServer(p)
}

func hasError(diags []*tfprotov5.Diagnostic) bool {
	for _, d := range diags {
		if d.Severity == tfprotov5.DiagnosticSeverityError {
			return true
		}
	}
	return false
}

// Validation is OpenTofu's job (it checks names, arguments and types against
// the schema first); outside the IAM member check (validate_test.go) the
// server must not invent errors, nor need the schema.
func TestServerValidateNeedsNoSchema(t *testing.T) {
	ctx := context.Background()
	s := &Server{name: "test", load: func() (*Provider, error) {
		t.Fatal("validation loaded the schema")
		return nil, nil
	}}
	r, err := s.ValidateResourceTypeConfig(ctx, &tfprotov5.ValidateResourceTypeConfigRequest{TypeName: "google_pubsub_topic"})
	if err != nil || hasError(r.Diagnostics) {
		t.Fatalf("ValidateResourceTypeConfig: err %v diags %v", err, r.Diagnostics)
	}
	d, err := s.ValidateDataSourceConfig(ctx, &tfprotov5.ValidateDataSourceConfigRequest{TypeName: "google_project"})
	if err != nil || hasError(d.Diagnostics) {
		t.Fatalf("ValidateDataSourceConfig: err %v diags %v", err, d.Diagnostics)
	}
	c, err := s.PrepareProviderConfig(ctx, &tfprotov5.PrepareProviderConfigRequest{})
	if err != nil || hasError(c.Diagnostics) {
		t.Fatalf("PrepareProviderConfig: err %v diags %v", err, c.Diagnostics)
	}
}

// The schema is loaded once, on first use, and a failure reaches OpenTofu
// as a diagnostic rather than a crash.
func TestLazyServer(t *testing.T) {
	ctx := context.Background()
	s := NewLazyServer("random")
	resp, err := s.GetProviderSchema(ctx, &tfprotov5.GetProviderSchemaRequest{})
	if err != nil || hasError(resp.Diagnostics) {
		t.Fatalf("GetProviderSchema: err %v diags %v", err, diagText(resp.Diagnostics))
	}
	if !resp.ServerCapabilities.GetProviderSchemaOptional {
		t.Error("GetProviderSchemaOptional must be set so OpenTofu reuses the schema across processes")
	}
	if _, ok := resp.ResourceSchemas["random_id"]; !ok {
		t.Error("schema lacks random_id")
	}

	bad := NewLazyServer("aws")
	resp, err = bad.GetProviderSchema(ctx, &tfprotov5.GetProviderSchemaRequest{})
	if err != nil || !hasError(resp.Diagnostics) || !strings.Contains(diagText(resp.Diagnostics), "not in schema dump") {
		t.Fatalf("unknown provider: err %v diags %v, want a diagnostic naming the problem", err, diagText(resp.Diagnostics))
	}
}

func TestServerSchema(t *testing.T) {
	s := newServer(t, "random")
	resp, err := s.GetProviderSchema(context.Background(), &tfprotov5.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.ResourceSchemas["random_id"]; !ok {
		t.Fatalf("schema lacks random_id: %v", resp.ResourceSchemas)
	}
	md, err := s.GetMetadata(context.Background(), &tfprotov5.GetMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Resources) != len(resp.ResourceSchemas) {
		t.Fatalf("metadata lists %d resources, schema has %d", len(md.Resources), len(resp.ResourceSchemas))
	}
}

// A state written with the current schema comes back as the same value.
func TestServerUpgradeResourceState(t *testing.T) {
	s := newServer(t, "google")
	p, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	schema := p.Resources["google_pubsub_topic"]
	typ := schema.ValueType().(tftypes.Object)
	attrs := map[string]any{}
	for name := range typ.AttributeTypes {
		attrs[name] = nil
	}
	attrs["name"] = "gemini-batch"
	attrs["project"] = "p"
	attrs["id"] = "projects/p/topics/gemini-batch"
	for _, nb := range schema.Block.BlockTypes {
		if nb.Nesting == tfprotov5.SchemaNestedBlockNestingModeSingle {
			attrs[nb.TypeName] = nil
		} else {
			attrs[nb.TypeName] = []any{}
		}
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.UpgradeResourceState(context.Background(), &tfprotov5.UpgradeResourceStateRequest{
		TypeName: "google_pubsub_topic",
		Version:  schema.Version,
		RawState: &tfprotov5.RawState{JSON: raw},
	})
	if err != nil || hasError(resp.Diagnostics) {
		t.Fatalf("err %v diags %v", err, diagText(resp.Diagnostics))
	}
	val, err := resp.UpgradedState.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]tftypes.Value
	if err := val.As(&m); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := m["name"].As(&name); err != nil || name != "gemini-batch" {
		t.Fatalf("name = %q (%v), want gemini-batch", name, err)
	}

	resp, err = s.UpgradeResourceState(context.Background(), &tfprotov5.UpgradeResourceStateRequest{
		TypeName: "google_pubsub_topic",
		Version:  schema.Version,
		RawState: &tfprotov5.RawState{JSON: []byte(`{"name": 7, "bogus": true}`)},
	})
	if err != nil || !hasError(resp.Diagnostics) {
		t.Fatalf("malformed state: err %v diags %v, want an error diagnostic", err, resp.Diagnostics)
	}
}

// Nothing that would touch real infrastructure pretends to succeed.
func TestServerRefusesLiveCalls(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "google")
	plan, err := s.PlanResourceChange(ctx, &tfprotov5.PlanResourceChangeRequest{TypeName: "google_pubsub_topic"})
	if err != nil || !hasError(plan.Diagnostics) {
		t.Errorf("PlanResourceChange: err %v diags %v", err, plan.Diagnostics)
	}
	apply, err := s.ApplyResourceChange(ctx, &tfprotov5.ApplyResourceChangeRequest{TypeName: "google_pubsub_topic"})
	if err != nil || !hasError(apply.Diagnostics) {
		t.Errorf("ApplyResourceChange: err %v diags %v", err, apply.Diagnostics)
	}
	read, err := s.ReadDataSource(ctx, &tfprotov5.ReadDataSourceRequest{TypeName: "google_project"})
	if err != nil || !hasError(read.Diagnostics) {
		t.Errorf("ReadDataSource: err %v diags %v", err, read.Diagnostics)
	}
	call, err := s.CallFunction(ctx, &tfprotov5.CallFunctionRequest{Name: "name_from_id"})
	if err != nil || call.Error == nil {
		t.Errorf("CallFunction: err %v function error %v", err, call.Error)
	}
}

func diagText(diags []*tfprotov5.Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Summary + ": " + d.Detail + "; ")
	}
	return b.String()
}
