// Package smtest runs an in-process Secret Manager gRPC server for tests.
//
// The server implements the SecretManagerService RPCs the project uses and
// behaves like the real service where tests can observe it: versions are
// numbered 1, 2, 3… per secret, AddSecretVersion checks a client-supplied
// CRC32C, ListSecretVersions lists newest first with filtering and paging,
// AccessSecretVersion returns the payload with its CRC32C and refuses
// disabled or destroyed versions with FAILED_PRECONDITION. The real
// cloud.google.com/go/secretmanager/apiv1 client talks to it unchanged:
//
//	srv, err := smtest.NewServer()
//	...
//	defer srv.Close()
//	client, err := srv.Client(ctx) // or secretmanager.NewClient(ctx, srv.ClientOptions()...)
//
// Faults (Fail, Delay) and a corrupted response checksum (CorruptCRC32C) let
// tests drive error paths. All methods are safe for concurrent use.
package smtest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/geminihook/geminihook/internal/grpcfault"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxPayloadBytes is the largest secret payload the real service accepts (64 KiB).
const MaxPayloadBytes = 64 * 1024

// Default and maximum page sizes of ListSecretVersions, as documented for the real service.
const (
	defaultPageSize = 25000
	maxPageSize     = 25000
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Server is an in-process Secret Manager. The zero value is not usable; call NewServer.
type Server struct {
	// Addr is the host:port the server listens on (127.0.0.1 and a free port).
	Addr string

	grpc   *grpc.Server
	lis    *countingListener
	svc    *service
	faults *grpcfault.Injector
}

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	mu       sync.Mutex
	accepted int
}

// Accept implements net.Listener.
func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.accepted++
		l.mu.Unlock()
	}
	return c, err
}

// service holds the state and implements the gRPC interface.
type service struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	mu      sync.Mutex
	secrets map[string]*secret // by full name projects/P/secrets/S
	corrupt bool
	now     func() time.Time

	numMu   sync.Mutex
	numbers map[string]string // project id -> project number
}

type secret struct {
	meta     *secretmanagerpb.Secret
	versions []*version // index i holds version i+1
}

type version struct {
	meta    *secretmanagerpb.SecretVersion
	payload []byte
	crc     int64
}

// NewServer starts a server on 127.0.0.1 with a free port. Call Close when done.
func NewServer() (*Server, error) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtest: listen: %w", err)
	}
	svc := &service{
		secrets: map[string]*secret{},
		now:     time.Now,
		numbers: map[string]string{},
	}
	lis := &countingListener{Listener: inner}
	faults := grpcfault.New()
	g := grpc.NewServer(grpc.UnaryInterceptor(faults.Unary))
	secretmanagerpb.RegisterSecretManagerServiceServer(g, svc)
	s := &Server{Addr: lis.Addr().String(), grpc: g, lis: lis, svc: svc, faults: faults}
	go func() { _ = g.Serve(lis) }()
	return s, nil
}

// Close stops the server, ending any calls in progress (including delayed ones).
func (s *Server) Close() {
	s.faults.Close()
	s.grpc.Stop()
}

// ClientOptions returns the options that point a real Secret Manager client
// at this server: its address, no authentication, plaintext gRPC.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Client returns a real Secret Manager client connected to this server.
// The caller closes it.
func (s *Server) Client(ctx context.Context) (*secretmanager.Client, error) {
	c, err := secretmanager.NewClient(ctx, s.ClientOptions()...)
	if err != nil {
		return nil, fmt.Errorf("smtest: secretmanager.NewClient: %w", err)
	}
	return c, nil
}

// CreateSecret creates the secret name (projects/P/secrets/S) with automatic
// replication. It returns an error if the name is malformed or exists.
func (s *Server) CreateSecret(name string) error {
	p, id, ok := splitSecretName(name)
	if !ok {
		return fmt.Errorf("smtest: CreateSecret: malformed secret name %q", name)
	}
	_, err := s.svc.createSecret(p, id, &secretmanagerpb.Secret{
		Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}},
	})
	if err != nil {
		return fmt.Errorf("smtest: CreateSecret: %w", err)
	}
	return nil
}

