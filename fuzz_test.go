package geminihook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/syncbuf"
	"github.com/geminihook/geminihook/verify"
)

// fuzzSecret is the fixed signing key of the handler fuzz targets.
const fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fuzzLimit is GEMINI_MAX_BODY_BYTES while fuzzing.
const fuzzLimit = 64 << 10

// newFuzzHarness runs the real handler with a literal fixed key (no Secret
// Manager round trips) and logs that can be taken per input.
func newFuzzHarness(f *testing.F) (*harness, *syncbuf.Buffer) {
	h := newHarness(f, harnessOptions{env: map[string]string{
		"GEMINI_WEBHOOK_SECRET": fuzzSecret,
		"GEMINI_MAX_BODY_BYTES": strconv.Itoa(fuzzLimit),
	}})
	h.secret = verify.MustParseSecret(fuzzSecret)
	logs := &syncbuf.Buffer{}
	h.fn.opts.logger = newTestLogger(logs)
	return h, logs
}

// Signing modes of FuzzHandler.
const (
	fuzzUnsigned = iota // the signature header is the fuzzer's text
	fuzzHMAC            // signed with the fixed key
	fuzzJWT             // a token minted by the JWKS key
	fuzzTampered        // signed, then one body byte appended
	fuzzModes
)

// checkAnswer verifies that an answer is one of the function's small JSON
// bodies and carries no input bytes beyond the webhook id.
func checkAnswer(t *testing.T, res response) answer {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(res.body), &fields); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", res.body, err)
	}
	for k := range fields {
		switch k {
		case "result", "id", "family", "reason":
		default:
			t.Fatalf("answer %q has the unexpected field %q", res.body, k)
		}
	}
	var a answer
	_ = json.Unmarshal([]byte(res.body), &a)
	switch a.Result {
	case resultPublished, resultDuplicate, resultQuarantined:
		if res.status != http.StatusOK || a.Reason != "" {
			t.Fatalf("status %d with answer %q", res.status, res.body)
		}
	case resultRejected, resultUnavailable:
		if res.status < 400 || a.ID != "" || a.Family != "" {
			t.Fatalf("status %d with answer %q", res.status, res.body)
		}
		if a.Reason == "" || strings.Trim(a.Reason, "abcdefghijklmnopqrstuvwxyz_") != "" {
			t.Fatalf("reason %q is not a fixed code", a.Reason)
		}
	default:
		t.Fatalf("answer %q has an unknown result", res.body)
	}
	if a.Family != "" {
		known := false
		for _, f := range events.Families() {
			known = known || string(f) == a.Family
		}
		if !known {
			t.Fatalf("answer %q names an unknown family", res.body)
		}
	}
	return a
}

