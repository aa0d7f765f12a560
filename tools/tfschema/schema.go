// Package tfschema serves Terraform provider schemas from a committed dump of
// `tofu providers schema -json`, so that `tofu validate` and `tofu test` with
// mock providers can run without downloading any provider.
//
// The dump (provider-schemas.json.gz, embedded) covers hashicorp/google and
// hashicorp/google-beta 7.45.0, hashicorp/archive 2.8.0, hashicorp/random
// 3.9.0 and hashicorp/time; regenerate it with `tofu providers schema -json |
// gzip` in a module that requires those versions, on a machine that can
// download them. Beyond the schema, the server applies the real provider's
// IAM member validator (validate.go), the one check mocked tests most need. The schema-only server in
// server.go answers the RPCs that validation and mocked tests make; every RPC
// that would touch real infrastructure returns an error diagnostic instead.
package tfschema

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

//go:embed provider-schemas.json.gz
var dumpGzip []byte

// ErrUnknownProvider is returned by Load when the dump holds no provider of
// the requested name.
var ErrUnknownProvider = errors.New("provider not in schema dump")

// Provider is one provider's schemas, converted to the plugin protocol's
// types.
type Provider struct {
	// Address is the provider's source address as recorded in the dump,
	// e.g. "registry.opentofu.org/hashicorp/google".
	Address string
	// Provider is the schema of the provider's own configuration block.
	Provider *tfprotov5.Schema
	// Resources maps a managed resource type to its schema.
	Resources map[string]*tfprotov5.Schema
	// DataSources maps a data source type to its schema.
	DataSources map[string]*tfprotov5.Schema
	// EphemeralResources maps an ephemeral resource type to its schema.
	EphemeralResources map[string]*tfprotov5.Schema
	// Identities maps a managed resource type to its identity schema.
	Identities map[string]*tfprotov5.ResourceIdentitySchema
	// Functions maps a provider function name to its signature.
	Functions map[string]*tfprotov5.Function
}

// Names lists the short names (the last part of the address, e.g. "google")
// of every provider in the embedded dump, sorted.
func Names() ([]string, error) {
	d, err := readDump()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(d.ProviderSchemas))
	for addr := range d.ProviderSchemas {
		names = append(names, shortName(addr))
	}
	sort.Strings(names)
	return names, nil
}

// Load returns the schemas of the provider whose short name (e.g. "google")
// or full address matches name. It returns an error wrapping
// ErrUnknownProvider when the dump has no such provider, and an error naming
// the offending element when the dump cannot be converted.
func Load(name string) (*Provider, error) {
	d, err := readDump()
	if err != nil {
		return nil, err
	}
	for addr, raw := range d.ProviderSchemas {
		if addr != name && shortName(addr) != name {
			continue
		}
		var pj providerJSON
		if err := strictUnmarshal(raw, &pj); err != nil {
			return nil, fmt.Errorf("decode schema of %s: %w", addr, err)
		}
		p, err := pj.convert()
		if err != nil {
			return nil, fmt.Errorf("convert schema of %s: %w", addr, err)
		}
		p.Address = addr
		return p, nil
	}
	return nil, fmt.Errorf("load %q: %w", name, ErrUnknownProvider)
}

func shortName(addr string) string {
	return addr[strings.LastIndex(addr, "/")+1:]
}

type dumpJSON struct {
	FormatVersion   string                     `json:"format_version"`
	ProviderSchemas map[string]json.RawMessage `json:"provider_schemas"`
}

func readDump() (*dumpJSON, error) {
	zr, err := gzip.NewReader(bytes.NewReader(dumpGzip))
	if err != nil {
		return nil, fmt.Errorf("open schema dump: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("read schema dump: %w", err)
	}
	var d dumpJSON
	if err := strictUnmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decode schema dump: %w", err)
	}
	if d.FormatVersion != "1.0" {
		return nil, fmt.Errorf("decode schema dump: format_version %q, want 1.0", d.FormatVersion)
	}
	return &d, nil
}

// strictUnmarshal decodes JSON and refuses fields the types do not model, so
// that a newer dump format cannot silently lose information.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