// AddVersion adds payload as a new ENABLED version of secretName, creating the
// secret first if it does not exist, and returns the version's full name. It
// panics if secretName is malformed, which is a mistake in the test.
func (s *Server) AddVersion(secretName string, payload []byte) string {
	p, id, ok := splitSecretName(secretName)
	if !ok {
		panic(fmt.Sprintf("smtest: AddVersion: malformed secret name %q", secretName))
	}
	secretName = s.svc.canon(secretName)
	s.svc.mu.Lock()
	_, exists := s.svc.secrets[secretName]
	s.svc.mu.Unlock()
	if !exists {
		_ = s.CreateSecret(p + "/secrets/" + id)
	}
	v, err := s.svc.addVersion(secretName, payload, nil)
	if err != nil {
		panic(fmt.Sprintf("smtest: AddVersion: %v", err))
	}
	return v.Name
}

// SetState sets the state of versionName directly, as the console would.
// Setting DESTROYED discards the payload. It returns an error if the version
// does not exist.
func (s *Server) SetState(versionName string, state secretmanagerpb.SecretVersion_State) error {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	v, err := s.svc.lookupVersionLocked(versionName)
	if err != nil {
		return fmt.Errorf("smtest: SetState: %w", err)
	}
	s.svc.setStateLocked(v, state)
	return nil
}

// SetProjectNumber makes the server behave like the real service for
// project id: requests may name it by id or by number, and every name in a
// response uses the number ("projects/123/secrets/s/versions/1"), as the
// real service answers. Call it before creating secrets in that project.
func (s *Server) SetProjectNumber(projectID, number string) {
	s.svc.numMu.Lock()
	defer s.svc.numMu.Unlock()
	s.svc.numbers[projectID] = number
}

// canon rewrites a resource name to use the project number, if one is set.
func (svc *service) canon(name string) string {
	rest, ok := strings.CutPrefix(name, "projects/")
	if !ok {
		return name
	}
	id, tail, _ := strings.Cut(rest, "/")
	svc.numMu.Lock()
	n, ok := svc.numbers[id]
	svc.numMu.Unlock()
	if !ok {
		return name
	}
	if tail == "" && !strings.HasSuffix(rest, "/") {
		return "projects/" + n
	}
	return "projects/" + n + "/" + tail
}

// Fail makes every later call of method (an RPC name such as
// "AccessSecretVersion"; "" means every method) fail with err until Recover.
// Use a status error (status.Error) to choose the gRPC code; other errors
// reach the client as codes.Unknown. Note that the real client retries
// AccessSecretVersion on UNAVAILABLE and RESOURCE_EXHAUSTED.
func (s *Server) Fail(method string, err error) { s.faults.FailNext(method, err, -1) }

// Delay makes every later call of method ("" means every method) wait d before
// it is served, or until the call's context ends. Recover removes delays.
func (s *Server) Delay(method string, d time.Duration) { s.faults.Delay(method, d) }

// Recover removes every fault and delay set with Fail and Delay, and turns
// off CorruptCRC32C.
func (s *Server) Recover() {
	s.faults.Recover()
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	s.svc.corrupt = false
}

// CorruptCRC32C makes AccessSecretVersion return a data_crc32c that does not
// match the payload (on = true), so a client's integrity check can be tested.
func (s *Server) CorruptCRC32C(on bool) {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	s.svc.corrupt = on
}

// Calls reports how many times method (an RPC name such as
// "ListSecretVersions") has been called, including failed calls. "" counts
// every call.
func (s *Server) Calls(method string) int { return s.faults.Calls(method) }

// Connections reports how many connections clients have opened to the
// server so far. A gRPC client connects on its first call, so this counts
// the clients that called, each once unless it reconnected.
func (s *Server) Connections() int {
	s.lis.mu.Lock()
	defer s.lis.mu.Unlock()
	return s.lis.accepted
}