// FuzzHandler sends fuzzed deliveries through the real handler against
// pstest, part of them signed with the fixed key or a valid token so the
// fuzzer reaches the parser. Invariants: 200 only with exactly one new
// message carrying the answer's id, or for a duplicate of a key accepted
// before (an HMAC webhook-id, a JWT token: never one for the other); never a 2xx for an unsigned or tampered delivery; never a 5xx
// (Pub/Sub and the keys are healthy); an authentic, well-formed delivery is
// always accepted; answers and logs hold no signature, token or body.
func FuzzHandler(f *testing.F) {
	h, logs := newFuzzHarness(f)
	key := h.secret
	f.Add([]byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/1"}}`), "msg_seed", "", int64(0), uint8(fuzzHMAC))
	f.Add([]byte(`{"type":"video.generated","data":{"id":"v"}}`), "msg_jwt", "", int64(30), uint8(fuzzJWT))
	f.Add([]byte(`not json`), "msg_q", "", int64(-299), uint8(fuzzHMAC))
	f.Add([]byte(`{"type":"batch.failed"}`), "msg_forged", "v1,"+strings.Repeat("A", 43)+"=", int64(0), uint8(fuzzUnsigned))
	f.Add([]byte(`{}`), "msg_t", "", int64(0), uint8(fuzzTampered))

	// Keys answered 200 so far, as the handler dedupes: "hmac:" and the
	// raw webhook-id, or "jwt:" and the token (one token, one key: its
	// iss+jti, or its hash without jti).
	accepted := map[string]bool{}
	f.Fuzz(func(t *testing.T, body []byte, id, sig string, offset int64, mode uint8) {
		h.t = t // the harness reports through the running input
		mode %= fuzzModes
		offset %= 3600 // within an hour either way: both sides of the tolerance
		now := h.clock.Now()
		at := now.Add(time.Duration(offset) * time.Second)
		hd := http.Header{}
		hd.Set(verify.HeaderID, id)
		hd.Set(verify.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		authentic := false
		switch mode {
		case fuzzUnsigned:
			hd.Set(verify.HeaderSignature, sig)
		case fuzzHMAC, fuzzTampered:
			sig = verify.Sign(key, id, at, body)
			hd.Set(verify.HeaderSignature, sig)
			authentic = mode == fuzzHMAC
		case fuzzJWT:
			// With an even offset the token carries the id as jti; with
			// an odd one every such input sends the same token under
			// its own webhook-id: a replay, to be answered duplicate.
			claims := map[string]any{"aud": testURL, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
			if offset%2 == 0 {
				claims["jti"] = id
			}
			sig = h.key.MustMint(claims)
			hd.Set(verify.HeaderSignature, sig)
			authentic = true
		}
		key := "hmac:" + id
		if mode == fuzzJWT {
			key = "jwt:" + sig
		}
		sent := body
		if mode == fuzzTampered {
			sent = append(bytes.Clone(body), 'x')
		}
		h.ps.ClearMessages()
		res := h.do(request{body: sent, header: hd})
		msgs := h.ps.Messages()
		a := checkAnswer(t, res)

		if res.status >= 500 {
			t.Fatalf("status %d with healthy Pub/Sub and keys: %s", res.status, res.body)
		}
		if res.status < 300 && !authentic {
			t.Fatalf("status %d for a delivery that is not authentic (mode %d)", res.status, mode)
		}
		switch a.Result {
		case resultPublished, resultQuarantined:
			if len(msgs) != 1 {
				t.Fatalf("200 %s with %d new messages", a.Result, len(msgs))
			}
			want := strings.ToValidUTF8(id, "\uFFFD")
			if id == "" && mode == fuzzJWT {
				want = a.ID // derived from the token
			}
			if got := msgs[0].Attributes["webhook_id"]; got != want || a.ID == "" {
				t.Fatalf("message webhook_id %q, want %q (answer id %q)", got, want, a.ID)
			}
			if (a.Result == resultQuarantined) != (a.Family == string(events.FamilyQuarantine)) {
				t.Fatalf("answer %q: result and family disagree", res.body)
			}
			if accepted[key] {
				t.Fatalf("published again under the key of an earlier delivery (mode %d)", mode)
			}
			accepted[key] = true
		case resultDuplicate:
			if len(msgs) != 0 || !accepted[key] {
				t.Fatalf("duplicate of %q (accepted before: %v) with %d new messages", a.ID, accepted[key], len(msgs))
			}
		default:
			if len(msgs) != 0 {
				t.Fatalf("%d messages for an answer %d", len(msgs), res.status)
			}
		}
		// An authentic delivery with well-formed headers is never refused.
		wellFormed := id != "" && len(id) <= verify.DefaultMaxIDLength && !strings.ContainsFunc(id, isControl) &&
			(offset >= -300 && offset <= 300) && len(body) <= fuzzLimit
		if mode == fuzzJWT {
			// The token covers neither webhook header, and without
			// them a JWT delivery is still complete.
			wellFormed = (id == "" || len(id) <= verify.DefaultMaxIDLength && !strings.ContainsFunc(id, isControl)) &&
				(offset >= -300 && offset <= 300) && len(body) <= fuzzLimit
		}
		if authentic && wellFormed && res.status != http.StatusOK {
			t.Fatalf("authentic well-formed delivery answered %d: %s", res.status, res.body)
		}
		// The answer carries the id and fixed words only: no signature,
		// token or body bytes.
		if a.ID != "" && a.ID != jsonRoundTrip(id) && !(id == "" && strings.HasPrefix(a.ID, "jwt-")) {
			t.Fatalf("answer id %q is not the webhook id %q", a.ID, id)
		}
		log := logs.Take()
		if len(sig) >= 16 && mode != fuzzUnsigned && strings.Contains(log, sig) {
			t.Fatalf("the log holds the signature or token")
		}
		if len(sig) >= 16 && strings.Contains(res.body, sig) {
			t.Fatalf("the answer holds the signature")
		}
		if len(body) >= 32 && !bytes.Contains([]byte(id), body) {
			if strings.Contains(res.body, string(body)) || strings.Contains(log, string(body)) {
				t.Fatalf("the answer or log holds the body")
			}
		}
	})
}

// FuzzHandlerToken fuzzes the webhook-signature header of a JWT delivery,
// starting from a valid token: anything but that token (up to surrounding
// spaces) is refused with a 4xx, or a 503 key_refresh_pending for an
// unknown kid while no refetch is allowed, and nothing is published for it.
func FuzzHandlerToken(f *testing.F) {
	h, logs := newFuzzHarness(f)
	now := h.clock.Now()
	valid := h.key.MustMint(map[string]any{"aud": testURL, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	body := h.sample("interaction.completed", 1)
	f.Add(valid)
	f.Add(valid + ".")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		h.t = t
		hd := http.Header{}
		hd.Set(verify.HeaderSignature, token)
		h.ps.ClearMessages()
		res := h.do(request{body: body, header: hd})
		msgs := h.ps.Messages()
		a := checkAnswer(t, res)
		isValid := strings.TrimSpace(token) == valid
		switch {
		case res.status == 503 && a.Reason == "key_refresh_pending":
			// A kid the fetched set lacks, while no refetch is allowed:
			// "retry later", within the refresh interval.
			if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 || isValid {
				t.Fatalf("key_refresh_pending with Retry-After %q (valid token: %v)", res.header.Get("Retry-After"), isValid)
			}
		case res.status >= 500:
			t.Fatalf("status %d with a healthy JWKS: %s", res.status, res.body)
		case res.status < 300 && !isValid:
			t.Fatalf("status %d for a token that is not the valid one", res.status)
		case isValid && res.status != 200:
			t.Fatalf("the valid token answered %d: %s", res.status, res.body)
		case a.Result == resultPublished && len(msgs) != 1,
			a.Result != resultPublished && len(msgs) != 0:
			t.Fatalf("answer %s with %d new messages", a.Result, len(msgs))
		}
		// A token-shaped header (a compact JWS) never reaches the log.
		tok := strings.TrimSpace(token)
		if log := logs.Take(); len(tok) >= 16 && isJWS(tok) && strings.Contains(log, tok) {
			t.Fatalf("the log holds the token")
		}
	})
}

// jsonRoundTrip is s as it reads back from a JSON answer: invalid UTF-8
// becomes U+FFFD.
func jsonRoundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// isJWS reports whether s is shaped like a compact JWS.
func isJWS(s string) bool {
	scheme, err := verify.Classify(s)
	return err == nil && scheme == verify.SchemeJWT
}

// isControl reports an ASCII control character, which verify refuses in a
// webhook-id.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
