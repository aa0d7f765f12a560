package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/verify"
)

func newHMACVerifier(t *testing.T, now time.Time, secrets ...verify.Secret) *verify.Verifier {
	t.Helper()
	v, err := verify.New(verify.Options{Keyring: verify.StaticKeyring(secrets), Now: fixedClock(now)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestKnownAnswerVector(t *testing.T) {
	sec := verify.MustParseSecret(kaSecret)
	if got := verify.Sign(sec, kaID, kaTime, []byte(kaBody)); got != kaSig {
		t.Fatalf("Sign = %q, want %q", got, kaSig)
	}
	v := newHMACVerifier(t, kaTime, sec)
	h := http.Header{}
	h.Set(verify.HeaderID, kaID)
	h.Set(verify.HeaderTimestamp, strconv.Itoa(kaUnix))
	h.Set(verify.HeaderSignature, kaSig)
	d, err := v.Verify(context.Background(), verify.Request{Header: h, Body: []byte(kaBody)})
	if err != nil {
		t.Fatalf("Verify(valid vector): %v", err)
	}
	want := verify.Delivery{ID: kaID, Timestamp: kaTime, Scheme: verify.SchemeHMAC}
	if d.ID != want.ID || !d.Timestamp.Equal(want.Timestamp) || d.Scheme != want.Scheme || d.KeyIndex != 0 || d.Claims != nil || d.KeyID != "" {
		t.Fatalf("Verify = %+v, want %+v", d, want)
	}

	h.Set(verify.HeaderSignature, kaBadSig)
	if _, err := v.Verify(context.Background(), verify.Request{Header: h, Body: []byte(kaBody)}); !errors.Is(err, verify.ErrNoMatchingSignature) {
		t.Fatalf("Verify(invalid vector) = %v, want ErrNoMatchingSignature", err)
	}
}

func TestSignHeaders(t *testing.T) {
	h := verify.SignHeaders(verify.MustParseSecret(kaSecret), kaID, kaTime, []byte(kaBody))
	if h.Get(verify.HeaderID) != kaID || h.Get(verify.HeaderTimestamp) != strconv.Itoa(kaUnix) || h.Get(verify.HeaderSignature) != kaSig {
		t.Fatalf("SignHeaders = %v", h)
	}
}

func TestSignZeroSecretPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Sign with the zero Secret did not panic")
		}
	}()
	verify.Sign(verify.Secret{}, "id", kaTime, nil)
}