// Versions returns copies of the versions of secretName, oldest first, with
// names, states and times (no payloads). It returns nil for an unknown secret.
func (s *Server) Versions(secretName string) []*secretmanagerpb.SecretVersion {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	sec, ok := s.svc.secrets[s.svc.canon(secretName)]
	if !ok {
		return nil
	}
	out := make([]*secretmanagerpb.SecretVersion, 0, len(sec.versions))
	for _, v := range sec.versions {
		out = append(out, proto.Clone(v.meta).(*secretmanagerpb.SecretVersion))
	}
	return out
}

// Payload returns a copy of the payload of versionName, or nil if the version
// does not exist or was destroyed.
func (s *Server) Payload(versionName string) []byte {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	v, err := s.svc.lookupVersionLocked(versionName)
	if err != nil || v.payload == nil {
		return nil
	}
	return slices.Clone(v.payload)
}

var (
	projectRE  = regexp.MustCompile(`^projects/[^/]+$`)
	secretIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// splitSecretName splits projects/P/secrets/S into projects/P and S.
func splitSecretName(name string) (parent, id string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "secrets" || !secretIDRE.MatchString(parts[3]) {
		return "", "", false
	}
	return parts[0] + "/" + parts[1], parts[3], true
}

// splitVersionName splits projects/P/secrets/S/versions/V into the secret name and V.
func splitVersionName(name string) (secretName, v string, ok bool) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return "", "", false
	}
	secretName, v = name[:i], name[i+len("/versions/"):]
	if _, _, ok := splitSecretName(secretName); !ok || v == "" || strings.Contains(v, "/") {
		return "", "", false
	}
	return secretName, v, true
}

func (svc *service) createSecret(parent, id string, in *secretmanagerpb.Secret) (*secretmanagerpb.Secret, error) {
	parent = svc.canon(parent)
	if !projectRE.MatchString(parent) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", parent)
	}
	if !secretIDRE.MatchString(id) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret_id %q", id)
	}
	if in == nil || in.GetReplication() == nil || in.GetReplication().GetReplication() == nil {
		return nil, status.Error(codes.InvalidArgument, "Secret.replication is required")
	}
	name := parent + "/secrets/" + id
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if _, dup := svc.secrets[name]; dup {
		return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists.", name)
	}
	meta := proto.Clone(in).(*secretmanagerpb.Secret)
	meta.Name = name
	meta.CreateTime = timestamppb.New(svc.now())
	meta.Etag = `"1"`
	svc.secrets[name] = &secret{meta: meta}
	return proto.Clone(meta).(*secretmanagerpb.Secret), nil
}

func (svc *service) addVersion(secretName string, data []byte, crc *int64) (*secretmanagerpb.SecretVersion, error) {
	if len(data) > MaxPayloadBytes {
		return nil, status.Errorf(codes.InvalidArgument, "Secret payload is larger than %d bytes.", MaxPayloadBytes)
	}
	sum := int64(crc32.Checksum(data, castagnoli))
	if crc != nil && *crc != sum {
		return nil, status.Error(codes.InvalidArgument, "Checksum mismatch: data_crc32c does not match the payload.")
	}
	secretName = svc.canon(secretName)
	svc.mu.Lock()
	defer svc.mu.Unlock()
	sec, ok := svc.secrets[secretName]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", secretName)
	}
	n := len(sec.versions) + 1
	meta := &secretmanagerpb.SecretVersion{
		Name:                           secretName + "/versions/" + strconv.Itoa(n),
		CreateTime:                     timestamppb.New(svc.now()),
		State:                          secretmanagerpb.SecretVersion_ENABLED,
		Etag:                           `"1"`,
		ClientSpecifiedPayloadChecksum: crc != nil,
	}
	sec.versions = append(sec.versions, &version{meta: meta, payload: slices.Clone(data), crc: sum})
	if sec.versions[n-1].payload == nil {
		sec.versions[n-1].payload = []byte{}
	}
	return proto.Clone(meta).(*secretmanagerpb.SecretVersion), nil
}

// lookupVersionLocked resolves a version name, including the alias latest
// (the most recently created version, as the service documents).
func (svc *service) lookupVersionLocked(name string) (*version, error) {
	secretName, v, ok := splitVersionName(svc.canon(name))
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret version name %q", name)
	}
	sec, ok := svc.secrets[secretName]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secretName)
	}
	if v == "latest" {
		if len(sec.versions) == 0 {
			return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secretName)
		}
		return sec.versions[len(sec.versions)-1], nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret version %q", v)
	}
	if n > len(sec.versions) {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	return sec.versions[n-1], nil
}