type providerJSON struct {
	Provider                 *schemaJSON                  `json:"provider"`
	ResourceSchemas          map[string]*schemaJSON       `json:"resource_schemas"`
	DataSourceSchemas        map[string]*schemaJSON       `json:"data_source_schemas"`
	EphemeralResourceSchemas map[string]*schemaJSON       `json:"ephemeral_resource_schemas"`
	Functions                map[string]*functionJSON     `json:"functions"`
	ResourceIdentitySchemas  map[string]*identitySchemaJS `json:"resource_identity_schemas"`
}

type schemaJSON struct {
	Version int64      `json:"version"`
	Block   *blockJSON `json:"block"`
}

type blockJSON struct {
	Attributes         map[string]*attributeJSON `json:"attributes"`
	BlockTypes         map[string]*blockTypeJSON `json:"block_types"`
	Description        string                    `json:"description"`
	DescriptionKind    string                    `json:"description_kind"`
	Deprecated         bool                      `json:"deprecated"`
	DeprecationMessage string                    `json:"deprecation_message"`
}

type attributeJSON struct {
	Type               json.RawMessage `json:"type"`
	Description        string          `json:"description"`
	DescriptionKind    string          `json:"description_kind"`
	Required           bool            `json:"required"`
	Optional           bool            `json:"optional"`
	Computed           bool            `json:"computed"`
	Sensitive          bool            `json:"sensitive"`
	Deprecated         bool            `json:"deprecated"`
	DeprecationMessage string          `json:"deprecation_message"`
	WriteOnly          bool            `json:"write_only"`
}

type blockTypeJSON struct {
	NestingMode string     `json:"nesting_mode"`
	Block       *blockJSON `json:"block"`
	MinItems    int64      `json:"min_items"`
	MaxItems    int64      `json:"max_items"`
}

type functionJSON struct {
	Description        string           `json:"description"`
	Summary            string           `json:"summary"`
	DeprecationMessage string           `json:"deprecation_message"`
	ReturnType         json.RawMessage  `json:"return_type"`
	Parameters         []*parameterJSON `json:"parameters"`
	VariadicParameter  *parameterJSON   `json:"variadic_parameter"`
}

type parameterJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Type        json.RawMessage `json:"type"`
	IsNullable  bool            `json:"is_nullable"`
}

type identitySchemaJS struct {
	Version    int64                             `json:"version"`
	Attributes map[string]*identityAttributeJSON `json:"attributes"`
}

type identityAttributeJSON struct {
	Type              json.RawMessage `json:"type"`
	Description       string          `json:"description"`
	RequiredForImport bool            `json:"required_for_import"`
	OptionalForImport bool            `json:"optional_for_import"`
}

func (pj *providerJSON) convert() (*Provider, error) {
	p := &Provider{
		Resources:          map[string]*tfprotov5.Schema{},
		DataSources:        map[string]*tfprotov5.Schema{},
		EphemeralResources: map[string]*tfprotov5.Schema{},
		Identities:         map[string]*tfprotov5.ResourceIdentitySchema{},
		Functions:          map[string]*tfprotov5.Function{},
	}
	var err error
	if pj.Provider == nil {
		return nil, errors.New("no provider configuration schema")
	}
	if p.Provider, err = pj.Provider.convert(); err != nil {
		return nil, fmt.Errorf("provider block: %w", err)
	}
	for _, set := range []struct {
		kind string
		in   map[string]*schemaJSON
		out  map[string]*tfprotov5.Schema
	}{
		{"resource", pj.ResourceSchemas, p.Resources},
		{"data source", pj.DataSourceSchemas, p.DataSources},
		{"ephemeral resource", pj.EphemeralResourceSchemas, p.EphemeralResources},
	} {
		for name, s := range set.in {
			if set.out[name], err = s.convert(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", set.kind, name, err)
			}
		}
	}
	for name, f := range pj.Functions {
		if p.Functions[name], err = f.convert(); err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
	}
	for name, id := range pj.ResourceIdentitySchemas {
		if p.Identities[name], err = id.convert(); err != nil {
			return nil, fmt.Errorf("identity of %s: %w", name, err)
		}
	}
	return p, nil
}

