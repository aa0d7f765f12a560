package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihook/geminihook/internal/testclock"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

func newRemote(t *testing.T, keys ...*verifytest.Key) (*verifytest.Server, *verify.RemoteKeySet, *testclock.Clock) {
	t.Helper()
	srv := verifytest.NewServer(keys...)
	t.Cleanup(srv.Close)
	clk := newClock(jwtNow)
	ks := verify.NewRemoteKeySet(srv.URL, verify.RemoteKeySetOptions{Now: clk.Now})
	return srv, ks, clk
}

func wantFetches(t *testing.T, srv *verifytest.Server, n int) {
	t.Helper()
	if got := srv.Fetches(); got != n {
		t.Fatalf("JWKS fetched %d times, want %d", got, n)
	}
}

// eventually polls cond for at most 5 seconds; it is used only to wait for a
// background refresh to land, never to assert on timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRemoteKeySetCaches(t *testing.T) {
	ks := keysOnce()
	srv, remote, _ := newRemote(t, ks.k1)
	wantFetches(t, srv, 0) // no I/O at construction
	if remote.URL() != srv.URL {
		t.Fatalf("URL = %q", remote.URL())
	}
	v := newJWTVerifier(t, verify.Options{KeySet: remote})
	token := ks.k1.MustMint(validClaims())
	for range 10 {
		if _, err := v.Verify(context.Background(), jwtRequest(token)); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	got, err := remote.Key(context.Background(), "k1")
	if err != nil || !jwk.Equal(got, ks.k1.Public()) {
		t.Fatalf("Key(k1) = %v, %v", got, err)
	}
	wantFetches(t, srv, 1)
}

func TestRemoteKeySetUnknownKidBurst(t *testing.T) {
	ks := keysOnce()
	srv, remote, clk := newRemote(t, ks.k1)
	if err := remote.Prefetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Delay(20 * time.Millisecond) // let the burst overlap a running fetch
	burst := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Go(func() {
				_, err := remote.Key(context.Background(), fmt.Sprintf("forged-%d", i))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			// Refused as unknown after a fetch made for it, or "retry
			// later" while no fetch is allowed: never a key, never a
			// fetch of its own.
			if !errors.Is(err, verify.ErrUnknownKey) {
				t.Fatalf("Key(forged) = %v, want ErrUnknownKey", err)
			}
			if _, retry := verify.RetryAfter(err); retry != errors.Is(err, verify.ErrKeySetUnavailable) {
				t.Fatalf("Key(forged) = %v: a Retry-After exactly when unavailable", err)
			}
		}
	}
	burst()
	wantFetches(t, srv, 1) // within the interval: no fetch at all
	clk.Add(verify.DefaultMinRefreshInterval - time.Second)
	burst()
	wantFetches(t, srv, 1)
	clk.Add(time.Second)
	burst()
	wantFetches(t, srv, 2) // one fetch for the whole burst
	burst()
	wantFetches(t, srv, 2)
	clk.Add(verify.DefaultMinRefreshInterval)
	burst()
	wantFetches(t, srv, 3)
}

func TestRemoteKeySetMergesConcurrentFetches(t *testing.T) {
	ks := keysOnce()
	srv, remote, _ := newRemote(t, ks.k1)
	srv.Delay(50 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := remote.Key(context.Background(), "k1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Key(k1): %v", err)
		}
	}
	wantFetches(t, srv, 1)
}

