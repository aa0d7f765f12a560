package verify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks header names, as sent by Gemini.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// canonical (http.CanonicalHeaderKey) forms, looked up directly to avoid an
// allocation per header per delivery.
const (
	canonID        = "Webhook-Id"
	canonTimestamp = "Webhook-Timestamp"
	canonSignature = "Webhook-Signature"
)

// Limits that bound the work an unauthenticated request can cause.
const (
	// DefaultTolerance is the accepted distance between webhook-timestamp and
	// the clock, in either direction.
	DefaultTolerance = 5 * time.Minute
	// DefaultLeeway is the clock skew allowed on JWT exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxIDLength bounds webhook-id, in bytes.
	DefaultMaxIDLength = 256
	// MaxSignatureHeaderLength bounds webhook-signature, in bytes, and so
	// the size of a JWT. Longer headers are malformed.
	MaxSignatureHeaderLength = 16 << 10
	// MaxSignatureEntries is how many v1 entries of one webhook-signature
	// header are examined; later v1 entries are ignored. Each accepted
	// secret costs one HMAC however many entries there are.
	MaxSignatureEntries = 16
)

// Scheme names how a delivery was signed.
type Scheme string

// The two signing schemes Gemini uses.
const (
	SchemeHMAC Scheme = "hmac" // static webhook, Standard Webhooks v1 HMAC-SHA256
	SchemeJWT  Scheme = "jwt"  // dynamic webhook, RS256 JWT checked against a JWKS
)

// Options configures a Verifier. The zero value of each field is its default.
type Options struct {
	// Keyring supplies the accepted HMAC secrets. Nil switches HMAC off:
	// HMAC deliveries then fail with ErrSchemeDisabled.
	Keyring Keyring
	// KeySet supplies the RSA keys for JWT deliveries. Nil switches JWT off:
	// JWT deliveries then fail with ErrSchemeDisabled.
	KeySet KeySet
	// Tolerance is the accepted distance between webhook-timestamp and Now,
	// in both directions. Zero means DefaultTolerance (5m).
	Tolerance time.Duration
	// Leeway is the clock skew allowed when checking the JWT exp, nbf and
	// iat claims. Zero means DefaultLeeway (30s).
	Leeway time.Duration
	// Audiences lists the accepted JWT aud values; empty strings are
	// ignored. It is required with a KeySet: the audience is configuration,
	// never derived from the request, whose Host and forwarded headers the
	// client chooses (a JWKS may be shared by every customer of the sender,
	// so a token minted for another endpoint verifies too).
	Audiences []string
	// Issuer, when non-empty, is the required JWT iss claim. When empty the
	// iss claim is not checked.
	Issuer string
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// MaxIDLength bounds webhook-id in bytes. Zero means DefaultMaxIDLength.
	MaxIDLength int
}

// Verifier checks webhook deliveries. It is safe for concurrent use.
type Verifier struct {
	keyring     Keyring
	keySet      KeySet
	tolerance   time.Duration
	leeway      time.Duration
	audiences   []string
	issuer      string
	now         func() time.Time
	maxIDLength int
	scratch     sync.Pool // of *scratch
}

// scratch holds per-delivery buffers so the HMAC path does not allocate.
type scratch struct {
	prefix []byte // id "." timestamp "."
	sigs   [MaxSignatureEntries][sha256.Size]byte
	sum    [sha256.Size]byte
}

