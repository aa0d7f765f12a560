package tfschema

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
)

// Server is a tfprotov5.ProviderServer that knows a provider's schemas and
// nothing else. Validation RPCs accept every configuration (OpenTofu itself
// checks type names, arguments, blocks and types against the schema before
// calling them); state upgrades re-encode the stored state unchanged; every
// RPC that would read or change real infrastructure returns an error
// diagnostic, so the server cannot be mistaken for the real provider.
//
// The schema is loaded on the first RPC that needs it. The server declares
// GetProviderSchemaOptional, so OpenTofu fetches the schema once per command
// and reuses it for every later provider process: those never load it.
type Server struct {
	name string
	load func() (*Provider, error)
}

var _ tfprotov5.ProviderServer = (*Server)(nil)

// NewServer returns a schema-only server for an already loaded provider.
func NewServer(p *Provider) *Server {
	return &Server{name: p.Address, load: func() (*Provider, error) { return p, nil }}
}

// NewLazyServer returns a schema-only server for the provider named name
// (see Load), loading its schema on first use.
func NewLazyServer(name string) *Server {
	return &Server{name: name, load: sync.OnceValues(func() (*Provider, error) { return Load(name) })}
}

func loadFailed(err error) []*tfprotov5.Diagnostic {
	return errorDiag("Cannot load the provider schema", err.Error())
}

func errorDiag(summary, detail string) []*tfprotov5.Diagnostic {
	return []*tfprotov5.Diagnostic{{
		Severity: tfprotov5.DiagnosticSeverityError,
		Summary:  summary,
		Detail:   detail,
	}}
}

func (s *Server) offline(rpc string) []*tfprotov5.Diagnostic {
	return errorDiag(
		rpc+" is not available offline",
		fmt.Sprintf("This %s provider only serves schemas for `tofu validate` and `tofu test` with mock_provider; it cannot %s.", s.name, rpc),
	)
}

func unknownType(kind, name string) []*tfprotov5.Diagnostic {
	return errorDiag("Unknown "+kind+" type", fmt.Sprintf("The schema dump has no %s named %q.", kind, name))
}

// capabilities tells OpenTofu it may reuse a schema fetched from another
// process of this provider instead of asking every process again.
func capabilities() *tfprotov5.ServerCapabilities {
	return &tfprotov5.ServerCapabilities{GetProviderSchemaOptional: true}
}

// GetMetadata lists the provider's types and functions.
func (s *Server) GetMetadata(context.Context, *tfprotov5.GetMetadataRequest) (*tfprotov5.GetMetadataResponse, error) {
	resp := &tfprotov5.GetMetadataResponse{ServerCapabilities: capabilities()}
	p, err := s.load()
	if err != nil {
		resp.Diagnostics = loadFailed(err)
		return resp, nil
	}
	for _, name := range sortedKeys(p.Resources) {
		resp.Resources = append(resp.Resources, tfprotov5.ResourceMetadata{TypeName: name})
	}
	for _, name := range sortedKeys(p.DataSources) {
		resp.DataSources = append(resp.DataSources, tfprotov5.DataSourceMetadata{TypeName: name})
	}
	for _, name := range sortedKeys(p.EphemeralResources) {
		resp.EphemeralResources = append(resp.EphemeralResources, tfprotov5.EphemeralResourceMetadata{TypeName: name})
	}
	for _, name := range sortedKeys(p.Functions) {
		resp.Functions = append(resp.Functions, tfprotov5.FunctionMetadata{Name: name})
	}
	return resp, nil
}

// GetProviderSchema returns every schema in the dump for this provider.
func (s *Server) GetProviderSchema(context.Context, *tfprotov5.GetProviderSchemaRequest) (*tfprotov5.GetProviderSchemaResponse, error) {
	p, err := s.load()
	if err != nil {
		return &tfprotov5.GetProviderSchemaResponse{ServerCapabilities: capabilities(), Diagnostics: loadFailed(err)}, nil
	}
	return &tfprotov5.GetProviderSchemaResponse{
		ServerCapabilities:       capabilities(),
		Provider:                 p.Provider,
		ResourceSchemas:          p.Resources,
		DataSourceSchemas:        p.DataSources,
		EphemeralResourceSchemas: p.EphemeralResources,
		Functions:                p.Functions,
	}, nil
}

