package secrets

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/smtest"
	"github.com/geminihook/geminihook/internal/testclock"
	"github.com/geminihook/geminihook/verify"
)

const secret = "projects/p/secrets/s"

type fixture struct {
	srv   *smtest.Server
	clock *testclock.Clock
	keys  []string // payloads added, oldest first
}

func newFixture(t testing.TB, versions int) *fixture {
	t.Helper()
	srv, err := smtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateSecret(secret); err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, clock: testclock.New(time.Unix(1_800_000_000, 0))}
	for range versions {
		f.add(t)
	}
	return f
}

func (f *fixture) add(t testing.TB) string {
	s, err := verify.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	f.keys = append(f.keys, s)
	return f.srv.AddVersion(secret, []byte(s+"\n"))
}

// client returns a real Secret Manager client of the fake, closed at the
// end of the test.
func (f *fixture) client(t testing.TB) *secretmanager.Client {
	t.Helper()
	client, err := f.srv.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func (f *fixture) keyring(t testing.TB, name string, o Options) *Keyring {
	t.Helper()
	o.Now = f.clock.Now
	k, err := New(f.client(t), name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() }) // before the client's Close
	return k
}

// signs reports whether key verifies a signature made with payload.
func signs(key verify.Secret, payload string) bool {
	want := verify.MustParseSecret(payload)
	now := time.Unix(1_800_000_000, 0)
	sig := verify.Sign(want, "msg_1", now, []byte("{}"))
	return verify.Sign(key, "msg_1", now, []byte("{}")) == sig
}

func TestNewestEnabledVersionsFirstBounded(t *testing.T) {
	f := newFixture(t, 7)
	disabled := secret + "/versions/7"
	if err := f.srv.SetState(disabled, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	k := f.keyring(t, secret, Options{MaxVersions: 3})
	keys, err := k.Secrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("%d keys, want MaxVersions 3", len(keys))
	}
	// Versions 6, 5, 4 in that order; 7 is disabled.
	for i, want := range []int{5, 4, 3} {
		if !signs(keys[i], f.keys[want]) {
			t.Errorf("key %d is not version %d", i, want+1)
		}
	}
	if got := k.Versions(); len(got) != 3 || !strings.HasSuffix(got[0], "/versions/6") {
		t.Errorf("Versions() = %v", got)
	}
}

func TestSingleVersionName(t *testing.T) {
	f := newFixture(t, 2)
	k := f.keyring(t, secret+"/versions/1", Options{})
	keys, err := k.Secrets(context.Background())
	if err != nil || len(keys) != 1 || !signs(keys[0], f.keys[0]) {
		t.Fatalf("Secrets = %d keys, %v; want version 1 only", len(keys), err)
	}
	if f.srv.Calls("ListSecretVersions") != 0 {
		t.Error("a version name listed versions")
	}
}

