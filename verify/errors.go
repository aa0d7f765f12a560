package verify

import (
	"errors"
	"net/http"
	"time"
)

// Sentinel errors. Every error returned by [Verifier.Verify] wraps exactly one
// of the first eight; match them with [errors.Is]. Error strings never contain
// a secret, a signature, a token or a body.
var (
	// ErrMissingHeader reports that a required webhook header is absent or empty.
	ErrMissingHeader = errors.New("verify: missing webhook header")
	// ErrMalformedHeader reports a header that is present but unusable: a
	// webhook header that occurs twice, a webhook-id that is too long or
	// holds a control character, a webhook-timestamp that is not an integer,
	// or a webhook-signature that is neither a list of versioned signatures
	// nor a compact JWS.
	ErrMalformedHeader = errors.New("verify: malformed webhook header")
	// ErrTimestampTooOld reports a webhook-timestamp further in the past than
	// the tolerance.
	ErrTimestampTooOld = errors.New("verify: webhook timestamp too old")
	// ErrTimestampTooNew reports a webhook-timestamp further in the future than
	// the tolerance.
	ErrTimestampTooNew = errors.New("verify: webhook timestamp too new")
	// ErrNoMatchingSignature reports an HMAC delivery none of whose v1 entries
	// matched any accepted secret, including a header without any v1 entry.
	ErrNoMatchingSignature = errors.New("verify: no matching signature")
	// ErrInvalidToken reports a JWT delivery that failed verification. It
	// always wraps a further reason such as [ErrUnknownKey] or [ErrTokenExpired].
	ErrInvalidToken = errors.New("verify: invalid token")
	// ErrKeySetUnavailable reports that no key material can be had right now:
	// the JWKS is unreachable and nothing is cached, or the secret source
	// failed. Callers should answer 503 so the sender retries.
	ErrKeySetUnavailable = errors.New("verify: key set unavailable")
	// ErrSchemeDisabled reports a delivery signed with a scheme this Verifier
	// has switched off (no Keyring for HMAC, no KeySet for JWT).
	ErrSchemeDisabled = errors.New("verify: signature scheme disabled")

	// ErrEmptySecret is returned by the secret constructors for an empty key.
	ErrEmptySecret = errors.New("verify: empty secret")
	// ErrInvalidSecret is returned by [ParseSecret] for a key that is not base64.
	ErrInvalidSecret = errors.New("verify: secret is not valid base64")
)

// Reasons wrapped inside [ErrInvalidToken]. They let callers label a rejected
// JWT delivery more precisely than "invalid token".
var (
	// ErrUnknownKey reports a kid the key set does not hold (after any
	// rate-limited refresh). KeySet implementations return it too.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrUnsupportedAlgorithm reports a JWS alg other than RS256, or a crit header.
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
	// ErrUnsuitableKey reports a key that is not an RSA public key of at least
	// 2048 bits meant for RS256 signatures.
	ErrUnsuitableKey = errors.New("key not usable for RS256 signatures")
	// ErrBadSignature reports a token whose RSA signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrTokenMalformed reports a token whose segments or JSON cannot be decoded,
	// or that lacks a kid.
	ErrTokenMalformed = errors.New("malformed token")
	// ErrTokenExpired reports an exp claim in the past (beyond the leeway), or
	// a missing exp claim.
	ErrTokenExpired = errors.New("token expired or without exp")
	// ErrTokenNotYetValid reports an nbf claim in the future, or an iat claim
	// in the future, beyond the leeway.
	ErrTokenNotYetValid = errors.New("token not yet valid")
	// ErrAudienceMismatch reports an aud claim holding none of the accepted
	// audiences. Its message names the received and expected aud and iss.
	ErrAudienceMismatch = errors.New("audience not accepted")
	// ErrIssuerMismatch reports an iss claim other than the configured
	// issuer. Its message names the received and expected aud and iss.
	ErrIssuerMismatch = errors.New("issuer not accepted")
)