// GetResourceIdentitySchemas returns the identity schemas in the dump.
func (s *Server) GetResourceIdentitySchemas(context.Context, *tfprotov5.GetResourceIdentitySchemasRequest) (*tfprotov5.GetResourceIdentitySchemasResponse, error) {
	p, err := s.load()
	if err != nil {
		return &tfprotov5.GetResourceIdentitySchemasResponse{Diagnostics: loadFailed(err)}, nil
	}
	return &tfprotov5.GetResourceIdentitySchemasResponse{IdentitySchemas: p.Identities}, nil
}

// PrepareProviderConfig accepts the configuration as given.
func (s *Server) PrepareProviderConfig(_ context.Context, req *tfprotov5.PrepareProviderConfigRequest) (*tfprotov5.PrepareProviderConfigResponse, error) {
	return &tfprotov5.PrepareProviderConfigResponse{PreparedConfig: req.Config}, nil
}

// ConfigureProvider accepts any configuration: there is nothing to connect to.
func (s *Server) ConfigureProvider(context.Context, *tfprotov5.ConfigureProviderRequest) (*tfprotov5.ConfigureProviderResponse, error) {
	return &tfprotov5.ConfigureProviderResponse{}, nil
}

// StopProvider has nothing to stop.
func (s *Server) StopProvider(context.Context, *tfprotov5.StopProviderRequest) (*tfprotov5.StopProviderResponse, error) {
	return &tfprotov5.StopProviderResponse{}, nil
}

// ValidateResourceTypeConfig accepts any configuration OpenTofu has already
// checked against the schema, except where the real provider's own value
// validators matter to this project's tests: the member of every
// google_*_iam_member resource is checked as the real provider checks it
// (ValidateIAMMember), so a mocked computed value that is no principal fails
// here as it fails under the real provider. Other provider-side checks
// (value ranges, conflicts) are not part of the dump. Only those resource
// types load the schema.
func (s *Server) ValidateResourceTypeConfig(_ context.Context, req *tfprotov5.ValidateResourceTypeConfigRequest) (*tfprotov5.ValidateResourceTypeConfigResponse, error) {
	if !isIAMMemberType(req.TypeName) {
		return &tfprotov5.ValidateResourceTypeConfigResponse{}, nil
	}
	p, err := s.load()
	if err != nil {
		return &tfprotov5.ValidateResourceTypeConfigResponse{Diagnostics: loadFailed(err)}, nil
	}
	schema, ok := p.Resources[req.TypeName]
	if !ok {
		return &tfprotov5.ValidateResourceTypeConfigResponse{Diagnostics: unknownType("resource", req.TypeName)}, nil
	}
	return &tfprotov5.ValidateResourceTypeConfigResponse{Diagnostics: validateValues(schema, req.TypeName, req.Config)}, nil
}

