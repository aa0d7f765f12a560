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
	"strings"
	"time"
)

// jwsHeader is the part of a JOSE header the verifier reads. Other members
// (jku, x5u, jwk, x5c …) are ignored: keys come only from the KeySet.
type jwsHeader struct {
	Alg  string           `json:"alg"`
	Kid  string           `json:"kid"`
	Crit *json.RawMessage `json:"crit"`
}

// verifyJWT checks a dynamic-webhook delivery whose webhook-signature holds a
// compact JWS (already checked by Classify to be three base64url segments).
func (v *Verifier) verifyJWT(ctx context.Context, r Request, token string) (Delivery, error) {
	d := Delivery{Scheme: SchemeJWT}

	// Optional headers, checked as for HMAC when present.
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

	audiences := v.audiences
	if len(audiences) == 0 {
		if r.URL == "" {
			return Delivery{}, invalidToken(ErrAudienceMismatch, "no audience configured and no request URL")
		}
		audiences = []string{r.URL}
	}

	dot1 := strings.IndexByte(token, '.')
	dot2 := dot1 + 1 + strings.IndexByte(token[dot1+1:], '.')
	headerSeg, payloadSeg, sigSeg := token[:dot1], token[dot1+1:dot2], token[dot2+1:]

	rawHeader, err := strictURL.DecodeString(headerSeg)
	if err != nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "header is not base64url")
	}
	var hdr jwsHeader
	if err := json.Unmarshal(rawHeader, &hdr); err != nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "header is not a JSON object")
	}
	// The algorithm is checked before any key is looked up, and the
	// signature is always checked as RS256 whatever the header says.
	if hdr.Alg != "RS256" {
		return Delivery{}, invalidToken(ErrUnsupportedAlgorithm, fmt.Sprintf("alg %.16q", hdr.Alg))
	}
	if hdr.Crit != nil {
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
	var claims map[string]any
	if err := json.Unmarshal(rawClaims, &claims); err != nil || claims == nil {
		return Delivery{}, invalidToken(ErrTokenMalformed, "payload is not a JSON object")
	}
	if err := v.checkClaims(claims, audiences); err != nil {
		return Delivery{}, err
	}

	d.KeyID = hdr.Kid
	d.Claims = claims
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
func (v *Verifier) checkClaims(claims map[string]any, audiences []string) error {
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

	if !audienceMatches(claims["aud"], audiences) {
		return invalidToken(ErrAudienceMismatch, "")
	}
	if v.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.issuer {
			return invalidToken(ErrIssuerMismatch, "")
		}
	}
	return nil
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