func (s *schemaJSON) convert() (*tfprotov5.Schema, error) {
	if s == nil || s.Block == nil {
		return nil, errors.New("schema without block")
	}
	b, err := s.Block.convert()
	if err != nil {
		return nil, err
	}
	b.Version = s.Version
	return &tfprotov5.Schema{Version: s.Version, Block: b}, nil
}

func (b *blockJSON) convert() (*tfprotov5.SchemaBlock, error) {
	kind, err := stringKind(b.DescriptionKind)
	if err != nil {
		return nil, err
	}
	out := &tfprotov5.SchemaBlock{
		Description:        b.Description,
		DescriptionKind:    kind,
		Deprecated:         b.Deprecated,
		DeprecationMessage: b.DeprecationMessage,
	}
	for _, name := range sortedKeys(b.Attributes) {
		a := b.Attributes[name]
		typ, err := parseType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		kind, err := stringKind(a.DescriptionKind)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out.Attributes = append(out.Attributes, &tfprotov5.SchemaAttribute{
			Name:               name,
			Type:               typ,
			Description:        a.Description,
			DescriptionKind:    kind,
			Required:           a.Required,
			Optional:           a.Optional,
			Computed:           a.Computed,
			Sensitive:          a.Sensitive,
			Deprecated:         a.Deprecated,
			DeprecationMessage: a.DeprecationMessage,
			WriteOnly:          a.WriteOnly,
		})
	}
	for _, name := range sortedKeys(b.BlockTypes) {
		bt := b.BlockTypes[name]
		nesting, err := nestingMode(bt.NestingMode)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", name, err)
		}
		if bt.Block == nil {
			return nil, fmt.Errorf("block %s: no block body", name)
		}
		inner, err := bt.Block.convert()
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", name, err)
		}
		out.BlockTypes = append(out.BlockTypes, &tfprotov5.SchemaNestedBlock{
			TypeName: name,
			Block:    inner,
			Nesting:  nesting,
			MinItems: bt.MinItems,
			MaxItems: bt.MaxItems,
		})
	}
	return out, nil
}

func (f *functionJSON) convert() (*tfprotov5.Function, error) {
	ret, err := parseType(f.ReturnType)
	if err != nil {
		return nil, fmt.Errorf("return type: %w", err)
	}
	out := &tfprotov5.Function{
		Return:             &tfprotov5.FunctionReturn{Type: ret},
		Summary:            f.Summary,
		Description:        f.Description,
		DescriptionKind:    tfprotov5.StringKindPlain,
		DeprecationMessage: f.DeprecationMessage,
	}
	for i, p := range f.Parameters {
		cp, err := p.convert()
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i, err)
		}
		out.Parameters = append(out.Parameters, cp)
	}
	if f.VariadicParameter != nil {
		if out.VariadicParameter, err = f.VariadicParameter.convert(); err != nil {
			return nil, fmt.Errorf("variadic parameter: %w", err)
		}
	}
	return out, nil
}

func (p *parameterJSON) convert() (*tfprotov5.FunctionParameter, error) {
	typ, err := parseType(p.Type)
	if err != nil {
		return nil, err
	}
	return &tfprotov5.FunctionParameter{
		Name:            p.Name,
		Description:     p.Description,
		DescriptionKind: tfprotov5.StringKindPlain,
		Type:            typ,
		AllowNullValue:  p.IsNullable,
	}, nil
}

func (s *identitySchemaJS) convert() (*tfprotov5.ResourceIdentitySchema, error) {
	out := &tfprotov5.ResourceIdentitySchema{Version: s.Version}
	for _, name := range sortedKeys(s.Attributes) {
		a := s.Attributes[name]
		typ, err := parseType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out.IdentityAttributes = append(out.IdentityAttributes, &tfprotov5.ResourceIdentitySchemaAttribute{
			Name:              name,
			Type:              typ,
			Description:       a.Description,
			RequiredForImport: a.RequiredForImport,
			OptionalForImport: a.OptionalForImport,
		})
	}
	return out, nil
}

