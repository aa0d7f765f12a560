package firestoretest

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	vkit "cloud.google.com/go/firestore/apiv1"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var bg = context.Background()

func newClient(t *testing.T) (*Server, *firestore.Client) {
	t.Helper()
	srv, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := srv.Client(bg, "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c
}

func code(err error) codes.Code { return status.Code(err) }

// The answers the real service gives, as the client's own integration
// tests expect them (integration_test.go: testIntegrationDelete, …Update).
func TestDocumentSemantics(t *testing.T) {
	_, c := newClient(t)
	doc := c.Collection("coll").Doc("d")

	if _, err := doc.Get(bg); code(err) != codes.NotFound {
		t.Fatalf("Get on a missing doc = %v, want NotFound", err)
	}
	if _, err := doc.Update(bg, []firestore.Update{{Path: "a", Value: 1}}); code(err) != codes.NotFound {
		t.Fatalf("Update on a missing doc = %v, want NotFound", err)
	}
	if _, err := doc.Delete(bg); err != nil {
		t.Fatalf("Delete on a missing doc = %v, want OK", err)
	}
	wr1, err := doc.Create(bg, map[string]any{"a": 1, "b": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Create(bg, map[string]any{"a": 2}); code(err) != codes.AlreadyExists {
		t.Fatalf("Create on a present doc = %v, want AlreadyExists", err)
	}
	stale := firestore.LastUpdateTime(wr1.UpdateTime.Add(-time.Microsecond))
	if _, err := doc.Update(bg, []firestore.Update{{Path: "a", Value: 2}}, stale); code(err) != codes.FailedPrecondition {
		t.Fatalf("Update with a stale update time = %v, want FailedPrecondition", err)
	}
	if _, err := doc.Delete(bg, stale); code(err) != codes.FailedPrecondition {
		t.Fatalf("Delete with a stale update time = %v, want FailedPrecondition", err)
	}
	wr2, err := doc.Update(bg, []firestore.Update{{Path: "a", Value: 2}}, firestore.LastUpdateTime(wr1.UpdateTime))
	if err != nil {
		t.Fatalf("Update with the right update time: %v", err)
	}
	if !wr2.UpdateTime.After(wr1.UpdateTime) {
		t.Fatalf("update time %v did not advance past %v", wr2.UpdateTime, wr1.UpdateTime)
	}
	snap, err := doc.Get(bg)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Data(); got["a"] != int64(2) || got["b"] != "x" {
		t.Fatalf("after a masked update: %v, want a=2 and b untouched", got)
	}
	if !snap.CreateTime.Equal(wr1.UpdateTime) || !snap.UpdateTime.Equal(wr2.UpdateTime) {
		t.Fatalf("times create %v update %v, want %v and %v", snap.CreateTime, snap.UpdateTime, wr1.UpdateTime, wr2.UpdateTime)
	}
	// A write that changes nothing keeps the update time.
	wr3, err := doc.Update(bg, []firestore.Update{{Path: "a", Value: 2}})
	if err != nil || !wr3.UpdateTime.Equal(wr2.UpdateTime) {
		t.Fatalf("no-op update: %v, %v; want update time kept at %v", wr3, err, wr2.UpdateTime)
	}
	// Set without merge replaces the document.
	if _, err := doc.Set(bg, map[string]any{"c": true}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := doc.Get(bg); len(snap.Data()) != 1 || snap.Data()["c"] != true {
		t.Fatalf("after Set: %v, want only c", snap.Data())
	}
	// Deleting a field through an update mask removes it.
	if _, err := doc.Update(bg, []firestore.Update{{Path: "c", Value: firestore.Delete}}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := doc.Get(bg); len(snap.Data()) != 0 {
		t.Fatalf("after deleting c: %v, want no fields", snap.Data())
	}
	snap, _ = doc.Get(bg)
	if _, err := doc.Delete(bg, firestore.LastUpdateTime(snap.UpdateTime)); err != nil {
		t.Fatalf("Delete with the right update time: %v", err)
	}
	if _, err := doc.Delete(bg, firestore.LastUpdateTime(snap.UpdateTime)); code(err) != codes.FailedPrecondition {
		t.Fatalf("Delete of a gone doc with an update time = %v, want FailedPrecondition", err)
	}
}

// What the fake does not implement it refuses rather than pretends.
func TestUnimplementedRefused(t *testing.T) {
	_, c := newClient(t)
	doc := c.Collection("coll").Doc("d")
	if _, err := doc.Set(bg, map[string]any{"t": firestore.ServerTimestamp}); code(err) != codes.Unimplemented {
		t.Fatalf("server timestamp transform = %v, want Unimplemented", err)
	}
	err := c.RunTransaction(bg, func(ctx context.Context, tx *firestore.Transaction) error { return nil })
	if code(err) != codes.Unimplemented {
		t.Fatalf("transaction = %v, want Unimplemented", err)
	}
	if _, err := c.Collection("coll").Documents(bg).GetAll(); code(err) != codes.Unimplemented {
		t.Fatalf("query = %v, want Unimplemented", err)
	}
}

// A commit is atomic, and may not write one document twice.
func TestCommitAtomic(t *testing.T) {
	srv, c := newClient(t)
	raw, err := vkit.NewClient(bg, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	db := "projects/p/databases/(default)"
	name := func(id string) string { return db + "/documents/coll/" + id }
	if _, err := c.Collection("coll").Doc("exists").Create(bg, map[string]any{"v": 1}); err != nil {
		t.Fatal(err)
	}
	create := func(id string) *pb.Write {
		return &pb.Write{
			Operation:       &pb.Write_Update{Update: &pb.Document{Name: name(id), Fields: map[string]*pb.Value{"v": {ValueType: &pb.Value_IntegerValue{IntegerValue: 2}}}}},
			CurrentDocument: &pb.Precondition{ConditionType: &pb.Precondition_Exists{Exists: false}},
		}
	}
	_, err = raw.Commit(bg, &pb.CommitRequest{Database: db, Writes: []*pb.Write{create("new"), create("exists")}})
	if code(err) != codes.AlreadyExists {
		t.Fatalf("commit with one failing write = %v, want AlreadyExists", err)
	}
	if srv.Document(name("new")) != nil {
		t.Fatal("a failed commit applied one of its writes")
	}
	_, err = raw.Commit(bg, &pb.CommitRequest{Database: db, Writes: []*pb.Write{create("x"), create("x")}})
	if code(err) != codes.InvalidArgument {
		t.Fatalf("commit writing one doc twice = %v, want InvalidArgument", err)
	}
	for _, bad := range []string{db + "/documents/coll", db + "/documents/coll/__x__", "projects/p/databases/other/documents/coll/d"} {
		w := create("x")
		w.GetUpdate().Name = bad
		if _, err := raw.Commit(bg, &pb.CommitRequest{Database: db, Writes: []*pb.Write{w}}); code(err) != codes.InvalidArgument {
			t.Errorf("commit to %q = %v, want InvalidArgument", bad, err)
		}
	}
}

// Fault switches and counters, and the FIRESTORE_EMULATOR_HOST path.
func TestFaultsAndEmulatorHost(t *testing.T) {
	srv, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("FIRESTORE_EMULATOR_HOST", srv.Addr)
	c, err := firestore.NewClient(bg, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	doc := c.Collection("coll").Doc("d")

	srv.FailNext("Commit", codes.PermissionDenied, 1)
	if _, err := doc.Create(bg, map[string]any{"v": 1}); code(err) != codes.PermissionDenied {
		t.Fatalf("first Create = %v, want the injected PermissionDenied", err)
	}
	if _, err := doc.Create(bg, map[string]any{"v": 1}); err != nil {
		t.Fatalf("second Create = %v, want OK once the fault is spent", err)
	}
	if srv.Calls("Commit") != 2 || srv.Calls("BatchGetDocuments") != 0 {
		t.Fatalf("calls Commit %d BatchGetDocuments %d, want 2, 0", srv.Calls("Commit"), srv.Calls("BatchGetDocuments"))
	}
	srv.Delay("BatchGetDocuments", time.Minute)
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	if _, err := doc.Get(ctx); code(err) != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled Get = %v, want DeadlineExceeded", err)
	}
	srv.Recover()
	srv.Fail("", codes.Unavailable)
	ctx2, cancel2 := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel2()
	if _, err := doc.Get(ctx2); err == nil {
		t.Fatal("Get succeeded while every call fails")
	}
	if srv.Calls("BatchGetDocuments") < 2 {
		t.Fatalf("the client did not retry Unavailable: %d calls", srv.Calls("BatchGetDocuments"))
	}
	srv.Recover()
	if _, err := doc.Get(bg); err != nil {
		t.Fatalf("Get after Recover: %v", err)
	}
}