// tokenError is an ErrInvalidToken carrying its reason.
type tokenError struct {
	reason error  // one of the reason sentinels
	detail string // extra text without secrets, may be empty
}

func (e *tokenError) Error() string {
	s := ErrInvalidToken.Error() + ": " + e.reason.Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *tokenError) Unwrap() []error { return []error{ErrInvalidToken, e.reason} }

func invalidToken(reason error, detail string) error {
	return &tokenError{reason: reason, detail: detail}
}

// retryError is an ErrKeySetUnavailable that knows when a retry can
// succeed: an unknown kid while the key set may not be refetched yet.
type retryError struct {
	after  time.Duration
	reason error // ErrUnknownKey
}

func (e *retryError) Error() string {
	return ErrKeySetUnavailable.Error() + ": " + e.reason.Error() + ": key set refetch allowed in " + e.after.String()
}

func (e *retryError) Unwrap() []error { return []error{ErrKeySetUnavailable, e.reason} }

// RetryAfter reports how long a sender should wait before retrying a
// delivery refused with err, when err knows: an unknown kid met while a
// [RemoteKeySet] may not refetch yet (the key may have been rotated in since
// the last fetch) is [ErrKeySetUnavailable] with the time left until the
// next allowed refetch, at least one second. ok is false for every other error.
func RetryAfter(err error) (d time.Duration, ok bool) {
	var re *retryError
	if errors.As(err, &re) {
		return re.after, true
	}
	return 0, false
}

// HTTPStatus maps an error returned by [Verifier.Verify] to the status code a
// webhook receiver should answer with: 400 for a missing or malformed header,
// 401 for a delivery that is not authentic (stale or future timestamp, no
// matching signature, invalid token, disabled scheme), 503 when no key
// material can be had so the sender retries later, and 500 for anything else.
// It returns 200 for a nil error.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrMissingHeader), errors.Is(err, ErrMalformedHeader):
		return http.StatusBadRequest
	case errors.Is(err, ErrTimestampTooOld), errors.Is(err, ErrTimestampTooNew),
		errors.Is(err, ErrNoMatchingSignature), errors.Is(err, ErrInvalidToken),
		errors.Is(err, ErrSchemeDisabled):
		return http.StatusUnauthorized
	case errors.Is(err, ErrKeySetUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Reason returns a short, stable label for an error returned by
// [Verifier.Verify], suitable for a log field or a metric label:
// "ok", "missing_header", "malformed_header", "timestamp_too_old",
// "timestamp_too_new", "no_matching_signature", "audience_mismatch",
// "issuer_mismatch", "invalid_token" (every other token reason),
// "key_refresh_pending" (an unknown kid while the key set may not be
// refetched yet, see [RetryAfter]), "key_set_unavailable",
// "scheme_disabled" or "internal".
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrMissingHeader):
		return "missing_header"
	case errors.Is(err, ErrMalformedHeader):
		return "malformed_header"
	case errors.Is(err, ErrTimestampTooOld):
		return "timestamp_too_old"
	case errors.Is(err, ErrTimestampTooNew):
		return "timestamp_too_new"
	case errors.Is(err, ErrNoMatchingSignature):
		return "no_matching_signature"
	case errors.Is(err, ErrAudienceMismatch):
		return "audience_mismatch"
	case errors.Is(err, ErrIssuerMismatch):
		return "issuer_mismatch"
	case errors.Is(err, ErrInvalidToken):
		return "invalid_token"
	case errors.Is(err, ErrKeySetUnavailable) && errors.Is(err, ErrUnknownKey):
		return "key_refresh_pending"
	case errors.Is(err, ErrKeySetUnavailable):
		return "key_set_unavailable"
	case errors.Is(err, ErrSchemeDisabled):
		return "scheme_disabled"
	default:
		return "internal"
	}
}