// New returns a Verifier configured by opts. It fails when both schemes are
// switched off, a KeySet comes without an audience, or a duration or length
// is negative.
func New(opts Options) (*Verifier, error) {
	var problems []string
	if opts.Keyring == nil && opts.KeySet == nil {
		problems = append(problems, "neither Keyring nor KeySet is set")
	}
	if opts.Tolerance < 0 {
		problems = append(problems, "Tolerance is negative")
	}
	if opts.Leeway < 0 {
		problems = append(problems, "Leeway is negative")
	}
	if opts.MaxIDLength < 0 {
		problems = append(problems, "MaxIDLength is negative")
	}
	if opts.KeySet != nil && !slices.ContainsFunc(opts.Audiences, func(a string) bool { return a != "" }) {
		problems = append(problems, "KeySet is set without Audiences")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("verify: new verifier: %s", strings.Join(problems, "; "))
	}
	v := &Verifier{
		keyring:     opts.Keyring,
		keySet:      opts.KeySet,
		tolerance:   opts.Tolerance,
		leeway:      opts.Leeway,
		issuer:      opts.Issuer,
		now:         opts.Now,
		maxIDLength: opts.MaxIDLength,
	}
	for _, a := range opts.Audiences {
		if a != "" {
			v.audiences = append(v.audiences, a)
		}
	}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxIDLength == 0 {
		v.maxIDLength = DefaultMaxIDLength
	}
	v.scratch.New = func() any { return &scratch{prefix: make([]byte, 0, 64)} }
	return v, nil
}

// Request is what Verify looks at.
type Request struct {
	// Header holds the request headers; only the three webhook-* headers
	// are read. Keys are expected in canonical form (as net/http stores
	// them); all-lowercase keys are accepted too.
	Header http.Header
	// Body is the raw body exactly as received, never re-serialized.
	Body []byte
}

// Prefixes of [Delivery.IdempotencyKey]: one namespace per scheme, so that
// a delivery of one scheme can never pass for a duplicate of the other.
const (
	KeyPrefixHMAC = "hmac:"
	KeyPrefixJWT  = "jwt:"
)

// Delivery describes an authentic delivery.
type Delivery struct {
	// ID is the webhook-id header. For HMAC the signature covers it; for a
	// JWT delivery it is information only (the token does not cover it),
	// and without the header it is the jti claim when that is a non-empty
	// string of at most MaxIDLength bytes, else "jwt-" followed by the
	// first 32 hex digits of the SHA-256 of the token. Deduplicate on
	// [Delivery.IdempotencyKey], not on ID.
	ID string
	// Timestamp is webhook-timestamp; zero if a JWT delivery carried none.
	Timestamp time.Time
	// Scheme says how the delivery was signed.
	Scheme Scheme
	// KeyIndex is, for HMAC, the index of the matching secret in the
	// keyring's list (0 = newest).
	KeyIndex int
	// KeyID is, for JWT, the kid of the verifying key.
	KeyID string
	// Claims holds, for JWT, the verified claims (numbers as float64). It
	// is nil for HMAC.
	Claims map[string]any

	tokenKey string // IdempotencyKey of a JWT delivery
}

// IdempotencyKey is the key to deduplicate the delivery on, derived only
// from what its signature covers. For HMAC it is [KeyPrefixHMAC] followed
// by the webhook-id. For JWT it is [KeyPrefixJWT] followed by the byte
// length of the iss claim, ":", iss and the jti claim when jti is a
// non-empty string and both fit MaxIDLength, else [KeyPrefixJWT],
// "sha256:" and the hex SHA-256 of the compact token. So a token replayed
// with another body or webhook-id has the same key, and the two schemes
// never share one. It is "" for a zero Delivery.
func (d Delivery) IdempotencyKey() string {
	switch d.Scheme {
	case SchemeHMAC:
		return KeyPrefixHMAC + d.ID
	case SchemeJWT:
		return d.tokenKey
	}
	return ""
}

