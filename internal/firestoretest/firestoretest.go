// Package firestoretest runs an in-process Firestore gRPC server for tests.
//
// The server implements the two RPCs the real cloud.google.com/go/firestore
// client uses for single-document reads and writes (DocumentRef.Get,
// Create, Set, Update and Delete): BatchGetDocuments and Commit, with the
// service's documented semantics where a test can observe them:
//
//   - a commit is atomic: every write applies or none does, and one commit
//     may not write the same document twice (INVALID_ARGUMENT);
//   - a create (precondition exists=false) that finds a document fails with
//     ALREADY_EXISTS; an update with exists=true that finds none fails with
//     NOT_FOUND; an update_time precondition that does not match the stored
//     update time (or finds no document) fails with FAILED_PRECONDITION;
//   - an update with a field mask changes only the masked fields (a masked
//     field absent from the input is deleted); without a mask it replaces
//     the document; a delete of a missing document succeeds;
//   - create_time and update_time are kept per document, with microsecond
//     precision and strictly increasing across commits, and a write that
//     changes nothing keeps the previous update_time;
//   - BatchGetDocuments answers found or missing for every name, with the
//     read time, and honours a field mask.
//
// Document and database names are checked as the service checks them.
// Every other RPC, transactions, and field transforms (server timestamps,
// increments) answer UNIMPLEMENTED, so a change in the client's calls shows
// up as a test failure rather than as a fake that agrees with anything.
//
// The real client talks to it through FIRESTORE_EMULATOR_HOST (set it to
// Server.Addr) or through Server.ClientOptions:
//
//	srv, err := firestoretest.NewServer()
//	...
//	defer srv.Close()
//	client, err := srv.Client(ctx, "my-project")
//
// Faults (FailNext, Fail, Delay) and call counters (Calls) let tests drive
// error paths and count round trips. All methods are safe for concurrent use.
package firestoretest

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/geminihook/geminihook/internal/grpcfault"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server is an in-process Firestore. The zero value is not usable; call NewServer.
type Server struct {
	// Addr is the host:port the server listens on (127.0.0.1 and a free port).
	Addr string

	grpc   *grpc.Server
	svc    *service
	faults *grpcfault.Injector
}

type service struct {
	pb.UnimplementedFirestoreServer

	mu   sync.Mutex
	docs map[string]*pb.Document // by full document name
	last time.Time               // the latest commit time handed out
}

// NewServer starts a server on 127.0.0.1 with a free port. Call Close when done.
func NewServer() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("firestoretest: listen: %w", err)
	}
	svc := &service{docs: map[string]*pb.Document{}}
	faults := grpcfault.New()
	g := grpc.NewServer(grpc.UnaryInterceptor(faults.Unary), grpc.StreamInterceptor(faults.Stream))
	pb.RegisterFirestoreServer(g, svc)
	go func() { _ = g.Serve(lis) }()
	return &Server{Addr: lis.Addr().String(), grpc: g, svc: svc, faults: faults}, nil
}

// Close stops the server, ending any calls in progress (including delayed ones).
func (s *Server) Close() {
	s.faults.Close()
	s.grpc.Stop()
}

// ClientOptions returns the options that point a real Firestore client at
// this server: its address, no authentication, plaintext gRPC. Setting
// FIRESTORE_EMULATOR_HOST to Addr has the same effect.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Client returns a real Firestore client for project's (default) database,
// connected to this server. The caller closes it.
func (s *Server) Client(ctx context.Context, project string) (*firestore.Client, error) {
	c, err := firestore.NewClient(ctx, project, s.ClientOptions()...)
	if err != nil {
		return nil, fmt.Errorf("firestoretest: firestore.NewClient: %w", err)
	}
	return c, nil
}

// FailNext makes the next n calls of method (an RPC name such as "Commit";
// "" means any method) fail with code, before they touch any document.
// Calls beyond the n-th are served normally.
func (s *Server) FailNext(method string, code codes.Code, n int) {
	s.faults.FailNext(method, status.Error(code, "firestoretest: injected fault"), n)
}

// Fail makes every later call of method ("" means every method) fail with
// code until Recover.
func (s *Server) Fail(method string, code codes.Code) {
	s.faults.FailNext(method, status.Error(code, "firestoretest: injected fault"), -1)
}

// Delay makes every later call of method ("" means every method) wait d
// before it is served, or until the call's context ends. Recover removes delays.
func (s *Server) Delay(method string, d time.Duration) { s.faults.Delay(method, d) }

// Recover removes every fault and delay.
func (s *Server) Recover() { s.faults.Recover() }

// Calls reports how many times method (an RPC name such as "Commit") has
// been called, including failed calls. "" counts every call.
func (s *Server) Calls(method string) int { return s.faults.Calls(method) }

