package idempotency

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

var bg = context.Background()

// Two instances receive the same delivery concurrently: exactly one copy
// owns it and publishes; the other instance's copies find its live lease
// (Busy) or its record (Duplicate), and this instance's copies wait for it
// and share its outcome. After it publishes, a retry anywhere is a duplicate.
func TestTwoInstancesConcurrentExactlyOneNew(t *testing.T) {
	env := newFSEnv(t)
	a, b := env.instance(t), env.instance(t)
	const key = "msg_2Yh/with/slashes"

	var news, busies atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		g := a
		if i%2 == 1 {
			g = b
		}
		wg.Go(func() {
			out, tk, err := g.Begin(bg, key)
			if err != nil {
				t.Errorf("Begin: %v", err)
				return
			}
			switch out.State {
			case New:
				news.Add(1)
				if got := env.stateOf(key); got != stateProcessing {
					t.Errorf("record state = %q during the publish, want processing", got)
				}
				if err := tk.Published(bg, "m-1"); err != nil {
					t.Errorf("Published: %v", err)
				}
			case Busy:
				busies.Add(1)
				if out.RetryAfter < time.Second || out.RetryAfter > DefaultLease {
					t.Errorf("Busy RetryAfter = %v, want within [1s, lease]", out.RetryAfter)
				}
			case Duplicate:
				if out.MessageID != "m-1" {
					t.Errorf("Duplicate message id = %q, want m-1", out.MessageID)
				}
			}
		})
	}
	wg.Wait()
	if news.Load() != 1 {
		t.Fatalf("%d copies got New, want exactly 1", news.Load())
	}
	t.Logf("of 20 copies: 1 new, %d busy, %d duplicate", busies.Load(), 19-busies.Load())
	for _, g := range []*Guard{a, b} {
		out, tk, err := g.Begin(bg, key)
		if err != nil || out.State != Duplicate || out.MessageID != "m-1" || tk != nil {
			t.Fatalf("retry after publish = %+v, %v, %v; want Duplicate m-1", out, tk, err)
		}
	}
	if got := env.field(key, "key"); got != key {
		t.Errorf("record key field = %q, want %q", got, key)
	}
	claimed := env.timeField(key, "claimed_at").AsTime()
	if exp := env.timeField(key, "expire_at").AsTime(); !exp.Equal(claimed.Add(72 * time.Hour)) {
		t.Errorf("expire_at = %v, want claim time + 72h = %v", exp, claimed.Add(72*time.Hour))
	}
}

// An instance dies mid-publish: the other is Busy until the lease runs out,
// then exactly one of several takers owns the key.
func TestDeadInstanceLeaseExpiryThenOneTakeover(t *testing.T) {
	env := newFSEnv(t)
	dead := env.instance(t)
	const key = "msg_dead"
	if out, _, err := dead.Begin(bg, key); err != nil || out.State != New {
		t.Fatalf("first Begin = %+v, %v", out, err)
	}
	// The dead instance never settles its ticket.
	others := []*Guard{env.instance(t), env.instance(t), env.instance(t)}
	env.clk.Add(DefaultLease - 5*time.Second)
	out, _, err := others[0].Begin(bg, key)
	if err != nil || out.State != Busy || out.RetryAfter != 5*time.Second {
		t.Fatalf("Begin inside the lease = %+v, %v; want Busy with 5s", out, err)
	}
	env.clk.Add(5 * time.Second)

	var mu sync.Mutex
	var owners []*Ticket
	var wg sync.WaitGroup
	for _, g := range others {
		wg.Go(func() {
			out, tk, err := g.Begin(bg, key)
			if err != nil {
				t.Errorf("Begin after the lease: %v", err)
				return
			}
			if out.State == New {
				mu.Lock()
				owners = append(owners, tk)
				mu.Unlock()
			} else if out.State != Busy {
				t.Errorf("Begin after the lease = %v, want New or Busy", out.State)
			}
		})
	}
	wg.Wait()
	if len(owners) != 1 {
		t.Fatalf("%d instances took the expired lease over, want exactly 1", len(owners))
	}
	if err := owners[0].Published(bg, "m-2"); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := env.instance(t).Begin(bg, key); out.State != Duplicate || out.MessageID != "m-2" {
		t.Fatalf("Begin on a restarted instance = %+v, want Duplicate m-2", out)
	}
}

