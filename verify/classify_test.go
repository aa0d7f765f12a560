package verify_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/verify"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in      string
		want    verify.Scheme
		wantErr error
	}{
		{kaSig, verify.SchemeHMAC, nil},
		{"v1a,abc", verify.SchemeHMAC, nil},
		{"v2,abc", verify.SchemeHMAC, nil},
		{"v10,abc", verify.SchemeHMAC, nil},
		{"v1,", verify.SchemeHMAC, nil},
		{"junk " + kaSig, verify.SchemeHMAC, nil},
		{"  " + kaSig + "  ", verify.SchemeHMAC, nil},
		{"eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln", verify.SchemeJWT, nil},
		{" eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln\t", verify.SchemeJWT, nil},
		{"eyJhbGciOiJub25lIn0.eyJhIjoxfQ.", verify.SchemeJWT, nil},
		{"a-_.b.c", verify.SchemeJWT, nil},
		{"", "", verify.ErrMissingHeader},
		{" \t ", "", verify.ErrMissingHeader},
		{"a.b", "", verify.ErrMalformedHeader},
		{"a.b.c.d", "", verify.ErrMalformedHeader},
		{"a..c", "", verify.ErrMalformedHeader},
		{".b.c", "", verify.ErrMalformedHeader},
		{"a.b=.c", "", verify.ErrMalformedHeader},
		{"a.b.c d.e.f", "", verify.ErrMalformedHeader},
		{"Bearer a.b.c", "", verify.ErrMalformedHeader},
		{"v,abc", "", verify.ErrMalformedHeader},
		{"vx,abc", "", verify.ErrMalformedHeader},
		{"v1A,abc", "", verify.ErrMalformedHeader},
		{"1,abc", "", verify.ErrMalformedHeader},
		{"sha256=abc", "", verify.ErrMalformedHeader},
		{strings.Repeat("a", verify.MaxSignatureHeaderLength-4) + ".b.c", verify.SchemeJWT, nil},
		{strings.Repeat("a", verify.MaxSignatureHeaderLength) + ".b.c", "", verify.ErrMalformedHeader},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got, err := verify.Classify(tc.in)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Classify = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	kr := verify.StaticKeyring{verify.MustParseSecret(kaSecret)}
	for name, opts := range map[string]verify.Options{
		"no scheme":                {},
		"negative tolerance":       {Keyring: kr, Tolerance: -1},
		"negative leeway":          {Keyring: kr, Leeway: -1},
		"negative id length":       {Keyring: kr, MaxIDLength: -1},
		"key set without audience": {Keyring: kr, KeySet: verify.NewStaticKeySet()},
		"key set, empty audiences": {KeySet: verify.NewStaticKeySet(), Audiences: []string{"", ""}},
	} {
		if _, err := verify.New(opts); err == nil {
			t.Errorf("New(%s) succeeded", name)
		}
	}
	// MaxIDLength is honoured.
	v, err := verify.New(verify.Options{Keyring: kr, MaxIDLength: 4, Now: fixedClock(kaTime)})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]error{"abcd": nil, "abcde": verify.ErrMalformedHeader} {
		h := verify.SignHeaders(kr[0], id, kaTime, nil)
		_, err := v.Verify(t.Context(), verify.Request{Header: h})
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("id %q: %v, want %v", id, err, want)
		}
	}
}

func TestHTTPStatusAndReason(t *testing.T) {
	tests := []struct {
		err    error
		status int
		reason string
	}{
		{nil, http.StatusOK, "ok"},
		{verify.ErrMissingHeader, 400, "missing_header"},
		{verify.ErrMalformedHeader, 400, "malformed_header"},
		{verify.ErrTimestampTooOld, 401, "timestamp_too_old"},
		{verify.ErrTimestampTooNew, 401, "timestamp_too_new"},
		{verify.ErrNoMatchingSignature, 401, "no_matching_signature"},
		{verify.ErrInvalidToken, 401, "invalid_token"},
		{fmt.Errorf("%w: %w", verify.ErrInvalidToken, verify.ErrAudienceMismatch), 401, "audience_mismatch"},
		{fmt.Errorf("%w: %w", verify.ErrInvalidToken, verify.ErrIssuerMismatch), 401, "issuer_mismatch"},
		{fmt.Errorf("%w: %w", verify.ErrInvalidToken, verify.ErrUnknownKey), 401, "invalid_token"},
		{fmt.Errorf("%w: %w", verify.ErrKeySetUnavailable, verify.ErrUnknownKey), 503, "key_refresh_pending"},
		{verify.ErrSchemeDisabled, 401, "scheme_disabled"},
		{verify.ErrKeySetUnavailable, 503, "key_set_unavailable"},
		{errors.New("other"), 500, "internal"},
	}
	for _, tc := range tests {
		if got := verify.HTTPStatus(tc.err); got != tc.status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tc.err, got, tc.status)
		}
		if got := verify.Reason(tc.err); got != tc.reason {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.reason)
		}
	}
}

// TestCheckHeaders covers the rules a receiver applies before reading the
// body; Verify applies the same ones (TestHMACMutations).
func TestCheckHeaders(t *testing.T) {
	const jws = "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln"
	tests := []struct {
		name    string
		header  http.Header
		want    verify.Scheme
		wantErr error
	}{
		{"hmac", http.Header{"Webhook-Signature": {kaSig}, "Webhook-Id": {kaID}}, verify.SchemeHMAC, nil},
		{"jwt", http.Header{"Webhook-Signature": {jws}}, verify.SchemeJWT, nil},
		{"lowercase keys", http.Header{"webhook-signature": {kaSig}, "webhook-id": {kaID}}, verify.SchemeHMAC, nil},
		{"id and timestamp absent", http.Header{"Webhook-Signature": {kaSig}}, verify.SchemeHMAC, nil},
		{"signature absent", http.Header{"Webhook-Id": {kaID}}, "", verify.ErrMissingHeader},
		{"signature empty", http.Header{"Webhook-Signature": {""}}, "", verify.ErrMissingHeader},
		{"signature unrecognised", http.Header{"Webhook-Signature": {"sha256=abc"}}, "", verify.ErrMalformedHeader},
		{"signature repeated", http.Header{"Webhook-Signature": {kaSig, kaSig}}, "", verify.ErrMalformedHeader},
		{"signature in both spellings", http.Header{"Webhook-Signature": {kaSig}, "webhook-signature": {kaSig}}, "", verify.ErrMalformedHeader},
		{"id repeated", http.Header{"Webhook-Signature": {kaSig}, "Webhook-Id": {"a", "b"}}, "", verify.ErrMalformedHeader},
		{"id repeated, signature absent", http.Header{"Webhook-Id": {"a", "b"}}, "", verify.ErrMalformedHeader},
		{"timestamp repeated", http.Header{"Webhook-Signature": {jws}, "Webhook-Timestamp": {"1", "1"}}, "", verify.ErrMalformedHeader},
		{"other header repeated", http.Header{"Webhook-Signature": {kaSig}, "Accept": {"a", "b"}}, verify.SchemeHMAC, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verify.CheckHeaders(tc.header)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CheckHeaders = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