func (svc *service) setStateLocked(v *version, st secretmanagerpb.SecretVersion_State) {
	v.meta.State = st
	if st == secretmanagerpb.SecretVersion_DESTROYED {
		v.payload = nil
		v.meta.DestroyTime = timestamppb.New(svc.now())
	}
	etag, _ := strconv.Atoi(strings.Trim(v.meta.Etag, `"`))
	v.meta.Etag = `"` + strconv.Itoa(etag+1) + `"`
}

// CreateSecret implements the RPC.
func (svc *service) CreateSecret(_ context.Context, req *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	return svc.createSecret(req.GetParent(), req.GetSecretId(), req.GetSecret())
}

// GetSecret implements the RPC.
func (svc *service) GetSecret(_ context.Context, req *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	if _, _, ok := splitSecretName(req.GetName()); !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret name %q", req.GetName())
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	sec, ok := svc.secrets[svc.canon(req.GetName())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", req.GetName())
	}
	return proto.Clone(sec.meta).(*secretmanagerpb.Secret), nil
}

// AddSecretVersion implements the RPC.
func (svc *service) AddSecretVersion(_ context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	if _, _, ok := splitSecretName(req.GetParent()); !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", req.GetParent())
	}
	if req.GetPayload() == nil {
		return nil, status.Error(codes.InvalidArgument, "payload is required")
	}
	return svc.addVersion(req.GetParent(), req.GetPayload().GetData(), req.GetPayload().DataCrc32C)
}

// GetSecretVersion implements the RPC.
func (svc *service) GetSecretVersion(_ context.Context, req *secretmanagerpb.GetSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	v, err := svc.lookupVersionLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(v.meta).(*secretmanagerpb.SecretVersion), nil
}

// ListSecretVersions implements the RPC: newest first, filtered, paged.
func (svc *service) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	if _, _, ok := splitSecretName(req.GetParent()); !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", req.GetParent())
	}
	match, err := parseFilter(req.GetFilter())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid filter %q: %v", req.GetFilter(), err)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	sec, ok := svc.secrets[svc.canon(req.GetParent())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", req.GetParent())
	}
	// The page token names the next version number to consider, counting
	// down, and the request it belongs to, so versions added between pages
	// neither repeat nor shift the listing.
	start := len(sec.versions)
	if tok := req.GetPageToken(); tok != "" {
		n, err := decodePageToken(tok, req.GetParent(), req.GetFilter())
		if err != nil || n > len(sec.versions) {
			return nil, status.Error(codes.InvalidArgument, "invalid page_token")
		}
		start = n
	}
	resp := &secretmanagerpb.ListSecretVersionsResponse{}
	total := 0
	for i := len(sec.versions); i >= 1; i-- {
		if match(sec.versions[i-1].meta.State) {
			total++
		}
	}
	resp.TotalSize = int32(total)
	i := start
	for ; i >= 1 && len(resp.Versions) < size; i-- {
		v := sec.versions[i-1]
		if match(v.meta.State) {
			resp.Versions = append(resp.Versions, proto.Clone(v.meta).(*secretmanagerpb.SecretVersion))
		}
	}
	// Only hand out a token when a matching version remains.
	for j := i; j >= 1; j-- {
		if match(sec.versions[j-1].meta.State) {
			resp.NextPageToken = encodePageToken(i, req.GetParent(), req.GetFilter())
			break
		}
	}
	return resp, nil
}

func encodePageToken(next int, parent, filter string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(next) + "\x00" + parent + "\x00" + filter))
}

func decodePageToken(tok, parent, filter string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, err
	}
	parts := strings.SplitN(string(b), "\x00", 3)
	if len(parts) != 3 || parts[1] != parent || parts[2] != filter {
		return 0, errors.New("token belongs to another request")
	}
	return strconv.Atoi(parts[0])
}