// Document returns a copy of the stored document name (a full name,
// projects/P/databases/D/documents/…), or nil if there is none.
func (s *Server) Document(name string) *pb.Document {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	d, ok := s.svc.docs[name]
	if !ok {
		return nil
	}
	return proto.Clone(d).(*pb.Document)
}

// Documents returns copies of every stored document, in no particular order.
func (s *Server) Documents() []*pb.Document {
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	out := make([]*pb.Document, 0, len(s.svc.docs))
	for _, d := range s.svc.docs {
		out = append(out, proto.Clone(d).(*pb.Document))
	}
	return out
}

// commitTimeLocked returns a commit time later than every earlier one, at
// the microsecond precision of the real service.
func (svc *service) commitTimeLocked() time.Time {
	t := time.Now().UTC().Truncate(time.Microsecond)
	if !t.After(svc.last) {
		t = svc.last.Add(time.Microsecond)
	}
	svc.last = t
	return t
}

var (
	databaseRE = regexp.MustCompile(`^projects/[^/]+/databases/[^/]+$`)
	// fieldNameRE is a simple field name; the project uses only these.
	fieldNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

// checkDocName reports whether name is a document of database, as the
// service checks it: an even number of segments under documents/, each
// non-empty, at most 1,500 bytes, neither "." nor "..", nor __.*__.
func checkDocName(database, name string) error {
	rest, ok := strings.CutPrefix(name, database+"/documents/")
	if !ok {
		return status.Errorf(codes.InvalidArgument, "document name %q is not in database %q", name, database)
	}
	segs := strings.Split(rest, "/")
	if len(segs)%2 != 0 {
		return status.Errorf(codes.InvalidArgument, "%q is a collection, not a document", name)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || len(s) > 1500 || (len(s) >= 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__")) {
			return status.Errorf(codes.InvalidArgument, "invalid path segment %q in %q", s, name)
		}
	}
	if len(name) > 6*1024 {
		return status.Errorf(codes.InvalidArgument, "document name too long")
	}
	return nil
}

// Commit applies the writes atomically.
func (svc *service) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	if !databaseRE.MatchString(req.GetDatabase()) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid database %q", req.GetDatabase())
	}
	if len(req.GetTransaction()) > 0 {
		return nil, status.Error(codes.Unimplemented, "firestoretest: transactions are not implemented")
	}
	if len(req.GetWrites()) > 500 {
		return nil, status.Error(codes.InvalidArgument, "a commit holds at most 500 writes")
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()

	// Validate and stage every write against a view of the documents, so
	// that a failure leaves the store untouched.
	staged := map[string]*pb.Document{} // nil value = deleted
	order := []string{}
	results := make([]*pb.WriteResult, len(req.GetWrites()))
	now := svc.commitTimeLocked()
	ts := timestamppb.New(now)
	for i, w := range req.GetWrites() {
		if len(w.GetUpdateTransforms()) > 0 {
			return nil, status.Error(codes.Unimplemented, "firestoretest: field transforms are not implemented")
		}
		var name string
		switch op := w.GetOperation().(type) {
		case *pb.Write_Update:
			name = op.Update.GetName()
		case *pb.Write_Delete:
			name = op.Delete
		default:
			return nil, status.Errorf(codes.Unimplemented, "firestoretest: write operation %T is not implemented", op)
		}
		if err := checkDocName(req.GetDatabase(), name); err != nil {
			return nil, err
		}
		if _, dup := staged[name]; dup {
			return nil, status.Errorf(codes.InvalidArgument, "a commit may not write document %q twice", name)
		}
		cur := svc.docs[name]
		if err := checkPrecondition(w.GetCurrentDocument(), cur); err != nil {
			return nil, err
		}
		switch op := w.GetOperation().(type) {
		case *pb.Write_Delete:
			staged[name] = nil
			results[i] = &pb.WriteResult{}
		case *pb.Write_Update:
			next, err := applyUpdate(cur, op.Update, w.GetUpdateMask())
			if err != nil {
				return nil, err
			}
			next.Name = name
			switch {
			case cur == nil:
				next.CreateTime, next.UpdateTime = ts, ts
			case proto.Equal(&pb.Document{Fields: cur.Fields}, &pb.Document{Fields: next.Fields}):
				next.CreateTime, next.UpdateTime = cur.CreateTime, cur.UpdateTime
			default:
				next.CreateTime, next.UpdateTime = cur.CreateTime, ts
			}
			staged[name] = next
			results[i] = &pb.WriteResult{UpdateTime: next.UpdateTime}
		}
		order = append(order, name)
	}
	for _, name := range order {
		if d := staged[name]; d == nil {
			delete(svc.docs, name)
		} else {
			svc.docs[name] = d
		}
	}
	return &pb.CommitResponse{WriteResults: results, CommitTime: ts}, nil
}