// TestHMACMutations starts from a valid delivery and changes one thing.
func TestHMACMutations(t *testing.T) {
	sec := verify.MustParseSecret(kaSecret)
	other := verify.MustParseSecret("whsec_" + strings.Repeat("QUJD", 8))
	valid := func() (http.Header, []byte) {
		return verify.SignHeaders(sec, kaID, kaTime, []byte(kaBody)), []byte(kaBody)
	}
	setSig := func(s string) func(h http.Header, b *[]byte) {
		return func(h http.Header, _ *[]byte) { h.Set(verify.HeaderSignature, s) }
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 0x01
		return string(b)
	}
	long := strings.Repeat("a", verify.DefaultMaxIDLength)
	tests := []struct {
		name        string
		mutate      func(h http.Header, body *[]byte)
		want        error // nil: accepted
		wantRefresh bool  // the keyring's Refresh must have been called
	}{
		{"unchanged", func(http.Header, *[]byte) {}, nil, false},
		{"body first byte flipped", func(_ http.Header, b *[]byte) { (*b)[0] ^= 0x20 }, verify.ErrNoMatchingSignature, true},
		{"body last byte flipped", func(_ http.Header, b *[]byte) { (*b)[len(*b)-1] ^= 0x01 }, verify.ErrNoMatchingSignature, true},
		{"body digit changed", func(_ http.Header, b *[]byte) { (*b)[10] = '9' }, verify.ErrNoMatchingSignature, true},
		{"body byte appended", func(_ http.Header, b *[]byte) { *b = append(*b, '\n') }, verify.ErrNoMatchingSignature, true},
		{"body truncated", func(_ http.Header, b *[]byte) { *b = (*b)[:len(*b)-1] }, verify.ErrNoMatchingSignature, true},
		{"body empty", func(_ http.Header, b *[]byte) { *b = nil }, verify.ErrNoMatchingSignature, true},
		{"body re-serialized", func(_ http.Header, b *[]byte) { *b = []byte(`{"test":2432232314}`) }, verify.ErrNoMatchingSignature, true},
		{"id char changed", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, flip(kaID, 4)) }, verify.ErrNoMatchingSignature, true},
		{"id char appended", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, kaID+"x") }, verify.ErrNoMatchingSignature, true},
		{"id missing", func(h http.Header, _ *[]byte) { h.Del(verify.HeaderID) }, verify.ErrMissingHeader, false},
		{"id empty", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, "") }, verify.ErrMissingHeader, false},
		{"id with dots, re-signed", func(h http.Header, b *[]byte) {
			for k, v := range verify.SignHeaders(sec, "msg.1.a.b", kaTime, *b) {
				h[k] = v
			}
		}, nil, false},
		{"id contains a control character", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, "msg\x01") }, verify.ErrMalformedHeader, false},
		{"id contains a tab", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, "msg\tx") }, verify.ErrMalformedHeader, false},
		{"id contains DEL", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, "msg\x7f") }, verify.ErrMalformedHeader, false},
		{"id repeated", func(h http.Header, _ *[]byte) { h.Add(verify.HeaderID, kaID) }, verify.ErrMalformedHeader, false},
		{"id repeated in lowercase", func(h http.Header, _ *[]byte) { h[verify.HeaderID] = []string{kaID} }, verify.ErrMalformedHeader, false},
		{"timestamp repeated", func(h http.Header, _ *[]byte) { h.Add(verify.HeaderTimestamp, strconv.Itoa(kaUnix)) }, verify.ErrMalformedHeader, false},
		{"signature repeated", func(h http.Header, _ *[]byte) { h.Add(verify.HeaderSignature, kaSig) }, verify.ErrMalformedHeader, false},
		{"id too long", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderID, long+"a") }, verify.ErrMalformedHeader, false},
		{"id at max length, re-signed", func(h http.Header, b *[]byte) {
			for k, v := range verify.SignHeaders(sec, long, kaTime, *b) {
				h[k] = v
			}
		}, nil, false},
		{"timestamp plus one", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, strconv.Itoa(kaUnix+1)) }, verify.ErrNoMatchingSignature, true},
		{"timestamp leading zero", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, "0"+strconv.Itoa(kaUnix)) }, verify.ErrNoMatchingSignature, true},
		{"timestamp missing", func(h http.Header, _ *[]byte) { h.Del(verify.HeaderTimestamp) }, verify.ErrMissingHeader, false},
		{"timestamp not integer", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, "yesterday") }, verify.ErrMalformedHeader, false},
		{"timestamp fractional", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, strconv.Itoa(kaUnix)+".5") }, verify.ErrMalformedHeader, false},
		{"timestamp negative", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, "-1") }, verify.ErrMalformedHeader, false},
		{"timestamp with sign", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, "+"+strconv.Itoa(kaUnix)) }, verify.ErrMalformedHeader, false},
		{"timestamp overflow", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, strings.Repeat("9", 30)) }, verify.ErrMalformedHeader, false},
		{"timestamp far past", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, "1") }, verify.ErrTimestampTooOld, false},
		{"timestamp far future", func(h http.Header, _ *[]byte) { h.Set(verify.HeaderTimestamp, strings.Repeat("9", 18)) }, verify.ErrTimestampTooNew, false},
		{"signature missing", func(h http.Header, _ *[]byte) { h.Del(verify.HeaderSignature) }, verify.ErrMissingHeader, false},
		{"signature blank", setSig("   "), verify.ErrMissingHeader, false},
		{"signature first base64 char flipped", setSig(flip(kaSig, 3)), verify.ErrNoMatchingSignature, true},
		{"signature middle base64 char flipped", setSig(flip(kaSig, 20)), verify.ErrNoMatchingSignature, true},
		{"signature last base64 char changed", setSig(kaSig[:len(kaSig)-2] + "0="), verify.ErrNoMatchingSignature, true},
		{"signature trailing bits changed", setSig(kaSig[:len(kaSig)-2] + "F="), verify.ErrNoMatchingSignature, false},
		{"signature padding removed", setSig(strings.TrimSuffix(kaSig, "=")), verify.ErrNoMatchingSignature, false},
		{"signature double padding", setSig(kaSig + "="), verify.ErrNoMatchingSignature, false},
		{"signature url alphabet", setSig(strings.NewReplacer("+", "-", "/", "_").Replace(kaSig)), verify.ErrNoMatchingSignature, false},
		{"signature version v2", setSig("v2" + kaSig[2:]), verify.ErrNoMatchingSignature, false},
		{"signature version v1a", setSig("v1a" + kaSig[2:]), verify.ErrNoMatchingSignature, false},
		{"signature v1a and v2 only", setSig("v1a,abc v2,def"), verify.ErrNoMatchingSignature, false},
		{"signature empty v1", setSig("v1,"), verify.ErrNoMatchingSignature, false},
		{"signature bad base64", setSig("v1,!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!="), verify.ErrNoMatchingSignature, false},
		{"signature of another secret", setSig(verify.Sign(other, kaID, kaTime, []byte(kaBody))), verify.ErrNoMatchingSignature, true},
		{"signature invalid vector", setSig(kaBadSig), verify.ErrNoMatchingSignature, true},
		{"signature valid buried among garbage", setSig("v1,Zm9v v2,xyz " + kaBadSig + " garbage v1, " + kaSig + " v1a,abc"), nil, false},
		{"signature valid with extra spaces", setSig("  " + kaBadSig + "   " + kaSig + "  "), nil, false},
		{"signature valid as 16th v1 entry", setSig(strings.Repeat(kaBadSig+" ", 15) + kaSig), nil, false},
		{"signature valid as 17th v1 entry is ignored", setSig(strings.Repeat(kaBadSig+" ", 16) + kaSig), verify.ErrNoMatchingSignature, true},
		{"signature unrecognised", setSig("sha256=abcdef"), verify.ErrMalformedHeader, false},
		{"signature too long", setSig(kaSig + strings.Repeat(" v2,x", verify.MaxSignatureHeaderLength/5)), verify.ErrMalformedHeader, false},
		{"signature upper-case version", setSig("V1" + kaSig[2:]), verify.ErrMalformedHeader, false},
		{"lowercase header keys", func(h http.Header, _ *[]byte) {
			for _, name := range []string{verify.HeaderID, verify.HeaderTimestamp, verify.HeaderSignature} {
				h[name] = h[http.CanonicalHeaderKey(name)]
				delete(h, http.CanonicalHeaderKey(name))
			}
		}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr := &learningKeyring{secrets: []verify.Secret{sec}}
			v, err := verify.New(verify.Options{Keyring: kr, Now: fixedClock(kaTime)})
			if err != nil {
				t.Fatal(err)
			}
			h, body := valid()
			tc.mutate(h, &body)
			d, err := v.Verify(context.Background(), verify.Request{Header: h, Body: body})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				if d.Scheme != verify.SchemeHMAC || d.ID == "" {
					t.Fatalf("Verify = %+v", d)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			if err != nil {
				assertOneSentinel(t, err)
				if strings.Contains(err.Error(), kaSig[3:]) || strings.Contains(err.Error(), kaBody) {
					t.Fatalf("error %q leaks the signature or body", err)
				}
			}
			if got := kr.Refreshes() > 0; got != tc.wantRefresh {
				t.Fatalf("Refresh called = %v, want %v", got, tc.wantRefresh)
			}
		})
	}
}