// UpgradeResourceState decodes the stored JSON state with the current schema
// and returns it re-encoded, unchanged: the dump has only the current schema
// version, so older versions cannot be migrated.
func (s *Server) UpgradeResourceState(_ context.Context, req *tfprotov5.UpgradeResourceStateRequest) (*tfprotov5.UpgradeResourceStateResponse, error) {
	p, err := s.load()
	if err != nil {
		return &tfprotov5.UpgradeResourceStateResponse{Diagnostics: loadFailed(err)}, nil
	}
	schema, ok := p.Resources[req.TypeName]
	if !ok {
		return &tfprotov5.UpgradeResourceStateResponse{Diagnostics: unknownType("resource", req.TypeName)}, nil
	}
	if req.Version != schema.Version {
		return &tfprotov5.UpgradeResourceStateResponse{Diagnostics: errorDiag(
			"Unsupported state version",
			fmt.Sprintf("State of %s has schema version %d; only the current version %d is known offline.", req.TypeName, req.Version, schema.Version),
		)}, nil
	}
	if req.RawState == nil || req.RawState.JSON == nil {
		return &tfprotov5.UpgradeResourceStateResponse{Diagnostics: errorDiag(
			"Unsupported state encoding", "Only JSON state can be upgraded offline.",
		)}, nil
	}
	typ := schema.ValueType()
	val, err := req.RawState.Unmarshal(typ)
	if err != nil {
		return &tfprotov5.UpgradeResourceStateResponse{Diagnostics: errorDiag(
			"Cannot decode state", fmt.Sprintf("Decode state of %s: %v", req.TypeName, err),
		)}, nil
	}
	dv, err := tfprotov5.NewDynamicValue(typ, val)
	if err != nil {
		return &tfprotov5.UpgradeResourceStateResponse{Diagnostics: errorDiag(
			"Cannot encode state", fmt.Sprintf("Encode state of %s: %v", req.TypeName, err),
		)}, nil
	}
	return &tfprotov5.UpgradeResourceStateResponse{UpgradedState: &dv}, nil
}

// UpgradeResourceIdentity decodes the stored identity with the current
// identity schema and returns it re-encoded.
func (s *Server) UpgradeResourceIdentity(_ context.Context, req *tfprotov5.UpgradeResourceIdentityRequest) (*tfprotov5.UpgradeResourceIdentityResponse, error) {
	p, err := s.load()
	if err != nil {
		return &tfprotov5.UpgradeResourceIdentityResponse{Diagnostics: loadFailed(err)}, nil
	}
	schema, ok := p.Identities[req.TypeName]
	if !ok {
		return &tfprotov5.UpgradeResourceIdentityResponse{Diagnostics: unknownType("resource identity", req.TypeName)}, nil
	}
	if req.RawIdentity == nil || req.RawIdentity.JSON == nil {
		return &tfprotov5.UpgradeResourceIdentityResponse{Diagnostics: errorDiag(
			"Unsupported identity encoding", "Only JSON identities can be upgraded offline.",
		)}, nil
	}
	typ := schema.ValueType()
	val, err := req.RawIdentity.Unmarshal(typ)
	if err != nil {
		return &tfprotov5.UpgradeResourceIdentityResponse{Diagnostics: errorDiag(
			"Cannot decode identity", fmt.Sprintf("Decode identity of %s: %v", req.TypeName, err),
		)}, nil
	}
	dv, err := tfprotov5.NewDynamicValue(typ, val)
	if err != nil {
		return &tfprotov5.UpgradeResourceIdentityResponse{Diagnostics: errorDiag(
			"Cannot encode identity", fmt.Sprintf("Encode identity of %s: %v", req.TypeName, err),
		)}, nil
	}
	return &tfprotov5.UpgradeResourceIdentityResponse{UpgradedIdentity: &tfprotov5.ResourceIdentityData{IdentityData: &dv}}, nil
}

// ReadResource is not available offline.
func (s *Server) ReadResource(context.Context, *tfprotov5.ReadResourceRequest) (*tfprotov5.ReadResourceResponse, error) {
	return &tfprotov5.ReadResourceResponse{Diagnostics: s.offline("read resources")}, nil
}

// PlanResourceChange is not available offline.
func (s *Server) PlanResourceChange(context.Context, *tfprotov5.PlanResourceChangeRequest) (*tfprotov5.PlanResourceChangeResponse, error) {
	return &tfprotov5.PlanResourceChangeResponse{Diagnostics: s.offline("plan resource changes")}, nil
}

// ApplyResourceChange is not available offline.
func (s *Server) ApplyResourceChange(context.Context, *tfprotov5.ApplyResourceChangeRequest) (*tfprotov5.ApplyResourceChangeResponse, error) {
	return &tfprotov5.ApplyResourceChangeResponse{Diagnostics: s.offline("apply resource changes")}, nil
}