// checkPrecondition answers what the service answers when pc does not hold
// for the stored document cur (nil when there is none).
func checkPrecondition(pc *pb.Precondition, cur *pb.Document) error {
	switch c := pc.GetConditionType().(type) {
	case nil:
		return nil
	case *pb.Precondition_Exists:
		if c.Exists && cur == nil {
			return status.Error(codes.NotFound, "no document to update")
		}
		if !c.Exists && cur != nil {
			return status.Error(codes.AlreadyExists, "document already exists")
		}
	case *pb.Precondition_UpdateTime:
		if err := c.UpdateTime.CheckValid(); err != nil {
			return status.Errorf(codes.InvalidArgument, "invalid update_time precondition: %v", err)
		}
		if cur == nil || !proto.Equal(cur.GetUpdateTime(), c.UpdateTime) {
			return status.Error(codes.FailedPrecondition, "the stored update time does not match the precondition")
		}
	}
	return nil
}

// applyUpdate returns the document after writing in to cur under mask.
func applyUpdate(cur, in *pb.Document, mask *pb.DocumentMask) (*pb.Document, error) {
	if err := checkFields(in.GetFields()); err != nil {
		return nil, err
	}
	if mask == nil {
		return &pb.Document{Fields: cloneFields(in.GetFields())}, nil
	}
	next := &pb.Document{Fields: map[string]*pb.Value{}}
	if cur != nil {
		next.Fields = cloneFields(cur.GetFields())
	}
	masked := map[string]bool{}
	for _, p := range mask.GetFieldPaths() {
		if !fieldNameRE.MatchString(p) {
			return nil, status.Errorf(codes.Unimplemented, "firestoretest: only top-level simple field paths are implemented, not %q", p)
		}
		masked[p] = true
		if v, ok := in.GetFields()[p]; ok {
			next.Fields[p] = proto.Clone(v).(*pb.Value)
		} else {
			delete(next.Fields, p)
		}
	}
	for k := range in.GetFields() {
		if !masked[k] {
			return nil, status.Errorf(codes.InvalidArgument, "field %q is not in the update mask", k)
		}
	}
	return next, nil
}

// checkFields refuses field names the service refuses.
func checkFields(fields map[string]*pb.Value) error {
	for k := range fields {
		if k == "" || len(k) > 1500 || (len(k) >= 4 && strings.HasPrefix(k, "__") && strings.HasSuffix(k, "__")) {
			return status.Errorf(codes.InvalidArgument, "invalid field name %q", k)
		}
	}
	return nil
}

func cloneFields(f map[string]*pb.Value) map[string]*pb.Value {
	out := make(map[string]*pb.Value, len(f))
	for k, v := range f {
		out[k] = proto.Clone(v).(*pb.Value)
	}
	return out
}

// BatchGetDocuments streams found or missing for every requested name.
func (svc *service) BatchGetDocuments(req *pb.BatchGetDocumentsRequest, stream pb.Firestore_BatchGetDocumentsServer) error {
	if !databaseRE.MatchString(req.GetDatabase()) {
		return status.Errorf(codes.InvalidArgument, "invalid database %q", req.GetDatabase())
	}
	if req.GetConsistencySelector() != nil {
		return status.Error(codes.Unimplemented, "firestoretest: transactions and read times are not implemented")
	}
	for _, name := range req.GetDocuments() {
		if err := checkDocName(req.GetDatabase(), name); err != nil {
			return err
		}
	}
	for _, p := range req.GetMask().GetFieldPaths() {
		if !fieldNameRE.MatchString(p) {
			return status.Errorf(codes.Unimplemented, "firestoretest: only top-level simple field paths are implemented, not %q", p)
		}
	}
	// Read every document at one instant, as the service does.
	svc.mu.Lock()
	readTime := timestamppb.New(time.Now().UTC().Truncate(time.Microsecond))
	if !readTime.AsTime().After(svc.last) {
		readTime = timestamppb.New(svc.last)
	}
	resps := make([]*pb.BatchGetDocumentsResponse, 0, len(req.GetDocuments()))
	for _, name := range req.GetDocuments() {
		r := &pb.BatchGetDocumentsResponse{ReadTime: readTime}
		if d, ok := svc.docs[name]; ok {
			d = proto.Clone(d).(*pb.Document)
			if m := req.GetMask(); m != nil {
				keep := map[string]*pb.Value{}
				for _, p := range m.GetFieldPaths() {
					if v, ok := d.Fields[p]; ok {
						keep[p] = v
					}
				}
				d.Fields = keep
			}
			r.Result = &pb.BatchGetDocumentsResponse_Found{Found: d}
		} else {
			r.Result = &pb.BatchGetDocumentsResponse_Missing{Missing: name}
		}
		resps = append(resps, r)
	}
	svc.mu.Unlock()
	for _, r := range resps {
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return nil
}
