package secrets

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/leaktest"
)

// apiKey is the secret the Value tests read, beside the fixture's keyring
// secret.
const apiKey = "projects/p/secrets/api-key"

// addValue adds text as the newest version of apiKey and returns its name.
func (f *fixture) addValue(text string) string {
	return f.srv.AddVersion(apiKey, []byte(text))
}

func (f *fixture) value(t testing.TB, name string, o Options) *Value {
	t.Helper()
	o.Now = f.clock.Now
	v, err := NewValue(f.client(t), name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() }) // before the client's Close
	return v
}

// reads reports how many times the fake served AccessSecretVersion.
func (f *fixture) reads() int { return f.srv.Calls("AccessSecretVersion") }

// wantGet fails unless v.Get returns want.
func wantGet(t *testing.T, v *Value, want string) {
	t.Helper()
	got, err := v.Get(context.Background())
	if err != nil || got != want {
		t.Fatalf("Get = %q, %v; want %q", got, err, want)
	}
}

func TestValueServed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string // suffix of the name read: "" is the secret itself
		want    string
	}{
		{"secret means its latest version", "", "key-2"},
		{"a version", "/versions/1", "key-1"},
		{"the latest alias", "/versions/latest", "key-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			f.addValue("  key-1\n")
			f.addValue("key-2\r\n")
			v := f.value(t, apiKey+tc.version, Options{MaxAge: time.Minute})
			for range 10 {
				wantGet(t, v, tc.want)
			}
			if n := f.reads(); n != 1 {
				t.Fatalf("%d reads for 10 Gets within MaxAge, want 1", n)
			}
		})
	}
}

func TestValueNames(t *testing.T) {
	for _, name := range []string{"", "literal:k", "AIzaSy-not-a-name", "projects/p/secrets", "projects/p/secrets/s/versions", "projects/p/secrets/s/versions/1/x"} {
		if _, err := NewValue(nil, name, Options{}); err == nil {
			t.Errorf("NewValue(%q) accepted it", name)
		}
	}
}

// TestValueRotationAfterMaxAge: past MaxAge the value held is served at
// once while a background read fetches the new version.
func TestValueRotationAfterMaxAge(t *testing.T) {
	f := newFixture(t, 0)
	f.addValue("key-1")
	v := f.value(t, apiKey, Options{MaxAge: time.Minute})
	wantGet(t, v, "key-1")
	f.addValue("key-2")
	f.clock.Add(time.Minute - time.Nanosecond)
	wantGet(t, v, "key-1")
	v.cache.wait()
	if n := f.reads(); n != 1 {
		t.Fatalf("%d reads before MaxAge, want 1", n)
	}
	f.clock.Add(time.Nanosecond)
	// A caller whose context has ended still gets the value held: it does
	// not wait for the re-read, which outlives it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := v.Get(ctx); got != "key-1" || err != nil {
		t.Fatalf("Get past MaxAge = %q, %v; want the value held at once", got, err)
	}
	v.cache.wait()
	wantGet(t, v, "key-2")
	if n := f.reads(); n != 2 {
		t.Fatalf("%d reads, want 2 (first read, one background re-read)", n)
	}
}