// ImportResourceState is not available offline.
func (s *Server) ImportResourceState(context.Context, *tfprotov5.ImportResourceStateRequest) (*tfprotov5.ImportResourceStateResponse, error) {
	return &tfprotov5.ImportResourceStateResponse{Diagnostics: s.offline("import resources")}, nil
}

// MoveResourceState is not available offline.
func (s *Server) MoveResourceState(context.Context, *tfprotov5.MoveResourceStateRequest) (*tfprotov5.MoveResourceStateResponse, error) {
	return &tfprotov5.MoveResourceStateResponse{Diagnostics: s.offline("move resource state")}, nil
}

// GenerateResourceConfig is not available offline.
func (s *Server) GenerateResourceConfig(context.Context, *tfprotov5.GenerateResourceConfigRequest) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{Diagnostics: s.offline("generate resource configuration")}, nil
}

// ValidateDataSourceConfig accepts any configuration, as
// ValidateResourceTypeConfig does.
func (s *Server) ValidateDataSourceConfig(context.Context, *tfprotov5.ValidateDataSourceConfigRequest) (*tfprotov5.ValidateDataSourceConfigResponse, error) {
	return &tfprotov5.ValidateDataSourceConfigResponse{}, nil
}

// ReadDataSource is not available offline.
func (s *Server) ReadDataSource(context.Context, *tfprotov5.ReadDataSourceRequest) (*tfprotov5.ReadDataSourceResponse, error) {
	return &tfprotov5.ReadDataSourceResponse{Diagnostics: s.offline("read data sources")}, nil
}

// GetFunctions returns the provider functions' signatures.
func (s *Server) GetFunctions(context.Context, *tfprotov5.GetFunctionsRequest) (*tfprotov5.GetFunctionsResponse, error) {
	p, err := s.load()
	if err != nil {
		return &tfprotov5.GetFunctionsResponse{Diagnostics: loadFailed(err)}, nil
	}
	return &tfprotov5.GetFunctionsResponse{Functions: p.Functions}, nil
}

// CallFunction is not available offline.
func (s *Server) CallFunction(_ context.Context, req *tfprotov5.CallFunctionRequest) (*tfprotov5.CallFunctionResponse, error) {
	return &tfprotov5.CallFunctionResponse{Error: &tfprotov5.FunctionError{
		Text: fmt.Sprintf("provider function %s is not available offline (schema-only %s provider)", req.Name, s.name),
	}}, nil
}

// ValidateEphemeralResourceConfig accepts any configuration, as
// ValidateResourceTypeConfig does.
func (s *Server) ValidateEphemeralResourceConfig(context.Context, *tfprotov5.ValidateEphemeralResourceConfigRequest) (*tfprotov5.ValidateEphemeralResourceConfigResponse, error) {
	return &tfprotov5.ValidateEphemeralResourceConfigResponse{}, nil
}

// OpenEphemeralResource is not available offline.
func (s *Server) OpenEphemeralResource(context.Context, *tfprotov5.OpenEphemeralResourceRequest) (*tfprotov5.OpenEphemeralResourceResponse, error) {
	return &tfprotov5.OpenEphemeralResourceResponse{Diagnostics: s.offline("open ephemeral resources")}, nil
}

// RenewEphemeralResource is not available offline.
func (s *Server) RenewEphemeralResource(context.Context, *tfprotov5.RenewEphemeralResourceRequest) (*tfprotov5.RenewEphemeralResourceResponse, error) {
	return &tfprotov5.RenewEphemeralResourceResponse{Diagnostics: s.offline("renew ephemeral resources")}, nil
}

// CloseEphemeralResource is not available offline.
func (s *Server) CloseEphemeralResource(context.Context, *tfprotov5.CloseEphemeralResourceRequest) (*tfprotov5.CloseEphemeralResourceResponse, error) {
	return &tfprotov5.CloseEphemeralResourceResponse{Diagnostics: s.offline("close ephemeral resources")}, nil
}
