// Package verify checks that a Gemini API webhook delivery is authentic.
//
// Gemini signs deliveries in one of two ways, both carried in the
// webhook-signature header and both handled by one [Verifier]:
//
//   - Static webhooks (registered through the WebhookService) use Standard
//     Webhooks v1: HMAC-SHA256, keyed with the "whsec_" signing secret, over
//     webhook-id + "." + webhook-timestamp + "." + the raw body. The header
//     holds one or more space-separated "v1,<base64>" entries; during a
//     rotation it may carry one per secret. This is [SchemeHMAC].
//   - Dynamic webhooks (a per-request webhook_config) put an RS256 JWT in
//     the header, signed by a key published as a JWKS. This is [SchemeJWT].
//
// [Verifier.Verify] tells them apart with [Classify]: versioned entries mean
// HMAC, a single three-segment compact JWS means JWT, anything else is
// malformed. [CheckHeaders] applies every header rule that needs no body
// (signature present and classified, no webhook header repeated), so a
// receiver can refuse before reading the body; Verify applies it too. It never looks at the body beyond hashing it, so pass the bytes
// exactly as received: re-serialised JSON does not verify.
//
// # HMAC
//
// A [Keyring] supplies the accepted secrets, newest first; any of them may
// match any v1 entry, and [Delivery.KeyIndex] says which did. Use
// [StaticKeyring] for a fixed list, or implement Keyring over a secret store:
// its Refresh is called when a well-formed, in-tolerance delivery matched no
// secret, and the Verifier tries once more when it reports a change. The
// checks run cheapest first: no webhook header repeated, headers present,
// webhook-id (non-empty, at most Options.MaxIDLength bytes, no control
// character; '.' is accepted), webhook-timestamp (an integer within
// Options.Tolerance, default 5 minutes, in both directions), signature
// format, and only then the HMAC, compared in constant time. At most
// [MaxSignatureEntries] v1 entries are examined and each secret costs one
// HMAC whatever the number of entries, so a header cannot multiply the work.
// A verified delivery costs no allocation.
//
// # JWT
//
// A [KeySet] supplies RSA public keys by kid: [NewRemoteKeySet] fetches and
// caches a JWKS URL (Gemini documents [GeminiJWKSURL]); [NewStaticKeySet]
// pins keys. Only RS256 is accepted, and the alg header is checked before any
// key is looked up, so "none", HMAC (including the classic confusion of an
// HS256 token keyed with the RSA public key), ECDSA and PSS tokens are
// rejected outright; jku, x5u and embedded jwk headers are ignored, and a
// crit header is refused. The key must be RSA of at least [MinRSABits] bits
// with use "sig" and alg "RS256" when those are set. The exp claim is
// required; nbf and iat are checked when present; all three allow
// Options.Leeway (default 30 seconds). The aud claim (a string or an array)
// must hold one of Options.Audiences, which a KeySet requires: the audience
// is configuration, never derived from the request. The iss claim must equal
// Options.Issuer when that is set. A rejected aud or iss is reported with
// the received and expected values. The token syntax is strict: a member
// name twice in the JOSE header or the claims, or alg, kid or crit spelled
// in another case, is [ErrTokenMalformed]. When a JWT delivery also carries
// webhook-id or webhook-timestamp they are checked as for HMAC, but the
// token covers neither. Google does not document a claim binding the token
// to the body, so treat a dynamic body as a hint and confirm it against the
// API before acting on it.
//
// # Idempotency
//
// [Delivery.IdempotencyKey] is what to deduplicate on, derived only from
// what the signature covers: "hmac:" and the webhook-id, or "jwt:" and the
// token's iss and jti (or the SHA-256 of the whole token when it has no
// jti). A token replayed with other bodies and webhook-ids keeps its key,
// and the two schemes never share a key.
//
// # Errors and HTTP statuses
//
// Every error from Verify wraps exactly one sentinel, to be matched with
// errors.Is. [HTTPStatus] and [Reason] map them; the suggested answers are:
//
//	ErrMissingHeader, ErrMalformedHeader            400 Bad Request
//	ErrTimestampTooOld, ErrTimestampTooNew           401 Unauthorized
//	ErrNoMatchingSignature, ErrInvalidToken          401 Unauthorized
//	ErrSchemeDisabled                                401 Unauthorized
//	ErrKeySetUnavailable                             503 Service Unavailable (the sender retries;
//	                                                 Retry-After from [RetryAfter] when it knows)
//
// ErrInvalidToken also wraps a reason: [ErrUnknownKey],
// [ErrUnsupportedAlgorithm], [ErrUnsuitableKey], [ErrBadSignature],
// [ErrTokenMalformed], [ErrTokenExpired], [ErrTokenNotYetValid],
// [ErrAudienceMismatch] or [ErrIssuerMismatch]. An unknown kid while a
// [RemoteKeySet] may not refetch yet is ErrKeySetUnavailable wrapping
// ErrUnknownKey. Error strings never contain a secret, a signature, a token
// or a body, so they are safe to log.
//
// The package is a pure library: the standard library and jwx only, no
// environment, no logging, no global state. Package verifytest provides
// signing keys, token minting and a JWKS server for tests and tools.
package verify