// TestValueFailuresRateLimited: with nothing held a failing read is retried
// at most once per EmptyRetryInterval, and its error is returned; once a
// value is held, failing re-reads keep it serving and are retried at most
// once per MinRefreshInterval.
func TestValueFailuresRateLimited(t *testing.T) {
	f := newFixture(t, 0)
	f.addValue("key-1")
	v := f.value(t, apiKey, Options{MaxAge: time.Minute, MinRefreshInterval: 10 * time.Second, EmptyRetryInterval: 2 * time.Second})
	ctx := context.Background()
	// PermissionDenied: the client does not retry it by itself.
	f.srv.Fail("AccessSecretVersion", status.Error(codes.PermissionDenied, "injected"))
	for range 20 {
		_, err := v.Get(ctx)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), apiKey+"/versions/latest") {
			t.Fatalf("Get during an outage = %v; want PermissionDenied naming the version", err)
		}
	}
	if n := f.reads(); n != 1 {
		t.Fatalf("%d reads for 20 Gets within EmptyRetryInterval, want 1", n)
	}
	f.clock.Add(2 * time.Second)
	if _, err := v.Get(ctx); err == nil {
		t.Fatal("Get during an outage succeeded")
	}
	if n := f.reads(); n != 2 {
		t.Fatalf("%d reads after EmptyRetryInterval, want 2", n)
	}
	// Still within EmptyRetryInterval of that read: no read, though the
	// service is back.
	f.srv.Recover()
	if _, err := v.Get(ctx); err == nil {
		t.Fatal("Get read again within EmptyRetryInterval of a failure")
	}
	f.clock.Add(2 * time.Second)
	wantGet(t, v, "key-1")

	// A value held: failed re-reads keep serving it.
	f.addValue("key-2")
	f.srv.Fail("AccessSecretVersion", status.Error(codes.PermissionDenied, "injected"))
	f.clock.Add(time.Minute)
	reads := f.reads()
	for range 3 {
		for range 10 {
			wantGet(t, v, "key-1")
			v.cache.wait()
		}
		if got := f.reads() - reads; got != 1 {
			t.Fatalf("%d re-reads within MinRefreshInterval of failing ones, want 1", got)
		}
		f.clock.Add(10 * time.Second)
		reads = f.reads()
	}
	f.srv.Recover()
	wantGet(t, v, "key-1") // starts the re-read that succeeds
	v.cache.wait()
	wantGet(t, v, "key-2")
	f.clock.Add(30 * time.Second) // past MinRefreshInterval, within MaxAge
	wantGet(t, v, "key-2")
	v.cache.wait()
	if got := f.reads() - reads; got != 1 {
		t.Fatalf("%d reads after recovery, want 1 (none more before MaxAge)", got)
	}
}

func TestValueEmptyVersion(t *testing.T) {
	f := newFixture(t, 0)
	version := f.addValue(" \n\t ")
	v := f.value(t, version, Options{})
	_, err := v.Get(context.Background())
	if !errors.Is(err, ErrEmptyValue) || !strings.Contains(err.Error(), version) {
		t.Fatalf("empty version: %v; want ErrEmptyValue naming %s", err, version)
	}
}

func TestValueChecksumMismatchRefused(t *testing.T) {
	f := newFixture(t, 0)
	f.addValue("AIzaSy-private-key-text")
	f.srv.CorruptCRC32C(true)
	v := f.value(t, apiKey, Options{})
	_, err := v.Get(context.Background())
	if err == nil || !strings.Contains(err.Error(), "checksum") || strings.Contains(err.Error(), "private") {
		t.Fatalf("corrupt checksum: %v; want a checksum error without the text", err)
	}
}

// TestValueInvalidate: Invalidate makes the next Get re-read in the
// background, no sooner than MinRefreshInterval after the last read
// however often it is called, and the value held serves meanwhile.
func TestValueInvalidate(t *testing.T) {
	f := newFixture(t, 0)
	f.addValue("key-1")
	v := f.value(t, apiKey, Options{MaxAge: time.Hour, MinRefreshInterval: 30 * time.Second})
	wantGet(t, v, "key-1")
	f.addValue("key-2")
	for _, step := range []struct {
		advance time.Duration
		want    string
		reads   int // reads so far, after the Get and its background read
	}{
		{0, "key-1", 1},                // read just now
		{29 * time.Second, "key-1", 1}, // still within MinRefreshInterval
		{time.Second, "key-1", 2},      // due: the value held serves, the re-read runs
		{0, "key-2", 2},                // the re-read's value; invalidated again, read just now
		{30 * time.Second, "key-2", 3}, // due again
		{30 * time.Second, "key-2", 4}, // and again
		{0, "key-2", 4},                // at once: not due
		{29*time.Second + 999*time.Millisecond, "key-2", 4},
	} {
		f.clock.Add(step.advance)
		for range 5 {
			v.Invalidate()
		}
		wantGet(t, v, step.want)
		v.cache.wait()
		if n := f.reads(); n != step.reads {
			t.Fatalf("after +%v: %d reads, want %d", step.advance, n, step.reads)
		}
	}
	// A re-read that fails keeps the value, and is retried no sooner than
	// MinRefreshInterval later.
	f.srv.Fail("AccessSecretVersion", status.Error(codes.PermissionDenied, "injected"))
	f.clock.Add(time.Millisecond)
	v.Invalidate()
	wantGet(t, v, "key-2")
	v.cache.wait()
	wantGet(t, v, "key-2")
	v.cache.wait()
	if n := f.reads(); n != 5 {
		t.Fatalf("%d reads, want 5 (one failed re-read)", n)
	}
	f.srv.Recover()
	f.addValue("key-3")
	f.clock.Add(30 * time.Second) // the failure left the value invalidated
	wantGet(t, v, "key-2")
	v.cache.wait()
	wantGet(t, v, "key-3")
	// A good read clears the invalidation: nothing more before MaxAge.
	f.clock.Add(30 * time.Second)
	wantGet(t, v, "key-3")
	v.cache.wait()
	if n := f.reads(); n != 6 {
		t.Fatalf("%d reads, want 6", n)
	}
}