func TestRemoteKeySetKeepsLastGoodKeys(t *testing.T) {
	ks := keysOnce()
	tests := []struct {
		name   string
		break_ func(srv *verifytest.Server)
	}{
		{"server error", func(srv *verifytest.Server) { srv.Fail(http.StatusInternalServerError) }},
		{"not found", func(srv *verifytest.Server) { srv.Fail(http.StatusNotFound) }},
		{"garbage", func(srv *verifytest.Server) { srv.Garbage(true) }},
		{"empty key set", func(srv *verifytest.Server) { srv.SetJWKS([]byte(`{"keys":[]}`)) }},
		{"keys without kid", func(srv *verifytest.Server) {
			k, _ := jwk.FromRaw(&ks.k2.Private().PublicKey)
			srv.SetJWKS([]byte(`{"keys":[` + string(mustJSON(t, k)) + `]}`))
		}},
		{"server gone", func(srv *verifytest.Server) { srv.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, remote, clk := newRemote(t, ks.k1)
			v := newJWTVerifier(t, verify.Options{KeySet: remote})
			token := ks.k1.MustMint(validClaims())
			if _, err := v.Verify(context.Background(), jwtRequest(token)); err != nil {
				t.Fatal(err)
			}
			tc.break_(srv)
			clk.Add(verify.DefaultMinRefreshInterval)
			// An unknown kid triggers a refetch that fails: the kid may be in
			// the set that could not be read, so unavailable, not unknown.
			if _, err := remote.Key(context.Background(), "k2"); !errors.Is(err, verify.ErrKeySetUnavailable) || errors.Is(err, verify.ErrUnknownKey) {
				t.Fatalf("Key(k2) = %v, want ErrKeySetUnavailable", err)
			}
			if err := remote.Prefetch(context.Background()); !errors.Is(err, verify.ErrKeySetUnavailable) {
				t.Fatalf("Prefetch = %v, want ErrKeySetUnavailable", err)
			}
			// The cached key keeps verifying, also past the max age.
			clk.Add(2 * verify.DefaultMaxAge)
			for range 3 {
				if _, err := v.Verify(context.Background(), jwtRequest(token)); err != nil {
					t.Fatalf("Verify with cached key: %v", err)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, k jwk.Key) []byte {
	t.Helper()
	b, err := jwkJSON(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRemoteKeySetUnavailable(t *testing.T) {
	ks := keysOnce()
	srv, remote, clk := newRemote(t, ks.k1)
	srv.Fail(http.StatusServiceUnavailable)
	v := newJWTVerifier(t, verify.Options{KeySet: remote})
	token := ks.k1.MustMint(validClaims())
	_, err := v.Verify(context.Background(), jwtRequest(token))
	if !errors.Is(err, verify.ErrKeySetUnavailable) || verify.HTTPStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("Verify with JWKS down = %v, want ErrKeySetUnavailable", err)
	}
	assertOneSentinel(t, err)
	wantFetches(t, srv, 1)
	// Retried at most every 5s while nothing is cached, not per request.
	for range 5 {
		if _, err := remote.Key(context.Background(), "k1"); !errors.Is(err, verify.ErrKeySetUnavailable) {
			t.Fatalf("Key = %v", err)
		}
	}
	wantFetches(t, srv, 1)
	clk.Add(4 * time.Second)
	_, _ = remote.Key(context.Background(), "k1")
	wantFetches(t, srv, 1)
	clk.Add(time.Second)
	_, _ = remote.Key(context.Background(), "k1")
	wantFetches(t, srv, 2)
	// Recovery.
	srv.Fail(0)
	clk.Add(5 * time.Second)
	if _, err := v.Verify(context.Background(), jwtRequest(token)); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
	wantFetches(t, srv, 3)
}

// TestRemoteKeySetEmptyRetryInterval sets the cold-start retry interval:
// with nothing cached, fetches are retried at that pace, not at the default.
func TestRemoteKeySetEmptyRetryInterval(t *testing.T) {
	ks := keysOnce()
	srv := verifytest.NewServer(ks.k1)
	t.Cleanup(srv.Close)
	clk := newClock(jwtNow)
	remote := verify.NewRemoteKeySet(srv.URL, verify.RemoteKeySetOptions{Now: clk.Now, EmptyRetryInterval: 2 * time.Second})
	srv.Fail(http.StatusServiceUnavailable)
	if _, err := remote.Key(context.Background(), "k1"); !errors.Is(err, verify.ErrKeySetUnavailable) {
		t.Fatalf("Key with JWKS down = %v", err)
	}
	clk.Add(time.Second)
	_, _ = remote.Key(context.Background(), "k1")
	wantFetches(t, srv, 1)
	clk.Add(time.Second)
	srv.Fail(0)
	if _, err := remote.Key(context.Background(), "k1"); err != nil {
		t.Fatalf("Key 2s later, JWKS back: %v", err)
	}
	wantFetches(t, srv, 2)
}

func TestRemoteKeySetRotation(t *testing.T) {
	ks := keysOnce()
	srv, remote, clk := newRemote(t, ks.k1)
	v := newJWTVerifier(t, verify.Options{KeySet: remote})
	if _, err := v.Verify(context.Background(), jwtRequest(ks.k1.MustMint(validClaims()))); err != nil {
		t.Fatal(err)
	}
	srv.SetKeys(ks.k2)
	newToken := ks.k2.MustMint(validClaims())
	// Within the interval the new kid cannot be looked for yet: "retry
	// later" (503) with the time left until a refetch is allowed, not
	// "forged" (401), and nothing is fetched.
	for _, step := range []struct {
		advance time.Duration
		left    time.Duration
	}{{0, time.Minute}, {10 * time.Second, 50 * time.Second}, {49*time.Second + 500*time.Millisecond, time.Second}} {
		clk.Add(step.advance)
		_, err := v.Verify(context.Background(), jwtRequest(newToken))
		left, ok := verify.RetryAfter(err)
		if !errors.Is(err, verify.ErrKeySetUnavailable) || !errors.Is(err, verify.ErrUnknownKey) || errors.Is(err, verify.ErrInvalidToken) ||
			!ok || left != step.left || verify.HTTPStatus(err) != http.StatusServiceUnavailable || verify.Reason(err) != "key_refresh_pending" {
			t.Fatalf("Verify(k2) %s before a refetch is allowed = %v (retry after %s, %v); want 503 key_refresh_pending after %s",
				step.left, err, left, ok, step.left)
		}
	}
	wantFetches(t, srv, 1)
	clk.Add(500 * time.Millisecond)
	if d, err := v.Verify(context.Background(), jwtRequest(newToken)); err != nil || d.KeyID != "k2" {
		t.Fatalf("Verify(k2) after interval = %+v, %v", d, err)
	}
	wantFetches(t, srv, 2)
	// The retired key is gone with the old set.
	if _, err := remote.Key(context.Background(), "k1"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Key(k1) after rotation = %v", err)
	}
}

func TestRemoteKeySetMaxAge(t *testing.T) {
	ks := keysOnce()
	srv, remote, clk := newRemote(t, ks.k1, ks.k2)
	if err := remote.Prefetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.SetKeys(ks.k2, ks.k3)
	clk.Add(verify.DefaultMaxAge)
	// A known key is served at once from the stale set while it refreshes.
	if _, err := remote.Key(context.Background(), "k1"); err != nil {
		t.Fatalf("Key(k1) from stale set: %v", err)
	}
	eventually(t, "the background refresh", func() bool {
		_, err := remote.Key(context.Background(), "k3")
		return err == nil
	})
	wantFetches(t, srv, 2)
	if _, err := remote.Key(context.Background(), "k1"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Key(k1) after refresh = %v", err)
	}
}

func TestRemoteKeySetCacheControl(t *testing.T) {
	ks := keysOnce()
	srv, remote, clk := newRemote(t, ks.k1)
	srv.SetHeader("Cache-Control", "public, max-age=120")
	if err := remote.Prefetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.SetKeys(ks.k2)
	clk.Add(121 * time.Second) // past max-age, well before the 1h MaxAge
	if _, err := remote.Key(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the max-age refresh", func() bool {
		_, err := remote.Key(context.Background(), "k2")
		return err == nil
	})
}

func TestRemoteKeySetLimits(t *testing.T) {
	ks := keysOnce()
	srv := verifytest.NewServer(ks.k1)
	defer srv.Close()
	small := verify.NewRemoteKeySet(srv.URL, verify.RemoteKeySetOptions{MaxBytes: 100})
	if err := small.Prefetch(context.Background()); !errors.Is(err, verify.ErrKeySetUnavailable) {
		t.Fatalf("Prefetch of an oversized JWKS = %v", err)
	}
	bad := verify.NewRemoteKeySet("://not a url", verify.RemoteKeySetOptions{})
	if _, err := bad.Key(context.Background(), "k1"); !errors.Is(err, verify.ErrKeySetUnavailable) {
		t.Fatalf("Key with a bad URL = %v", err)
	}
	// A caller that gives up gets ErrKeySetUnavailable wrapping its context error.
	srv.Delay(time.Second)
	slow := verify.NewRemoteKeySet(srv.URL, verify.RemoteKeySetOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := slow.Key(ctx, "k1"); !errors.Is(err, verify.ErrKeySetUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Key with a cancelled context = %v", err)
	}
	if err := slow.Prefetch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Prefetch with a cancelled context = %v", err)
	}
}

func TestRemoteKeySetNonRSAKeysKept(t *testing.T) {
	ks := keysOnce()
	srv, remote, _ := newRemote(t, ks.k1)
	ecJWK, _ := jwk.FromRaw(&ks.ec.PublicKey)
	_ = ecJWK.Set(jwk.KeyIDKey, "ec")
	srv.SetJWKS([]byte(`{"keys":[` + string(mustJSON(t, ecJWK)) + `,` + string(mustJSON(t, ks.k1.Public())) + `,{"kty":"XYZ","kid":"odd"}]}`))
	v := newJWTVerifier(t, verify.Options{KeySet: remote})
	tok, _ := verifytest.MintWith("RS256", map[string]any{"kid": "ec"}, validClaims(), ks.k1.Private())
	for range 3 {
		if _, err := v.Verify(context.Background(), jwtRequest(tok)); !errors.Is(err, verify.ErrUnsuitableKey) {
			t.Fatalf("token under an EC kid = %v, want ErrUnsuitableKey", err)
		}
	}
	if _, err := v.Verify(context.Background(), jwtRequest(ks.k1.MustMint(validClaims()))); err != nil {
		t.Fatalf("RSA key beside an EC and an unparsable key: %v", err)
	}
	wantFetches(t, srv, 1)
}

// Close ends a fetch in flight at once (here a background refresh stuck on
// a JWKS endpoint that never answers), waits for it, and starts none
// afterwards: known keys keep serving, an unknown kid is unavailable (a
// retry, not a forgery) and costs no request.
func TestRemoteKeySetClose(t *testing.T) {
	ks := keysOnce()
	srv := verifytest.NewServer(ks.k1)
	t.Cleanup(srv.Close)
	clk := newClock(jwtNow)
	// No client timeout: only Close can end the stuck fetch.
	remote := verify.NewRemoteKeySet(srv.URL, verify.RemoteKeySetOptions{Now: clk.Now, HTTPClient: &http.Client{}})
	if err := remote.Prefetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Delay(time.Hour)
	clk.Add(verify.DefaultMaxAge)
	if _, err := remote.Key(context.Background(), "k1"); err != nil {
		t.Fatalf("Key(k1) from the stale set: %v", err)
	}
	eventually(t, "the background refresh to reach the server", func() bool { return srv.Fetches() == 2 })
	closed := make(chan struct{})
	go func() {
		if err := remote.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not end the fetch in flight") // it would wait out the 30 s fetch bound
	}
	if _, err := remote.Key(context.Background(), "k1"); err != nil {
		t.Fatalf("Key(k1) after Close: %v", err)
	}
	clk.Add(time.Hour)
	if _, err := remote.Key(context.Background(), "k9"); !errors.Is(err, verify.ErrKeySetUnavailable) {
		t.Fatalf("Key(unknown) after Close = %v, want ErrKeySetUnavailable", err)
	}
	if err := remote.Prefetch(context.Background()); !errors.Is(err, verify.ErrKeySetUnavailable) {
		t.Fatalf("Prefetch after Close = %v, want ErrKeySetUnavailable", err)
	}
	wantFetches(t, srv, 2)
	if err := remote.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