// parseFilter supports the state part of the service's filter language:
// space-separated terms that must all hold, each "state:S" or "state=S",
// optionally negated with "NOT " or "-", where S is a state name or a
// parenthesized "A OR B" list. An empty filter matches everything.
func parseFilter(f string) (func(secretmanagerpb.SecretVersion_State) bool, error) {
	type term struct {
		neg    bool
		states []secretmanagerpb.SecretVersion_State
	}
	var terms []term
	toks := tokenizeFilter(f)
	for i := 0; i < len(toks); i++ {
		t := term{}
		tok := toks[i]
		if tok == "AND" {
			continue
		}
		if tok == "NOT" {
			t.neg = true
			i++
			if i >= len(toks) {
				return nil, errors.New("NOT without a term")
			}
			tok = toks[i]
		} else if strings.HasPrefix(tok, "-") {
			t.neg = true
			tok = tok[1:]
		}
		field, val, ok := strings.Cut(tok, ":")
		if !ok {
			field, val, ok = strings.Cut(tok, "=")
		}
		if !ok || !strings.EqualFold(field, "state") {
			return nil, fmt.Errorf("unsupported term %q", tok)
		}
		val = strings.TrimSuffix(strings.TrimPrefix(val, "("), ")")
		for _, name := range strings.Split(val, " OR ") {
			st, ok := secretmanagerpb.SecretVersion_State_value[strings.ToUpper(strings.TrimSpace(name))]
			if !ok || st == 0 {
				return nil, fmt.Errorf("unknown state %q", name)
			}
			t.states = append(t.states, secretmanagerpb.SecretVersion_State(st))
		}
		terms = append(terms, t)
	}
	return func(s secretmanagerpb.SecretVersion_State) bool {
		for _, t := range terms {
			if slices.Contains(t.states, s) == t.neg {
				return false
			}
		}
		return true
	}, nil
}

// tokenizeFilter splits on spaces outside parentheses.
func tokenizeFilter(f string) []string {
	var toks []string
	depth, start := 0, -1
	for i, r := range f + " " {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ' ' && depth == 0:
			if start >= 0 {
				toks = append(toks, f[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return toks
}

// AccessSecretVersion implements the RPC.
func (svc *service) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	v, err := svc.lookupVersionLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	if st := v.meta.State; st != secretmanagerpb.SecretVersion_ENABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", v.meta.Name, st)
	}
	crc := v.crc
	if svc.corrupt {
		crc ^= 0x5a5a5a5a
	}
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    v.meta.Name,
		Payload: &secretmanagerpb.SecretPayload{Data: slices.Clone(v.payload), DataCrc32C: &crc},
	}, nil
}

// changeState applies a state transition RPC with the service's rules: a
// destroyed version cannot change, and a given etag must match.
func (svc *service) changeState(name, etag string, to secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	v, err := svc.lookupVersionLocked(name)
	if err != nil {
		return nil, err
	}
	if _, n, _ := splitVersionName(name); n == "latest" {
		return nil, status.Error(codes.InvalidArgument, "the latest alias is not allowed here")
	}
	if etag != "" && etag != v.meta.Etag {
		return nil, status.Error(codes.FailedPrecondition, "etag does not match the current version")
	}
	if v.meta.State == secretmanagerpb.SecretVersion_DESTROYED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in DESTROYED state.", v.meta.Name)
	}
	svc.setStateLocked(v, to)
	return proto.Clone(v.meta).(*secretmanagerpb.SecretVersion), nil
}

// EnableSecretVersion implements the RPC.
func (svc *service) EnableSecretVersion(_ context.Context, req *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.changeState(req.GetName(), req.GetEtag(), secretmanagerpb.SecretVersion_ENABLED)
}

// DisableSecretVersion implements the RPC.
func (svc *service) DisableSecretVersion(_ context.Context, req *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.changeState(req.GetName(), req.GetEtag(), secretmanagerpb.SecretVersion_DISABLED)
}

// DestroySecretVersion implements the RPC.
func (svc *service) DestroySecretVersion(_ context.Context, req *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return svc.changeState(req.GetName(), req.GetEtag(), secretmanagerpb.SecretVersion_DESTROYED)
}