// Errors returned often, built once so the rejection path stays cheap.
var (
	errMissingSignature = fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	errMissingID        = fmt.Errorf("%w: %s", ErrMissingHeader, HeaderID)
	errMissingTimestamp = fmt.Errorf("%w: %s", ErrMissingHeader, HeaderTimestamp)
	errSigTooLong       = fmt.Errorf("%w: %s longer than %d bytes", ErrMalformedHeader, HeaderSignature, MaxSignatureHeaderLength)
	errSigUnrecognised  = fmt.Errorf("%w: %s is neither a list of versioned signatures nor a compact JWS", ErrMalformedHeader, HeaderSignature)
	errIDControl        = fmt.Errorf("%w: %s contains a control character", ErrMalformedHeader, HeaderID)
	errRepeatedHeader   = fmt.Errorf("%w: a webhook header is repeated", ErrMalformedHeader)
	errTimestampNotInt  = fmt.Errorf("%w: %s is not an integer", ErrMalformedHeader, HeaderTimestamp)
	errNoV1             = fmt.Errorf("%w: no usable v1 entry", ErrNoMatchingSignature)
	errHMACMismatch     = fmt.Errorf("%w: no v1 entry matched an accepted secret", ErrNoMatchingSignature)
	errNoSecrets        = fmt.Errorf("%w: keyring holds no secret", ErrKeySetUnavailable)
	errHMACDisabled     = fmt.Errorf("%w: %s", ErrSchemeDisabled, SchemeHMAC)
	errJWTDisabled      = fmt.Errorf("%w: %s", ErrSchemeDisabled, SchemeJWT)
)

// Classify reports which scheme a webhook-signature value uses, without
// verifying anything: one or more space-separated versioned entries
// ("v1,…", "v1a,…", "v2,…") mean SchemeHMAC; a single compact JWS of three
// base64url segments (the last may be empty) means SchemeJWT. An empty value
// yields ErrMissingHeader; anything else, or a value longer than
// MaxSignatureHeaderLength, yields ErrMalformedHeader.
func Classify(signatureHeader string) (Scheme, error) {
	s := strings.TrimSpace(signatureHeader)
	switch {
	case s == "":
		return "", errMissingSignature
	case len(s) > MaxSignatureHeaderLength:
		return "", errSigTooLong
	case hasVersionedEntry(s):
		return SchemeHMAC, nil
	case isCompactJWS(s):
		return SchemeJWT, nil
	default:
		return "", errSigUnrecognised
	}
}

// hasVersionedEntry reports whether some space-separated entry of s looks
// like "v<digits>[a-z0-9]*,<anything>".
func hasVersionedEntry(s string) bool {
	for s != "" {
		var e string
		e, s, _ = strings.Cut(s, " ")
		if versionOf(e) != "" {
			return true
		}
	}
	return false
}

// versionOf returns the version identifier of entry e ("v1" in "v1,abc"),
// or "" when e is not a versioned entry.
func versionOf(e string) string {
	comma := strings.IndexByte(e, ',')
	if comma < 2 || e[0] != 'v' || e[1] < '0' || e[1] > '9' {
		return ""
	}
	for i := 2; i < comma; i++ {
		c := e[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return ""
		}
	}
	return e[:comma]
}

// isCompactJWS reports whether s is three base64url segments separated by
// two dots, the first two non-empty.
func isCompactJWS(s string) bool {
	dots := 0
	segLen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
			if dots > 2 {
				return false
			}
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return dots == 2
}

// CheckHeaders applies the webhook-header rules that need neither the body
// nor a key, so a receiver can refuse a delivery before reading its body:
// webhook-signature is present and classifies (see [Classify]), and none of
// webhook-id, webhook-timestamp and webhook-signature occurs more than once.
// Each is a single value (several signatures share one webhook-signature,
// space-separated); a second one would be silently ignored, so the
// ambiguity is refused. It returns the scheme of the signature. Errors wrap
// ErrMissingHeader or ErrMalformedHeader. [Verifier.Verify] applies the same
// rules first; calling CheckHeaders before it only moves the refusal ahead
// of the body.
func CheckHeaders(h http.Header) (Scheme, error) {
	if repeated(h, canonID, HeaderID) || repeated(h, canonTimestamp, HeaderTimestamp) || repeated(h, canonSignature, HeaderSignature) {
		return "", errRepeatedHeader
	}
	return Classify(header(h, canonSignature, HeaderSignature))
}

// repeated reports whether a header occurs more than once, counting its
// canonical and all-lowercase keys together.
func repeated(h http.Header, canon, lower string) bool {
	return len(h[canon])+len(h[lower]) > 1
}