// Firestore failing before a delivery: ErrUnavailable, nothing recorded.
func TestFirestoreDownBeforeDelivery(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.PermissionDenied} {
		t.Run(code.String(), func(t *testing.T) {
			env := newFSEnv(t)
			g := env.instance(t)
			env.srv.Fail("", code)
			out, tk, err := g.Begin(bg, "k")
			if !errors.Is(err, ErrUnavailable) || tk != nil || out.State != 0 {
				t.Fatalf("Begin with Firestore down = %+v, %v, %v; want ErrUnavailable", out, tk, err)
			}
			if docs := env.srv.Documents(); len(docs) != 0 {
				t.Fatalf("%d records written while Firestore was down", len(docs))
			}
			env.srv.Recover()
			if out, tk, err := g.Begin(bg, "k"); err != nil || out.State != New {
				t.Fatalf("Begin after recovery = %+v, %v", out, err)
			} else {
				_ = tk.Published(bg, "m")
			}
		})
	}
}

// Firestore failing during a delivery (after the claim, before the outcome
// is recorded): errors are ErrUnavailable, nothing is marked published, and
// after recovery the key is Busy until the lease ends, then claimable.
func TestFirestoreDownDuringDelivery(t *testing.T) {
	env := newFSEnv(t)
	a, b := env.instance(t), env.instance(t)
	const key = "k-during"
	_, tk, err := a.Begin(bg, key)
	if err != nil {
		t.Fatal(err)
	}
	env.srv.Fail("", codes.Unavailable)
	// The publish failed; so does giving the claim back.
	if err := tk.Release(bg); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Release with Firestore down = %v, want ErrUnavailable", err)
	}
	if _, _, err := b.Begin(bg, key); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Begin on B with Firestore down = %v, want ErrUnavailable", err)
	}
	env.srv.Recover()
	if got := env.stateOf(key); got != stateProcessing {
		t.Fatalf("record state = %q, want processing (never published)", got)
	}
	if out, _, _ := b.Begin(bg, key); out.State != Busy {
		t.Fatalf("Begin on B inside the stuck lease = %v, want Busy", out.State)
	}
	env.clk.Add(DefaultLease)
	out, tk2, err := b.Begin(bg, key)
	if err != nil || out.State != New {
		t.Fatalf("Begin on B after the lease = %+v, %v; want New", out, err)
	}
	// Firestore fails as the outcome is written: the caller learns it, and
	// this instance still answers copies as duplicates.
	env.srv.FailNext("Commit", codes.PermissionDenied, 1)
	if err := tk2.Published(bg, "m-3"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Published with Firestore failing = %v, want ErrUnavailable", err)
	}
	if out, _, _ := b.Begin(bg, key); out.State != Duplicate || out.MessageID != "m-3" {
		t.Fatalf("local copy after a failed record = %+v, want Duplicate m-3", out)
	}
}