// assertOneSentinel checks the error contract: exactly one of the Verify
// sentinels is wrapped.
func assertOneSentinel(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, s := range []error{verify.ErrMissingHeader, verify.ErrMalformedHeader, verify.ErrTimestampTooOld,
		verify.ErrTimestampTooNew, verify.ErrNoMatchingSignature, verify.ErrInvalidToken,
		verify.ErrKeySetUnavailable, verify.ErrSchemeDisabled} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
}

func TestHMACSkew(t *testing.T) {
	sec := verify.MustParseSecret(kaSecret)
	tol := 5 * time.Minute
	tests := []struct {
		name   string
		offset time.Duration // timestamp minus clock
		tol    time.Duration // Options.Tolerance
		want   error
	}{
		{"now", 0, 0, nil},
		{"past at bound", -tol, 0, nil},
		{"past one second over", -tol - time.Second, 0, verify.ErrTimestampTooOld},
		{"future at bound", tol, 0, nil},
		{"future one second over", tol + time.Second, 0, verify.ErrTimestampTooNew},
		{"custom tolerance past at bound", -time.Minute, time.Minute, nil},
		{"custom tolerance past over", -time.Minute - time.Second, time.Minute, verify.ErrTimestampTooOld},
		{"custom tolerance future over", time.Minute + time.Second, time.Minute, verify.ErrTimestampTooNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kr := &learningKeyring{secrets: []verify.Secret{sec}}
			v, err := verify.New(verify.Options{Keyring: kr, Now: fixedClock(kaTime), Tolerance: tc.tol})
			if err != nil {
				t.Fatal(err)
			}
			ts := kaTime.Add(tc.offset)
			h := verify.SignHeaders(sec, kaID, ts, []byte(kaBody))
			_, err = v.Verify(context.Background(), verify.Request{Header: h, Body: []byte(kaBody)})
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if kr.Refreshes() != 0 {
				t.Fatal("Refresh called")
			}
			// Out of tolerance, even a wrong signature must not reach the keyring.
			if tc.want != nil {
				h.Set(verify.HeaderSignature, kaBadSig)
				kr.calls = 0
				_, err = v.Verify(context.Background(), verify.Request{Header: h, Body: []byte(kaBody)})
				if !errors.Is(err, tc.want) || kr.calls != 0 || kr.Refreshes() != 0 {
					t.Fatalf("bad signature out of tolerance: err %v, Secrets calls %d, refreshes %d", err, kr.calls, kr.Refreshes())
				}
			}
		})
	}
}