// header returns the first value of a header by its canonical key, falling
// back to the all-lowercase key.
func header(h http.Header, canon, lower string) string {
	if v := h[canon]; len(v) > 0 {
		return v[0]
	}
	if v := h[lower]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Verify checks that r is an authentic delivery and describes it. It
// dispatches on webhook-signature (see [Classify]). The checks run cheapest
// first: [CheckHeaders], headers present, webhook-id format, webhook-timestamp format and
// tolerance, signature format, and only then the cryptography. The returned
// error wraps exactly one of the sentinel errors of this package.
func (v *Verifier) Verify(ctx context.Context, r Request) (Delivery, error) {
	scheme, err := CheckHeaders(r.Header)
	if err != nil {
		return Delivery{}, err
	}
	sig := strings.TrimSpace(header(r.Header, canonSignature, HeaderSignature))
	if scheme == SchemeHMAC {
		if v.keyring == nil {
			return Delivery{}, errHMACDisabled
		}
		return v.verifyHMAC(ctx, r, sig)
	}
	if v.keySet == nil {
		return Delivery{}, errJWTDisabled
	}
	return v.verifyJWT(ctx, r, sig)
}

// checkID validates a webhook-id: at most maxIDLength bytes, without
// control characters. Any other byte is accepted, '.' included: the
// Standard Webhooks spec does not forbid it, Gemini's id format is not
// documented, and the signature binds the id whatever it holds.
func (v *Verifier) checkID(id string) error {
	if len(id) > v.maxIDLength {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformedHeader, HeaderID, v.maxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return errIDControl
		}
	}
	return nil
}