// The cache in front: a key this instance settled costs no store call.
func TestSettledKeyCostsNoStoreCall(t *testing.T) {
	env := newFSEnv(t)
	g := env.instance(t)
	_, tk, err := g.Begin(bg, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.Published(bg, "m"); err != nil {
		t.Fatal(err)
	}
	if got := env.srv.Calls("Commit"); got != 2 {
		t.Errorf("writes for a new delivery = %d, want 2 (claim, published)", got)
	}
	before := env.srv.Calls("")
	for range 5 {
		if out, _, err := g.Begin(bg, "k"); err != nil || out.State != Duplicate || out.MessageID != "m" {
			t.Fatalf("duplicate = %+v, %v", out, err)
		}
	}
	if got := env.srv.Calls(""); got != before {
		t.Fatalf("store calls for settled duplicates = %d, want 0", got-before)
	}
	// Past the cache TTL the store answers, with one failed create and one read.
	env.clk.Add(10 * time.Minute)
	if out, _, _ := g.Begin(bg, "k"); out.State != Duplicate {
		t.Fatalf("duplicate after the cache TTL = %v", out.State)
	}
	if c, r := env.srv.Calls("Commit"), env.srv.Calls("BatchGetDocuments"); c != 3 || r != 1 {
		t.Fatalf("calls after the cache TTL: Commit %d, BatchGetDocuments %d; want 3, 1", c, r)
	}
}

// A publish given up (Abandon, then 503) that lands afterwards is recorded:
// the sender's retry on any instance is a duplicate, not a second publish.
func TestLandedLate(t *testing.T) {
	for _, giveUp := range []string{"abandon", "release"} {
		t.Run(giveUp, func(t *testing.T) {
			env := newFSEnv(t)
			a, b := env.instance(t), env.instance(t)
			_, tk, _ := a.Begin(bg, "k")
			if giveUp == "abandon" {
				tk.Abandon()
				if out, _, _ := b.Begin(bg, "k"); out.State != Busy {
					t.Fatalf("retry while the abandoned publish may land = %v, want Busy", out.State)
				}
			} else if err := tk.Release(bg); err != nil {
				t.Fatal(err)
			}
			if err := tk.Published(bg, "late"); err != nil {
				t.Fatal(err)
			}
			for _, g := range []*Guard{a, b} {
				if out, _, err := g.Begin(bg, "k"); err != nil || out.State != Duplicate || out.MessageID != "late" {
					t.Fatalf("retry after the late landing = %+v, %v; want Duplicate late", out, err)
				}
			}
		})
	}
}

// Release after a failed publish frees the key at once for any instance,
// but never deletes a record someone else holds now.
func TestReleaseOnlyOwnClaim(t *testing.T) {
	env := newFSEnv(t)
	a, b := env.instance(t), env.instance(t)
	_, tkA, _ := a.Begin(bg, "k")
	env.clk.Add(DefaultLease) // A is slow; B takes over
	out, tkB, err := b.Begin(bg, "k")
	if err != nil || out.State != New {
		t.Fatalf("takeover = %+v, %v", out, err)
	}
	if err := tkA.Release(bg); err != nil {
		t.Fatal(err)
	}
	if got := env.stateOf("k"); got != stateProcessing {
		t.Fatalf("A's release deleted B's claim: state %q", got)
	}
	if err := tkB.Release(bg); err != nil {
		t.Fatal(err)
	}
	if got := env.stateOf("k"); got != "" {
		t.Fatalf("B's release left state %q, want no record", got)
	}
	if out, _, _ := a.Begin(bg, "k"); out.State != New {
		t.Fatalf("retry after release = %v, want New", out.State)
	}
}

// A create the client retried after its answer was lost finds our own record.
func TestOwnCreateRetriedIsOurs(t *testing.T) {
	env := newFSEnv(t)
	s := env.store(t)
	// Simulate: the first Create landed, its answer was lost, the retry
	// finds ALREADY_EXISTS. Drive it by claiming with a fixed owner twice.
	c1, err := claimAs(s, "k", "owner-1")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := claimAs(s, "k", "owner-1")
	if err != nil {
		t.Fatal(err)
	}
	if !c1.version.Equal(c2.version) {
		t.Fatalf("re-read claim version %v, want the created %v", c2.version, c1.version)
	}
}

// claimAs runs Claim's create-then-read path with a chosen owner.
func claimAs(s *Firestore, key, owner string) (Claim, error) {
	defer func(old func() string) { newOwner = old }(newOwner)
	newOwner = func() string { return owner }
	out, c, err := s.Claim(bg, key)
	if err == nil && out.State != New {
		err = fmt.Errorf("outcome %v, want New", out.State)
	}
	return c, err
}

func TestDocIDIsValidForAnyKey(t *testing.T) {
	env := newFSEnv(t)
	g := env.instance(t)
	keys := []string{"/", "..", "__name__", "a/b/c", strings.Repeat("x", 600), "jwt:" + strings.Repeat("é", 100)}
	for _, k := range keys {
		if id := DocID(k); len(id) != 64 || strings.ContainsAny(id, "/.") {
			t.Errorf("DocID(%.10q) = %q", k, id)
		}
		out, tk, err := g.Begin(bg, k)
		if err != nil || out.State != New {
			t.Fatalf("Begin(%.10q) = %+v, %v", k, out, err)
		}
		_ = tk.Published(bg, "m")
		if got := env.field(k, "key"); got != k {
			t.Errorf("stored key %.10q, want %.10q", got, k)
		}
	}
}

// Two instances read the same expired record; the one that writes second
// fails its update-time precondition, reads again and finds the other's
// live lease: never two owners.
func TestTakeoverRaceLoserBacksOff(t *testing.T) {
	env := newFSEnv(t)
	if out, _, err := env.instance(t).Begin(bg, "k"); err != nil || out.State != New {
		t.Fatalf("first claim = %+v, %v", out, err)
	}
	env.clk.Add(DefaultLease)
	slow, fast := env.store(t), env.store(t)
	var fastOut Outcome
	slow.beforeTakeover = func() {
		slow.beforeTakeover = nil
		// Between slow's read and its write, fast takes the record over.
		var err error
		if fastOut, _, err = fast.Claim(bg, "k"); err != nil {
			t.Errorf("fast Claim: %v", err)
		}
	}
	slowOut, _, err := slow.Claim(bg, "k")
	if err != nil {
		t.Fatal(err)
	}
	if fastOut.State != New || slowOut.State != Busy {
		t.Fatalf("fast %v, slow %v; want New, Busy", fastOut.State, slowOut.State)
	}
	if slowOut.RetryAfter != DefaultLease {
		t.Fatalf("slow RetryAfter = %v, want the fresh lease %v", slowOut.RetryAfter, DefaultLease)
	}
}