// parseType converts a cty type in its JSON form ("string",
// ["list","string"], ["object",{"a":"number"}], ...) into a tftypes.Type.
func parseType(raw json.RawMessage) (tftypes.Type, error) {
	if len(raw) == 0 {
		return nil, errors.New("no type")
	}
	var prim string
	if err := json.Unmarshal(raw, &prim); err == nil {
		switch prim {
		case "string":
			return tftypes.String, nil
		case "number":
			return tftypes.Number, nil
		case "bool":
			return tftypes.Bool, nil
		case "dynamic":
			return tftypes.DynamicPseudoType, nil
		}
		return nil, fmt.Errorf("unknown primitive type %q", prim)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 {
		return nil, fmt.Errorf("malformed type %s", raw)
	}
	var kind string
	if err := json.Unmarshal(parts[0], &kind); err != nil {
		return nil, fmt.Errorf("malformed type %s: %w", raw, err)
	}
	switch kind {
	case "list", "set", "map":
		if len(parts) != 2 {
			return nil, fmt.Errorf("malformed type %s", raw)
		}
		elem, err := parseType(parts[1])
		if err != nil {
			return nil, err
		}
		switch kind {
		case "list":
			return tftypes.List{ElementType: elem}, nil
		case "set":
			return tftypes.Set{ElementType: elem}, nil
		}
		return tftypes.Map{ElementType: elem}, nil
	case "object":
		if len(parts) > 3 {
			return nil, fmt.Errorf("malformed type %s", raw)
		}
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(parts[1], &attrs); err != nil {
			return nil, fmt.Errorf("malformed object type %s: %w", raw, err)
		}
		obj := tftypes.Object{AttributeTypes: make(map[string]tftypes.Type, len(attrs))}
		for name, at := range attrs {
			t, err := parseType(at)
			if err != nil {
				return nil, fmt.Errorf("object attribute %s: %w", name, err)
			}
			obj.AttributeTypes[name] = t
		}
		if len(parts) == 3 {
			var optional []string
			if err := json.Unmarshal(parts[2], &optional); err != nil {
				return nil, fmt.Errorf("malformed optional attributes %s: %w", raw, err)
			}
			obj.OptionalAttributes = make(map[string]struct{}, len(optional))
			for _, name := range optional {
				obj.OptionalAttributes[name] = struct{}{}
			}
		}
		return obj, nil
	case "tuple":
		var elems []json.RawMessage
		if err := json.Unmarshal(parts[1], &elems); err != nil || len(parts) != 2 {
			return nil, fmt.Errorf("malformed tuple type %s", raw)
		}
		tup := tftypes.Tuple{ElementTypes: make([]tftypes.Type, 0, len(elems))}
		for i, et := range elems {
			t, err := parseType(et)
			if err != nil {
				return nil, fmt.Errorf("tuple element %d: %w", i, err)
			}
			tup.ElementTypes = append(tup.ElementTypes, t)
		}
		return tup, nil
	}
	return nil, fmt.Errorf("unknown type kind %q", kind)
}

func stringKind(s string) (tfprotov5.StringKind, error) {
	switch s {
	case "", "plain":
		return tfprotov5.StringKindPlain, nil
	case "markdown":
		return tfprotov5.StringKindMarkdown, nil
	}
	return 0, fmt.Errorf("unknown description_kind %q", s)
}

func nestingMode(s string) (tfprotov5.SchemaNestedBlockNestingMode, error) {
	switch s {
	case "single":
		return tfprotov5.SchemaNestedBlockNestingModeSingle, nil
	case "list":
		return tfprotov5.SchemaNestedBlockNestingModeList, nil
	case "set":
		return tfprotov5.SchemaNestedBlockNestingModeSet, nil
	case "map":
		return tfprotov5.SchemaNestedBlockNestingModeMap, nil
	case "group":
		return tfprotov5.SchemaNestedBlockNestingModeGroup, nil
	}
	return 0, fmt.Errorf("unknown nesting_mode %q", s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
