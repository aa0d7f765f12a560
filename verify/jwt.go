package verify

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jwsHeader is the part of a JOSE header the verifier reads. Other members
// (jku, x5u, jwk, x5c …) are ignored: keys come only from the KeySet.
type jwsHeader struct {
	Alg     string
	Kid     string
	HasCrit bool
}

// readHeaderNames are the JOSE header members the verifier reads, spelled
// as RFC 7515 spells them. Any other spelling of one of them ("ALG", "Kid")
// is refused: encoding/json would match it case-insensitively, and two
// spellings would be two readings of one token.
var readHeaderNames = [...]string{"alg", "kid", "crit"}

// parseHeader decodes a JOSE header strictly: one JSON object, no member
// name twice (at any depth), the members read spelled exactly, alg and kid
// strings.
func parseHeader(raw []byte) (jwsHeader, error) {
	if err := uniqueMembers(raw); err != nil {
		return jwsHeader{}, invalidToken(ErrTokenMalformed, "header: "+err.Error())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return jwsHeader{}, invalidToken(ErrTokenMalformed, "header is not a JSON object")
	}
	for name := range m {
		for _, want := range readHeaderNames {
			if name != want && strings.EqualFold(name, want) {
				return jwsHeader{}, invalidToken(ErrTokenMalformed, fmt.Sprintf("header member %.16q is not spelled %q", name, want))
			}
		}
	}
	var h jwsHeader
	if a, ok := m["alg"]; ok {
		if err := json.Unmarshal(a, &h.Alg); err != nil {
			return jwsHeader{}, invalidToken(ErrTokenMalformed, "alg is not a string")
		}
	}
	if k, ok := m["kid"]; ok {
		if err := json.Unmarshal(k, &h.Kid); err != nil {
			return jwsHeader{}, invalidToken(ErrTokenMalformed, "kid is not a string")
		}
	}
	_, h.HasCrit = m["crit"]
	return h, nil
}

// errDuplicateMember reports a JSON object naming one member twice.
var errDuplicateMember = errors.New("a member name occurs twice")

// uniqueMembers reports an error when raw is not valid JSON, or when an
// object in it (at any depth) names a member twice: encoding/json keeps
// the last of them, another parser might keep the first, and a token must
// have one reading. Names are compared after unescaping, so "a\\u006cg"
// repeats "alg". It scans the bytes once json.Valid has vouched for them,
// so the check costs little beside the RSA verification.
func uniqueMembers(raw []byte) error {
	if !json.Valid(raw) {
		return errors.New("not valid JSON")
	}
	// One entry per open object or array (nil for an array). Small objects
	// are searched linearly; a large one gets a set, so a header of
	// thousands of members costs linear time.
	type object struct {
		names []string
		set   map[string]struct{}
	}
	var stack []*object
	var prev byte // the last structural or value byte outside strings
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			stack = append(stack, &object{})
		case '[':
			stack = append(stack, nil)
		case '}', ']':
			stack = stack[:len(stack)-1]
		case '"':
			start, escaped := i, false
			for i++; raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					escaped = true
					i++
				}
			}
			n := len(stack)
			if n == 0 || stack[n-1] == nil || (prev != '{' && prev != ',') {
				break // a value, not a member name
			}
			var name string
			if escaped {
				_ = json.Unmarshal(raw[start:i+1], &name) // valid JSON: cannot fail
			} else {
				name = string(raw[start+1 : i])
			}
			o := stack[n-1]
			if o.set != nil {
				if _, dup := o.set[name]; dup {
					return errDuplicateMember
				}
				o.set[name] = struct{}{}
				break
			}
			if slices.Contains(o.names, name) {
				return errDuplicateMember
			}
			o.names = append(o.names, name)
			if len(o.names) > 16 {
				o.set = make(map[string]struct{}, 2*len(o.names))
				for _, nm := range o.names {
					o.set[nm] = struct{}{}
				}
			}
		}
		prev = c
	}
	return nil
}