func TestHMACRotation(t *testing.T) {
	oldSec := verify.MustParseSecret(kaSecret)
	newSec := verify.MustParseSecret("whsec_" + strings.Repeat("bmV3", 8))
	v := newHMACVerifier(t, kaTime, newSec, oldSec)
	body := []byte(kaBody)
	tests := []struct {
		name string
		sig  string
		want int
	}{
		{"old secret only", verify.Sign(oldSec, kaID, kaTime, body), 1},
		{"new secret only", verify.Sign(newSec, kaID, kaTime, body), 0},
		{"both, old first", verify.Sign(oldSec, kaID, kaTime, body) + " " + verify.Sign(newSec, kaID, kaTime, body), 0},
		{"both, new first", verify.Sign(newSec, kaID, kaTime, body) + " " + verify.Sign(oldSec, kaID, kaTime, body), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := verify.SignHeaders(oldSec, kaID, kaTime, body)
			h.Set(verify.HeaderSignature, tc.sig)
			d, err := v.Verify(context.Background(), verify.Request{Header: h, Body: body})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if d.KeyIndex != tc.want {
				t.Fatalf("KeyIndex = %d, want %d", d.KeyIndex, tc.want)
			}
		})
	}
}

func TestHMACKeyringRefresh(t *testing.T) {
	oldSec := verify.MustParseSecret(kaSecret)
	newSec := verify.MustParseSecret("whsec_" + strings.Repeat("bmV3", 8))
	body := []byte(kaBody)
	kr := &learningKeyring{secrets: []verify.Secret{oldSec}, pending: []verify.Secret{newSec}}
	v, err := verify.New(verify.Options{Keyring: kr, Now: fixedClock(kaTime)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Malformed or out of tolerance: the keyring is not refreshed.
	h := verify.SignHeaders(newSec, kaID, kaTime.Add(-time.Hour), body)
	if _, err := v.Verify(ctx, verify.Request{Header: h, Body: body}); !errors.Is(err, verify.ErrTimestampTooOld) {
		t.Fatalf("stale delivery: %v", err)
	}
	h = verify.SignHeaders(newSec, "bad\x01id", kaTime, body)
	if _, err := v.Verify(ctx, verify.Request{Header: h, Body: body}); !errors.Is(err, verify.ErrMalformedHeader) {
		t.Fatalf("malformed delivery: %v", err)
	}
	if kr.Refreshes() != 0 {
		t.Fatalf("Refresh called %d times for rejected-early deliveries", kr.Refreshes())
	}

	// Signed with a secret the keyring learns on refresh: accepted after one refresh.
	h = verify.SignHeaders(newSec, kaID, kaTime, body)
	d, err := v.Verify(ctx, verify.Request{Header: h, Body: body})
	if err != nil {
		t.Fatalf("Verify with the rotated secret: %v", err)
	}
	if d.KeyIndex != 0 || kr.Refreshes() != 1 {
		t.Fatalf("KeyIndex %d refreshes %d, want 0 and 1", d.KeyIndex, kr.Refreshes())
	}
	// Known now: no further refresh.
	if _, err := v.Verify(ctx, verify.Request{Header: h, Body: body}); err != nil || kr.Refreshes() != 1 {
		t.Fatalf("second Verify: %v, refreshes %d", err, kr.Refreshes())
	}
	// The old secret still matches, as the second one.
	h = verify.SignHeaders(oldSec, kaID, kaTime, body)
	if d, err := v.Verify(ctx, verify.Request{Header: h, Body: body}); err != nil || d.KeyIndex != 1 {
		t.Fatalf("old secret: %+v, %v", d, err)
	}
	// Unknown secret: one refresh that changes nothing, then no match.
	h.Set(verify.HeaderSignature, kaBadSig)
	if _, err := v.Verify(ctx, verify.Request{Header: h, Body: body}); !errors.Is(err, verify.ErrNoMatchingSignature) || kr.Refreshes() != 2 {
		t.Fatalf("unknown secret: %v, refreshes %d", err, kr.Refreshes())
	}
}

// failingRefresh is a keyring whose source fails on refresh, or that learns
// only a zero secret.
type failingRefresh struct {
	verify.StaticKeyring
	err    error
	after  []verify.Secret
	called bool
}

func (f *failingRefresh) Secrets(ctx context.Context) ([]verify.Secret, error) {
	if f.called && f.after != nil {
		return f.after, nil
	}
	return f.StaticKeyring.Secrets(ctx)
}

func (f *failingRefresh) Refresh(context.Context) (bool, error) {
	f.called = true
	return f.after != nil, f.err
}

func TestHMACKeyringUnavailable(t *testing.T) {
	sec := verify.MustParseSecret(kaSecret)
	body := []byte(kaBody)
	h := verify.SignHeaders(sec, kaID, kaTime, body)
	ctx := context.Background()
	sourceDown := errors.New("secret source down")
	tests := []struct {
		name string
		kr   verify.Keyring
		sig  string
		want error
	}{
		{"secrets error", &learningKeyring{failWith: sourceDown}, "", verify.ErrKeySetUnavailable},
		{"secrets error already wrapped", &learningKeyring{failWith: fmt.Errorf("read: %w", verify.ErrKeySetUnavailable)}, "", verify.ErrKeySetUnavailable},
		{"empty keyring", verify.StaticKeyring{}, "", verify.ErrKeySetUnavailable},
		{"only zero secrets", verify.StaticKeyring{{}}, "", verify.ErrKeySetUnavailable},
		{"zero secret before a good one", verify.StaticKeyring{{}, sec}, "", nil},
		{"refresh fails", &failingRefresh{StaticKeyring: verify.StaticKeyring{sec}, err: sourceDown}, kaBadSig, verify.ErrKeySetUnavailable},
		{"refresh learns only a zero secret", &failingRefresh{StaticKeyring: verify.StaticKeyring{sec}, after: []verify.Secret{{}}}, kaBadSig, verify.ErrKeySetUnavailable},
		{"refresh learns the same secret", &failingRefresh{StaticKeyring: verify.StaticKeyring{sec}, after: []verify.Secret{sec}}, kaBadSig, verify.ErrNoMatchingSignature},
		{"secrets fail after refresh", &refreshThenFail{sec: sec}, kaBadSig, verify.ErrKeySetUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(verify.Options{Keyring: tc.kr, Now: fixedClock(kaTime)})
			if err != nil {
				t.Fatal(err)
			}
			hh := h.Clone()
			if tc.sig != "" {
				hh.Set(verify.HeaderSignature, tc.sig)
			}
			_, err = v.Verify(ctx, verify.Request{Header: hh, Body: body})
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil {
				assertOneSentinel(t, err)
			}
		})
	}
}

type refreshThenFail struct {
	sec       verify.Secret
	refreshed bool
}

func (r *refreshThenFail) Secrets(context.Context) ([]verify.Secret, error) {
	if r.refreshed {
		return nil, errors.New("source gone")
	}
	return []verify.Secret{r.sec}, nil
}

func (r *refreshThenFail) Refresh(context.Context) (bool, error) {
	r.refreshed = true
	return true, nil
}