func TestValueConcurrentReadsMerged(t *testing.T) {
	f := newFixture(t, 0)
	f.addValue("key-1")
	f.srv.Delay("AccessSecretVersion", 50*time.Millisecond)
	v := f.value(t, apiKey, Options{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, err := v.Get(context.Background()); got != "key-1" || err != nil {
				t.Errorf("Get = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if n := f.reads(); n != 1 {
		t.Fatalf("20 concurrent first Gets read %d times, want 1", n)
	}
}

// secretsGoroutines returns the stacks of the goroutines, other than the
// caller, running the package's code (not its tests: a parent test waits
// in its own function).
func secretsGoroutines() []string {
	return leaktest.Running("internal/secrets.(*cache[", "internal/secrets.(*Keyring).", "internal/secrets.(*Value).", "internal/secrets.accessPayload")
}

// TestCloseEndsBackgroundRead: while a background re-read hangs on Secret
// Manager, the value held keeps serving; Close cancels the read and waits
// for it, leaves no goroutine behind, and no read starts afterwards.
func TestCloseEndsBackgroundRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string // the call that hangs
		start  func(t *testing.T, f *fixture) (get func() error, close func() error, lastErr func() error)
	}{
		{"Value", "AccessSecretVersion", func(t *testing.T, f *fixture) (func() error, func() error, func() error) {
			f.addValue("key-1")
			v := f.value(t, apiKey, Options{MaxAge: time.Minute})
			get := func() error {
				got, err := v.Get(context.Background())
				if err == nil && got != "key-1" {
					t.Errorf("Get = %q, want the value held", got)
				}
				return err
			}
			return get, v.Close, func() error { v.cache.mu.Lock(); defer v.cache.mu.Unlock(); return v.cache.lastErr }
		}},
		{"Keyring", "ListSecretVersions", func(t *testing.T, f *fixture) (func() error, func() error, func() error) {
			f.add(t)
			k := f.keyring(t, secret, Options{MaxAge: time.Minute})
			get := func() error {
				keys, err := k.Secrets(context.Background())
				if err == nil && len(keys) != 1 {
					t.Errorf("Secrets = %d keys, want the one held", len(keys))
				}
				return err
			}
			return get, k.Close, func() error { k.cache.mu.Lock(); defer k.cache.mu.Unlock(); return k.cache.lastErr }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			get, closeFn, lastErr := tc.start(t, f)
			if err := get(); err != nil {
				t.Fatal(err)
			}
			f.srv.Delay(tc.method, time.Hour)
			f.clock.Add(time.Minute)
			calls := f.srv.Calls(tc.method)
			if err := get(); err != nil { // starts the background read
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); f.srv.Calls(tc.method) == calls; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the background read did not reach Secret Manager")
				}
			}
			for range 5 { // served while the read hangs
				if err := get(); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(secretsGoroutines()); n == 0 {
				t.Fatal("no background read is running: the check below would prove nothing")
			}
			if err := closeFn(); err != nil {
				t.Fatal(err)
			}
			// Close cancelled the read (it did not run out its time) and
			// waited for it.
			if err := lastErr(); !errors.Is(err, context.Canceled) && status.Code(err) != codes.Canceled {
				t.Fatalf("the background read ended with %v, want a cancellation", err)
			}
			if g := secretsGoroutines(); len(g) != 0 {
				t.Fatalf("%d goroutines left after Close:\n%s", len(g), strings.Join(g, "\n\n"))
			}
			f.clock.Add(time.Hour)
			calls = f.srv.Calls(tc.method)
			if err := get(); err != nil {
				t.Fatal(err)
			}
			if n := len(secretsGoroutines()); n != 0 || f.srv.Calls(tc.method) != calls {
				t.Fatal("a background read started after Close")
			}
			if err := closeFn(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}