// verifyJWT checks a dynamic-webhook delivery whose webhook-signature holds a
// compact JWS (already checked by Classify to be three base64url segments).
func (v *Verifier) verifyJWT(ctx context.Context, r Request, token string) (Delivery, error) {
	d := Delivery{Scheme: SchemeJWT}

	// Optional headers, checked as for HMAC when present. The token covers
	// neither: they are information only.
	if id := header(r.Header, canonID, HeaderID); id != "" {
		if err := v.checkID(id); err != nil {
			return Delivery{}, err
		}
		d.ID = id
	}
	if tsText := header(r.Header, canonTimestamp, HeaderTimestamp); tsText != "" {
		unix, err := parseTimestamp(tsText)
		if err != nil {
			return Delivery{}, err
		}
		d.Timestamp = time.Unix(unix, 0)
		if err := v.checkTolerance(d.Timestamp); err != nil {
			return Delivery{}, err
		}
	}

	dot1 := strings.IndexByte(token, '.')
	dot2 := dot1 + 1 + strings.IndexByte(token[dot1+1:], '.')
	headerSeg, payloadSeg, sigSeg := token[:dot1], token[dot1+1:dot2], token[dot2+1:]

	rawHeader, err := strictURL.DecodeString(headerSeg)
	if err != nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "header is not base64url")
	}
	hdr, err := parseHeader(rawHeader)
	if err != nil {
		return Delivery{}, err
	}
	// The algorithm is checked before any key is looked up, and the
	// signature is always checked as RS256 whatever the header says.
	if hdr.Alg != "RS256" {
		return Delivery{}, invalidToken(ErrUnsupportedAlgorithm, fmt.Sprintf("alg %.16q", hdr.Alg))
	}
	if hdr.HasCrit {
		return Delivery{}, invalidToken(ErrUnsupportedAlgorithm, "crit header not supported")
	}
	if hdr.Kid == "" {
		return Delivery{}, invalidToken(ErrTokenMalformed, "missing kid")
	}

	pk, err := v.lookupKey(ctx, hdr.Kid)
	if err != nil {
		return Delivery{}, err
	}

	sig, err := strictURL.DecodeString(sigSeg)
	if err != nil || len(sig) != pk.pub.Size() {
		return Delivery{}, invalidToken(ErrBadSignature, "")
	}
	digest := sha256.Sum256([]byte(token[:dot2]))
	if err := rsa.VerifyPKCS1v15(pk.pub, crypto.SHA256, digest[:], sig); err != nil {
		return Delivery{}, invalidToken(ErrBadSignature, "")
	}

	rawClaims, err := strictURL.DecodeString(payloadSeg)
	if err != nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "payload is not base64url")
	}
	if err := uniqueMembers(rawClaims); err != nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "payload: "+err.Error())
	}
	var claims map[string]any
	if err := json.Unmarshal(rawClaims, &claims); err != nil || claims == nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "payload is not a JSON object")
	}
	if err := v.checkClaims(claims); err != nil {
		return Delivery{}, err
	}

	d.KeyID = hdr.Kid
	d.Claims = claims
	d.tokenKey = v.tokenKey(claims, token)
	if d.ID == "" {
		if jti, ok := claims["jti"].(string); ok && jti != "" && len(jti) <= v.maxIDLength {
			d.ID = jti
		} else {
			sum := sha256.Sum256([]byte(token))
			d.ID = "jwt-" + hex.EncodeToString(sum[:16])
		}
	}
	return d, nil
}

// tokenKey derives a JWT delivery's idempotency key from what the
// signature covers, never from an unsigned header: "jwt:" followed by the
// byte length of iss, ":", iss and jti when jti is a non-empty string (iss
// may be absent: length 0) and both fit MaxIDLength; otherwise
// "jwt:sha256:" and the hex SHA-256 of the whole compact token. The length
// prefix keeps every (iss, jti) pair apart, and a digit cannot start
// "sha256", so the two forms never meet.
func (v *Verifier) tokenKey(claims map[string]any, token string) string {
	jti, _ := claims["jti"].(string)
	iss, _ := claims["iss"].(string)
	if jti != "" && len(jti) <= v.maxIDLength && len(iss) <= v.maxIDLength {
		return KeyPrefixJWT + strconv.Itoa(len(iss)) + ":" + iss + jti
	}
	sum := sha256.Sum256([]byte(token))
	return KeyPrefixJWT + "sha256:" + hex.EncodeToString(sum[:])
}