func TestCachedForTTLThenReread(t *testing.T) {
	f := newFixture(t, 1)
	k := f.keyring(t, secret, Options{MaxAge: time.Minute})
	ctx := context.Background()
	for range 10 {
		if _, err := k.Secrets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.srv.Calls("AccessSecretVersion"); n != 1 {
		t.Fatalf("%d reads for 10 calls within the TTL, want 1", n)
	}
	f.add(t)
	f.clock.Add(time.Minute)
	keys, err := k.Secrets(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("past the TTL: %d keys, %v; want the stale key at once", len(keys), err)
	}
	k.Wait() // the re-read it started in the background
	keys, err = k.Secrets(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("after the background re-read: %d keys, %v; want the new version too", len(keys), err)
	}
	if n := f.srv.Calls("ListSecretVersions"); n != 2 {
		t.Fatalf("%d listings, want 2 (first load, one background re-read)", n)
	}
}

func TestRefreshRateLimitedAndReportsChange(t *testing.T) {
	f := newFixture(t, 1)
	k := f.keyring(t, secret, Options{MinRefreshInterval: 30 * time.Second})
	ctx := context.Background()
	if _, err := k.Secrets(ctx); err != nil {
		t.Fatal(err)
	}
	if changed, err := k.Refresh(ctx); changed || err != nil {
		t.Fatalf("Refresh right after a load = %v, %v; want no re-read", changed, err)
	}
	f.clock.Add(30 * time.Second)
	if changed, err := k.Refresh(ctx); changed || err != nil {
		t.Fatalf("Refresh with nothing new = %v, %v", changed, err)
	}
	f.add(t)
	if changed, _ := k.Refresh(ctx); changed {
		t.Fatal("Refresh within MinRefresh re-read")
	}
	f.clock.Add(30 * time.Second)
	if changed, err := k.Refresh(ctx); !changed || err != nil {
		t.Fatalf("Refresh after a new version = %v, %v; want changed", changed, err)
	}
}

func TestOutageKeepsLastGoodKeys(t *testing.T) {
	f := newFixture(t, 1)
	k := f.keyring(t, secret, Options{MaxAge: time.Minute, MinRefreshInterval: 10 * time.Second})
	ctx := context.Background()
	f.srv.Fail("", status.Error(codes.Unavailable, "down"))
	if _, err := k.Secrets(ctx); !errors.Is(err, verify.ErrKeySetUnavailable) {
		t.Fatalf("outage with nothing loaded: %v, want ErrKeySetUnavailable", err)
	}
	calls := f.srv.Calls("ListSecretVersions")
	for range 20 {
		k.Secrets(ctx)
	}
	if got := f.srv.Calls("ListSecretVersions") - calls; got != 0 {
		t.Fatalf("%d re-reads during the empty-keyring backoff, want 0", got)
	}
	f.srv.Recover()
	f.clock.Add(3 * time.Second)
	if _, err := k.Secrets(ctx); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	f.srv.Fail("", status.Error(codes.Unavailable, "down"))
	f.clock.Add(2 * time.Minute)
	keys, err := k.Secrets(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("outage after a load: %d keys, %v; want the cached key", len(keys), err)
	}
	k.Wait() // the stale keys' background re-read, which fails
	// The failed re-read is remembered: a miss now is "unavailable", not
	// "no such key", and nothing is read again within MinRefresh.
	calls = f.srv.Calls("ListSecretVersions")
	if changed, err := k.Refresh(ctx); changed || err == nil {
		t.Fatalf("Refresh right after a failed read = %v, %v; want that error", changed, err)
	}
	f.clock.Add(10 * time.Second)
	if changed, err := k.Refresh(ctx); changed || err == nil {
		t.Fatalf("Refresh during an outage = %v, %v; want the error", changed, err)
	}
	if got := f.srv.Calls("ListSecretVersions") - calls; got != 1 {
		t.Fatalf("%d re-reads, want 1 (the second Refresh)", got)
	}
}

func TestBadVersionsSkipped(t *testing.T) {
	f := newFixture(t, 1)
	f.srv.AddVersion(secret, []byte("not a secret!"))
	k := f.keyring(t, secret, Options{})
	keys, err := k.Secrets(context.Background())
	if err != nil || len(keys) != 1 || !signs(keys[0], f.keys[0]) {
		t.Fatalf("one good and one bad version: %d keys, %v", len(keys), err)
	}
	if err != nil && strings.Contains(err.Error(), "not a secret!") {
		t.Fatal("error quotes a payload")
	}
}

func TestChecksumMismatchRefused(t *testing.T) {
	f := newFixture(t, 1)
	f.srv.CorruptCRC32C(true)
	k := f.keyring(t, secret, Options{})
	_, err := k.Secrets(context.Background())
	if !errors.Is(err, verify.ErrKeySetUnavailable) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("corrupt checksum: %v", err)
	}
	if strings.Contains(err.Error(), f.keys[0]) {
		t.Fatal("error quotes the secret")
	}
}

func TestNoEnabledVersion(t *testing.T) {
	f := newFixture(t, 1)
	f.srv.SetState(f.srv.Versions(secret)[0].GetName(), secretmanagerpb.SecretVersion_DISABLED)
	k := f.keyring(t, secret, Options{})
	if _, err := k.Secrets(context.Background()); !errors.Is(err, verify.ErrKeySetUnavailable) || !strings.Contains(err.Error(), "no enabled version") {
		t.Fatalf("no enabled version: %v", err)
	}
}

func TestConcurrentLoadsMerged(t *testing.T) {
	f := newFixture(t, 2)
	f.srv.Delay("ListSecretVersions", 50*time.Millisecond)
	k := f.keyring(t, secret, Options{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if keys, err := k.Secrets(context.Background()); err != nil || len(keys) != 2 {
				t.Errorf("Secrets = %d keys, %v", len(keys), err)
			}
		})
	}
	wg.Wait()
	if n := f.srv.Calls("ListSecretVersions"); n != 1 {
		t.Fatalf("%d concurrent first loads listed %d times, want 1", 20, n)
	}
}

func TestNames(t *testing.T) {
	for name, want := range map[string]bool{
		"projects/p/secrets/s":                 true,
		"projects/p/secrets/s/versions/3":      true,
		"projects/p/secrets/s/versions/latest": true,
		"whsec_abc":                            false,
		"projects/p/secrets":                   false,
		"projects/p/secrets/s/versions":        false,
	} {
		if IsSecretName(name) != want {
			t.Errorf("IsSecretName(%q) = %v", name, !want)
		}
	}
	if _, err := New(nil, "whsec_x", Options{}); err == nil {
		t.Error("New accepted a literal secret as a name")
	}
}

func TestParseList(t *testing.T) {
	a, _ := verify.GenerateSecret()
	b, _ := verify.GenerateSecret()
	keys, err := ParseList(" " + a + "\n\t" + b + " ")
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseList = %d, %v", len(keys), err)
	}
	if _, err := ParseList("  "); !errors.Is(err, verify.ErrEmptySecret) {
		t.Fatalf("empty list: %v", err)
	}
	_, err = ParseList(a + " whsec_%%%")
	if err == nil || !strings.Contains(err.Error(), "secret 2 of 2") || strings.Contains(err.Error(), a) {
		t.Fatalf("bad second secret: %v", err)
	}
}
