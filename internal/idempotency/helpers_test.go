package idempotency

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/geminihook/geminihook/internal/firestoretest"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const project = "test-project"

// fsEnv is one Firestore server shared by several function instances.
type fsEnv struct {
	srv *firestoretest.Server
	clk *clock
}

func newFSEnv(t testing.TB) *fsEnv {
	t.Helper()
	srv, err := firestoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fsEnv{srv: srv, clk: newClock()}
}

// instance returns the Guard of one function instance: its own Firestore
// client and store, the shared server and clock.
func (e *fsEnv) instance(t testing.TB) *Guard {
	return NewGuard(e.store(t), Options{Now: e.clk.Now})
}

func (e *fsEnv) store(t testing.TB) *Firestore {
	t.Helper()
	client, err := e.srv.Client(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return NewFirestore(client, FirestoreOptions{Now: e.clk.Now, CallTimeout: 500 * time.Millisecond})
}

// docName is the full name of key's record.
func docName(key string) string {
	return "projects/" + project + "/databases/" + firestore.DefaultDatabaseID + "/documents/" + DefaultCollection + "/" + DocID(key)
}

// stateOf returns the state field of key's record, "" if there is none.
func (e *fsEnv) stateOf(key string) string {
	d := e.srv.Document(docName(key))
	if d == nil {
		return ""
	}
	return d.Fields["state"].GetStringValue()
}

func (e *fsEnv) field(key, name string) string {
	d := e.srv.Document(docName(key))
	if d == nil {
		return ""
	}
	return d.Fields[name].GetStringValue()
}

func (e *fsEnv) timeField(key, name string) *timestamppb.Timestamp {
	d := e.srv.Document(docName(key))
	if d == nil {
		return nil
	}
	return d.Fields[name].GetTimestampValue()
}

// waitFor polls until cond holds; it fails the test after a generous bound,
// which only a hang reaches.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