// lookupKey fetches and checks the key for kid.
func (v *Verifier) lookupKey(ctx context.Context, kid string) (*preparedKey, error) {
	var pk *preparedKey
	var err error
	if pks, ok := v.keySet.(preparedKeySet); ok {
		pk, err = pks.preparedKey(ctx, kid)
	} else {
		k, kerr := v.keySet.Key(ctx, kid)
		if err = kerr; err == nil {
			pk = prepareKey(k)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrKeySetUnavailable):
		return nil, fmt.Errorf("key set lookup: %w", err)
	case errors.Is(err, ErrUnknownKey):
		return nil, invalidToken(ErrUnknownKey, "")
	default:
		return nil, fmt.Errorf("%w: key set lookup: %w", ErrKeySetUnavailable, err)
	}
	if pk == nil || pk.pub == nil {
		bad := "nil key"
		if pk != nil {
			bad = pk.bad
		}
		return nil, invalidToken(ErrUnsuitableKey, bad)
	}
	return pk, nil
}

// checkClaims applies the time, audience and issuer rules to verified claims.
func (v *Verifier) checkClaims(claims map[string]any) error {
	now := v.now()
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return invalidToken(ErrTokenExpired, "missing exp")
	}
	if !now.Before(exp.Add(v.leeway)) {
		return invalidToken(ErrTokenExpired, "")
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return err
	}
	if ok && now.Add(v.leeway).Before(nbf) {
		return invalidToken(ErrTokenNotYetValid, "nbf in the future")
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	if ok && now.Add(v.leeway).Before(iat) {
		return invalidToken(ErrTokenNotYetValid, "iat in the future")
	}

	if !audienceMatches(claims["aud"], v.audiences) {
		return invalidToken(ErrAudienceMismatch, v.claimsDetail(claims))
	}
	if v.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.issuer {
			return invalidToken(ErrIssuerMismatch, v.claimsDetail(claims))
		}
	}
	return nil
}

// maxClaimDetail bounds each value quoted by claimsDetail, in bytes.
const maxClaimDetail = 200

// claimsDetail describes the received aud and iss claims and the expected
// ones, so an operator whose tokens carry an unexpected audience or issuer
// can see which. Claims are not secrets, and they come from a token whose
// signature verified; each value is quoted and bounded.
func (v *Verifier) claimsDetail(claims map[string]any) string {
	quote := func(x any) string {
		b, err := json.Marshal(x)
		if err != nil || x == nil {
			return "none"
		}
		if len(b) > maxClaimDetail {
			return strings.ToValidUTF8(string(b[:maxClaimDetail]), "") + "…"
		}
		return string(b)
	}
	expIss := any(v.issuer)
	if v.issuer == "" {
		expIss = "(any)"
	}
	return "received aud " + quote(claims["aud"]) + " iss " + quote(claims["iss"]) +
		"; expected aud " + quote(v.audiences) + " iss " + quote(expIss)
}

// numericDate reads a NumericDate claim (seconds since the epoch, possibly
// fractional). ok is false when the claim is absent.
func numericDate(claims map[string]any, name string) (t time.Time, ok bool, err error) {
	raw, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, isNum := raw.(float64)
	if !isNum || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return time.Time{}, false, invalidToken(ErrTokenMalformed, name+" is not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audienceMatches reports whether aud (a string or an array of strings)
// holds one of the accepted audiences.
func audienceMatches(aud any, accepted []string) bool {
	switch aud := aud.(type) {
	case string:
		for _, a := range accepted {
			if aud == a {
				return true
			}
		}
	case []any:
		for _, x := range aud {
			if s, ok := x.(string); ok && audienceMatches(s, accepted) {
				return true
			}
		}
	}
	return false
}