// parseTimestamp parses webhook-timestamp: 1 to 18 ASCII digits.
func parseTimestamp(s string) (int64, error) {
	if len(s) == 0 || len(s) > 18 {
		return 0, errTimestampNotInt
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errTimestampNotInt
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// checkTolerance rejects a timestamp further than the tolerance from now.
func (v *Verifier) checkTolerance(ts time.Time) error {
	d := v.now().Sub(ts)
	switch {
	case d > v.tolerance:
		return fmt.Errorf("%w: %s behind the clock, tolerance %s", ErrTimestampTooOld, d.Truncate(time.Second), v.tolerance)
	case d < -v.tolerance:
		return fmt.Errorf("%w: %s ahead of the clock, tolerance %s", ErrTimestampTooNew, (-d).Truncate(time.Second), v.tolerance)
	}
	return nil
}

func (v *Verifier) verifyHMAC(ctx context.Context, r Request, sig string) (Delivery, error) {
	id := header(r.Header, canonID, HeaderID)
	if id == "" {
		return Delivery{}, errMissingID
	}
	tsText := header(r.Header, canonTimestamp, HeaderTimestamp)
	if tsText == "" {
		return Delivery{}, errMissingTimestamp
	}
	if err := v.checkID(id); err != nil {
		return Delivery{}, err
	}
	unix, err := parseTimestamp(tsText)
	if err != nil {
		return Delivery{}, err
	}
	ts := time.Unix(unix, 0)
	if err := v.checkTolerance(ts); err != nil {
		return Delivery{}, err
	}

	sc := v.scratch.Get().(*scratch)
	defer v.scratch.Put(sc)
	n := parseV1Entries(sig, sc)
	if n == 0 {
		// Nothing could ever match: no point in reading the secret source.
		return Delivery{}, errNoV1
	}
	sc.prefix = append(append(append(append(sc.prefix[:0], id...), '.'), tsText...), '.')

	secrets, err := v.keyring.Secrets(ctx)
	if err != nil {
		return Delivery{}, keyringUnavailable("keyring secrets", err)
	}
	if idx := matchHMAC(secrets, sc, n, r.Body); idx >= 0 {
		return Delivery{ID: id, Timestamp: ts, Scheme: SchemeHMAC, KeyIndex: idx}, nil
	} else if idx == noSecret {
		return Delivery{}, errNoSecrets
	}
	changed, err := v.keyring.Refresh(ctx)
	if err != nil {
		return Delivery{}, keyringUnavailable("keyring refresh", err)
	}
	if !changed {
		return Delivery{}, errHMACMismatch
	}
	secrets, err = v.keyring.Secrets(ctx)
	if err != nil {
		return Delivery{}, keyringUnavailable("keyring secrets", err)
	}
	if idx := matchHMAC(secrets, sc, n, r.Body); idx >= 0 {
		return Delivery{ID: id, Timestamp: ts, Scheme: SchemeHMAC, KeyIndex: idx}, nil
	} else if idx == noSecret {
		return Delivery{}, errNoSecrets
	}
	return Delivery{}, errHMACMismatch
}

func keyringUnavailable(call string, err error) error {
	if errors.Is(err, ErrKeySetUnavailable) {
		return fmt.Errorf("%s: %w", call, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrKeySetUnavailable, call, err)
}

// parseV1Entries decodes up to MaxSignatureEntries v1 entries of sig into
// sc.sigs and returns how many. Entries of other versions, and v1 entries
// that are not exactly the padded standard base64 of 32 bytes (as Standard
// Webhooks senders write them), are skipped, so each signature has one
// accepted spelling.
func parseV1Entries(sig string, sc *scratch) int {
	n := 0
	for sig != "" && n < MaxSignatureEntries {
		var e string
		e, sig, _ = strings.Cut(sig, " ")
		if len(e) < 3 || e[0] != 'v' || e[1] != '1' || e[2] != ',' {
			continue
		}
		b64 := e[3:]
		if len(b64) != paddedSigLen || b64[paddedSigLen-1] != '=' {
			continue
		}
		if decodeSig(&sc.sigs[n], b64[:paddedSigLen-1]) {
			n++
		}
	}
	return n
}

// paddedSigLen is the length of the padded base64 of an HMAC-SHA256.
const paddedSigLen = 44

// strictURL rejects non-zero trailing bits, so a token segment has exactly
// one accepted spelling.
var strictURL = base64.RawURLEncoding.Strict()

// stdDecode maps a standard base64 digit to its value, and anything else to 0xff.
var stdDecode = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeSig decodes the 43 unpadded standard base64 digits of an
// HMAC-SHA256 into dst. It rejects any other digit and non-zero trailing
// bits, so one signature has exactly one accepted spelling. It is a
// specialised, allocation-free encoding/base64 RawStdEncoding.Strict().
func decodeSig(dst *[sha256.Size]byte, s string) bool {
	if len(s) != paddedSigLen-1 {
		return false
	}
	var bad byte
	j := 0
	for i := 0; i < 40; i += 4 {
		a, b, c, d := stdDecode[s[i]], stdDecode[s[i+1]], stdDecode[s[i+2]], stdDecode[s[i+3]]
		bad |= a | b | c | d
		dst[j] = a<<2 | b>>4
		dst[j+1] = b<<4 | c>>2
		dst[j+2] = c<<6 | d
		j += 3
	}
	a, b, c := stdDecode[s[40]], stdDecode[s[41]], stdDecode[s[42]]
	bad |= a | b | c
	dst[30] = a<<2 | b>>4
	dst[31] = b<<4 | c>>2
	return bad&0xc0 == 0 && c&0x03 == 0
}

const noSecret = -2

// matchHMAC returns the index of the first secret whose HMAC over
// sc.prefix+body equals one of the n decoded entries, -1 when none does, or
// noSecret when secrets holds no usable key.
func matchHMAC(secrets []Secret, sc *scratch, n int, body []byte) int {
	usable := false
	for i, s := range secrets {
		if s.IsZero() {
			continue
		}
		usable = true
		h := s.getHash()
		h.Write(sc.prefix)
		h.Write(body)
		sum := h.Sum(sc.sum[:0])
		s.putHash(h)
		for j := 0; j < n; j++ {
			if hmac.Equal(sum, sc.sigs[j][:]) {
				return i
			}
		}
	}
	if !usable {
		return noSecret
	}
	return -1
}
