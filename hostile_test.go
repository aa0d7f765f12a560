package geminihook

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// hostileIssuer is the JWT issuer the hostile harness requires, so that a
// wrong iss can be tested.
const hostileIssuer = "https://generativelanguage.googleapis.com/"

// hostileLimit is GEMINI_MAX_BODY_BYTES in the hostile harness.
const hostileLimit = 4096

// newHostileHarness is a harness with a small body limit, a required JWT
// issuer and a secret whose text the test knows, so logs can be searched
// for it.
func newHostileHarness(t testing.TB) (*harness, string) {
	t.Helper()
	h := newHarness(t, harnessOptions{noSecret: true, env: map[string]string{
		"GEMINI_MAX_BODY_BYTES": strconv.Itoa(hostileLimit),
		"GEMINI_JWT_ISSUER":     hostileIssuer,
	}})
	return h, h.addKnownSecret()
}

// addKnownSecret adds a fresh secret version, makes it h.secret and
// returns its whsec_ text.
func (h *harness) addKnownSecret() string {
	h.t.Helper()
	raw, err := verify.GenerateSecret()
	if err != nil {
		h.t.Fatal(err)
	}
	h.secret = verify.MustParseSecret(raw)
	h.sm.AddVersion(testSecret, []byte(raw))
	return raw
}

// signRaw returns the v1 signature entry of id, timestamp and body under
// the whsec_ secret raw, for timestamps verify.Sign cannot express.
func signRaw(raw, id, timestamp string, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(raw, "whsec_"))
	if err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hreq is a request the plain harness request cannot express: any method,
// a streamed or chunked body, raw header values, or a real connection.
type hreq struct {
	method  string
	body    []byte
	stream  int64 // > 0: the body is this many bytes of 'x', streamed
	chunked bool  // no Content-Length (Transfer-Encoding: chunked)
	header  http.Header
	wire    bool // write the request verbatim on a TCP connection
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// repeatReader yields an endless stream of one byte.
type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// serve sends r through the real handler and returns the answer and how
// many body bytes the handler read.
func (h *harness) serve(r hreq) (response, int64) {
	h.t.Helper()
	if r.wire {
		return h.serveWire(r), -1
	}
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var src io.Reader = bytes.NewReader(r.body)
	length := int64(len(r.body))
	if r.stream > 0 {
		src, length = io.LimitReader(repeatReader('x'), r.stream), r.stream
	}
	body := &countingReader{r: src}
	req := httptest.NewRequest(http.MethodPost, testURL+"/", nil)
	req.Method = method
	req.Host = strings.TrimPrefix(testURL, "https://")
	req.Body = io.NopCloser(body)
	req.ContentLength = length
	if r.chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("X-Forwarded-Proto", "https")
	rec := httptest.NewRecorder()
	h.fn.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}, body.n.Load()
}

var wireServers sync.Map // *harness -> *httptest.Server

// serveWire writes r byte for byte on a connection to a real HTTP server
// in front of the handler, so header values keep the padding a client or
// proxy put around them, and parses the answer.
func (h *harness) serveWire(r hreq) response {
	h.t.Helper()
	v, ok := wireServers.Load(h)
	if !ok {
		srv := httptest.NewServer(h.fn)
		h.t.Cleanup(func() { srv.Close(); wireServers.Delete(h) })
		wireServers.Store(h, srv)
		v = srv
	}
	srv := v.(*httptest.Server)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n", strings.TrimPrefix(testURL, "https://"))
	if r.chunked {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	for k, vs := range r.header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s:%s\r\n", k, v) // verbatim: padding kept
		}
	}
	b.WriteString("\r\n")
	if r.chunked {
		fmt.Fprintf(&b, "%x\r\n%s\r\n0\r\n\r\n", len(r.body), r.body)
	} else {
		b.Write(r.body)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		h.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

// hostileCase is one row of the hostile-input table.
type hostileCase struct {
	name   string
	req    func() hreq
	status int
	reason string        // the answer's reason (non-2xx)
	result string        // the answer's result (2xx)
	family events.Family // the topic that receives the one message; "" for none
	unread bool          // the handler must not read any of the body
	// qreason is the quarantine_reason attribute of a quarantined message.
	qreason string
	// eventType is the event_type attribute of a published message.
	eventType string
	before    func() // runs before the request (e.g. moves the clock)
	after     func()
}

// TestHostileInput sends hostile and borderline deliveries through the
// real handler and checks each answer's status, reason and publish count,
// and that no answer or log line carries a signature, token, secret or
// body.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	h, rawSecret := newHostileHarness(t)
	now := func() time.Time { return h.clock.Now() }
	ts := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	var leaks []string // every signature, token and body marker sent
	var leakMu sync.Mutex
	leak := func(s ...string) {
		leakMu.Lock()
		defer leakMu.Unlock()
		leaks = append(leaks, s...)
	}

	// body returns a distinctive valid body for id: the marker is searched
	// for in logs and answers.
	body := func(id string) []byte {
		return []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/` + id + `","marker":"BODYMARK-` + id + `"}}`)
	}
	// signed is an HMAC delivery of b signed for id at the clock.
	signedBody := func(id string, b []byte) hreq {
		hd := verify.SignHeaders(h.secret, id, now(), b)
		leak(hd.Get(verify.HeaderSignature))
		return hreq{body: b, header: hd}
	}
	signed := func(id string) hreq { return signedBody(id, body(id)) }
	// withTS signs id and b over the timestamp text tsText.
	withTS := func(id, tsText string) hreq {
		b := body(id)
		hd := http.Header{}
		hd.Set(verify.HeaderID, id)
		hd.Set(verify.HeaderTimestamp, tsText)
		sig := signRaw(rawSecret, id, tsText, b)
		hd.Set(verify.HeaderSignature, sig)
		leak(sig)
		return hreq{body: b, header: hd}
	}
	// withSig is a delivery of id whose signature header is sig.
	withSig := func(id, sig string) hreq {
		r := signed(id)
		r.header.Set(verify.HeaderSignature, sig)
		leak(sig)
		return r
	}
	validSig := func(id string) string {
		return verify.Sign(h.secret, id, now(), body(id))
	}
	garbageEntry := func(i int) string { // decodable v1 entries that never match
		sum := sha256.Sum256([]byte(fmt.Sprint("garbage", i)))
		return "v1," + base64.StdEncoding.EncodeToString(sum[:])
	}
	// jwt is a JWT delivery with the default claims plus claims.
	jwt := func(id string, claims map[string]any) hreq {
		c := map[string]any{"iss": hostileIssuer}
		for k, v := range claims {
			c[k] = v
		}
		r := h.jwtRequest(id, body(id), c)
		leak(r.header.Get(verify.HeaderSignature))
		return hreq{body: r.body, header: r.header}
	}
	withToken := func(id, token string) hreq {
		r := jwt(id, nil)
		r.header.Set(verify.HeaderSignature, token)
		leak(token)
		return r
	}
	baseClaims := func() map[string]any {
		return map[string]any{"aud": testURL, "iss": hostileIssuer, "iat": now().Unix(), "exp": now().Add(5 * time.Minute).Unix()}
	}
	mint := func(alg string, hdr map[string]any, key any) string {
		tok, err := verifytest.MintWith(alg, hdr, baseClaims(), key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	pubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&h.key.Private().PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	impostor := verifytest.MustKey(h.key.KID()) // same kid, other key
	kid := map[string]any{"kid": h.key.KID()}

	// exact returns a valid body of exactly n bytes.
	exact := func(id string, n int) []byte {
		head := `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/` + id + `"},"pad":"`
		return []byte(head + strings.Repeat("p", n-len(head)-2) + `"}`)
	}
	with := func(r hreq, f func(*hreq)) hreq { f(&r); return r }
	del := func(name string) func(*hreq) { return func(r *hreq) { r.header.Del(name) } }
	set := func(name, v string) func(*hreq) {
		return func(r *hreq) { r.header[http.CanonicalHeaderKey(name)] = []string{v} }
	}
	add := func(name, v string) func(*hreq) { return func(r *hreq) { r.header.Add(name, v) } }
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000) // within the limit, far past events.MaxDepth
	rejected := func(name string, req func() hreq, status int, reason string) hostileCase {
		return hostileCase{name: name, req: req, status: status, reason: reason}
	}
	published := func(name string, req func() hreq, family events.Family, eventType string) hostileCase {
		return hostileCase{name: name, req: req, status: 200, result: resultPublished, family: family, eventType: eventType}
	}
	quarantined := func(name string, req func() hreq, reason string) hostileCase {
		return hostileCase{name: name, req: req, status: 200, result: resultQuarantined, family: events.FamilyQuarantine, qreason: reason}
	}
	const (
		missing   = "missing_header"
		malformed = "malformed_header"
		noMatch   = "no_matching_signature"
		badToken  = "invalid_token"
	)
	batch := events.FamilyBatch

	var cases []hostileCase
	// Every method but POST, even with a valid signature: 405, body unread.
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect, "PROPFIND"} {
		c := rejected("method "+m, func() hreq { r := signed("msg_m_" + m); r.method = m; return r }, 405, "method_not_allowed")
		c.unread = true
		cases = append(cases, c)
	}
	cases = append(cases,
		// Body size, with and without Content-Length.
		published("body at the limit", func() hreq { return signedBody("msg_at_limit", exact("msg_at_limit", hostileLimit)) }, batch, "batch.succeeded"),
		published("body at the limit chunked", func() hreq {
			r := signedBody("msg_at_limit_c", exact("msg_at_limit_c", hostileLimit))
			r.chunked = true
			return r
		}, batch, "batch.succeeded"),
		hostileCase{name: "one byte over", req: func() hreq { return signedBody("msg_over", exact("msg_over", hostileLimit+1)) }, status: 413, reason: "body_too_large", unread: true},
		rejected("one byte over chunked", func() hreq {
			r := signedBody("msg_over_c", exact("msg_over_c", hostileLimit+1))
			r.chunked = true
			return r
		}, 413, "body_too_large"),
		hostileCase{name: "far over", req: func() hreq { r := signed("msg_far"); r.body, r.stream = nil, 64<<20; return r }, status: 413, reason: "body_too_large", unread: true},
		rejected("far over chunked", func() hreq { r := signed("msg_far_c"); r.body, r.stream, r.chunked = nil, 64<<20, true; return r }, 413, "body_too_large"),
		hostileCase{name: "far over unsigned chunked", req: func() hreq { return hreq{stream: 64 << 20, chunked: true} }, status: 400, reason: missing, unread: true},
		published("valid delivery chunked over the wire", func() hreq {
			r := signed("msg_wire_chunked")
			r.wire, r.chunked = true, true
			return r
		}, batch, "batch.succeeded"),

		// webhook-id.
		hostileCase{name: "id missing", req: func() hreq { return with(signed("msg_x1"), del(verify.HeaderID)) }, status: 400, reason: missing},
		rejected("id empty", func() hreq { return with(signed("msg_x2"), set(verify.HeaderID, "")) }, 400, missing),
		hostileCase{name: "id repeated", req: func() hreq { return with(signed("msg_x3"), add(verify.HeaderID, "msg_other")) }, status: 400, reason: malformed, unread: true},
		rejected("id overlong", func() hreq { return signedBody("msg_"+strings.Repeat("l", 4<<10), body("msg_x5")) }, 400, malformed),
		published("id with dots, signed", func() hreq { return signed("msg.dot.2") }, batch, "batch.succeeded"),
		rejected("id with a control character", func() hreq { return signed("msg\x01ctl") }, 400, malformed),
		published("id non-ASCII, signed", func() hreq { return signed("msg_ünïcødé_日本") }, batch, "batch.succeeded"),
		rejected("id non-ASCII, forged", func() hreq { return with(signed("msg_x4"), set(verify.HeaderID, "msg_ünïcødé")) }, 401, noMatch),
		published("id padded over the wire", func() hreq {
			r := signed("msg_pad_id")
			r.header.Set(verify.HeaderID, " \t msg_pad_id \t ")
			r.wire = true
			return r
		}, batch, "batch.succeeded"),

		// webhook-timestamp.
		rejected("timestamp missing", func() hreq { return with(signed("msg_t1"), del(verify.HeaderTimestamp)) }, 400, missing),
		rejected("timestamp empty", func() hreq { return with(signed("msg_t2"), set(verify.HeaderTimestamp, "")) }, 400, missing),
		hostileCase{name: "timestamp repeated", req: func() hreq { return with(signed("msg_t3"), add(verify.HeaderTimestamp, ts(now()))) }, status: 400, reason: malformed, unread: true},
		rejected("timestamp overlong", func() hreq { return withTS("msg_t4", strings.Repeat("1", 4<<10)) }, 400, malformed),
		rejected("timestamp non-ASCII", func() hreq { return withTS("msg_t5", "１８００００００００") }, 400, malformed),
		published("timestamp padded over the wire", func() hreq {
			r := signed("msg_pad_ts")
			r.header.Set(verify.HeaderTimestamp, "   "+r.header.Get(verify.HeaderTimestamp)+"\t")
			r.wire = true
			return r
		}, batch, "batch.succeeded"),
		rejected("timestamp non-numeric", func() hreq { return withTS("msg_t6", "soon") }, 400, malformed),
		rejected("timestamp negative", func() hreq { return withTS("msg_t7", "-"+ts(now())) }, 400, malformed),
		rejected("timestamp huge, 20 digits", func() hreq { return withTS("msg_t8", "99999999999999999999") }, 400, malformed),
		rejected("timestamp huge, 18 digits", func() hreq { return withTS("msg_t9", "999999999999999999") }, 401, "timestamp_too_new"),
		rejected("timestamp fractional", func() hreq { return withTS("msg_t10", ts(now())+".5") }, 400, malformed),
		rejected("timestamp hexadecimal", func() hreq { return withTS("msg_t11", "0x"+strconv.FormatInt(now().Unix(), 16)) }, 400, malformed),
		rejected("timestamp in milliseconds", func() hreq { return withTS("msg_t12", strconv.FormatInt(now().UnixMilli(), 10)) }, 401, "timestamp_too_new"),
		rejected("timestamp zero", func() hreq { return withTS("msg_t13", "0") }, 401, "timestamp_too_old"),
		published("timestamp at the past bound", func() hreq { return withTS("msg_t14", ts(now().Add(-5*time.Minute))) }, batch, "batch.succeeded"),
		published("timestamp at the future bound", func() hreq { return withTS("msg_t15", ts(now().Add(5*time.Minute))) }, batch, "batch.succeeded"),
		rejected("timestamp one second too old", func() hreq { return withTS("msg_t16", ts(now().Add(-5*time.Minute-time.Second))) }, 401, "timestamp_too_old"),
		rejected("timestamp one second too new", func() hreq { return withTS("msg_t17", ts(now().Add(5*time.Minute+time.Second))) }, 401, "timestamp_too_new"),

		// webhook-signature.
		hostileCase{name: "signature missing", req: func() hreq { return with(signed("msg_s1"), del(verify.HeaderSignature)) }, status: 400, reason: missing, unread: true},
		hostileCase{name: "signature empty", req: func() hreq { return with(signed("msg_s2"), set(verify.HeaderSignature, "")) }, status: 400, reason: missing, unread: true},
		hostileCase{name: "signature repeated", req: func() hreq { return with(signed("msg_s3"), add(verify.HeaderSignature, garbageEntry(0))) }, status: 400, reason: malformed, unread: true},
		rejected("signature overlong", func() hreq { return withSig("msg_s4", "v1,"+strings.Repeat("A", 17<<10)) }, 400, malformed),
		rejected("signature several KiB of entries", func() hreq {
			var e []string
			for i := range 100 {
				e = append(e, garbageEntry(i))
			}
			return withSig("msg_s5", strings.Join(e, " "))
		}, 401, noMatch),
		rejected("signature non-ASCII", func() hreq { return withSig("msg_s6", "sïgnätürë") }, 400, malformed),
		rejected("signature v1 with non-ASCII", func() hreq { return withSig("msg_s7", "v1,sïgnätürë") }, 401, noMatch),
		published("signature padded over the wire", func() hreq {
			r := signed("msg_pad_sig")
			r.header.Set(verify.HeaderSignature, "  "+r.header.Get(verify.HeaderSignature)+"  ")
			r.wire = true
			return r
		}, batch, "batch.succeeded"),
		rejected("signature v1, alone", func() hreq { return withSig("msg_s8", "v1,") }, 401, noMatch),
		rejected("signature bad base64", func() hreq { return withSig("msg_s9", "v1,"+strings.Repeat("!", 43)+"=") }, 401, noMatch),
		rejected("signature wrong version only", func() hreq {
			v := validSig("msg_s11")
			return withSig("msg_s11", "v1a,"+v[3:]+" v2,"+v[3:])
		}, 401, noMatch),
		rejected("signature neither scheme", func() hreq { return withSig("msg_s12", "sha256="+strings.Repeat("a", 64)) }, 400, malformed),
		rejected("signature hundreds of entries", func() hreq {
			var e []string
			for i := range 300 {
				e = append(e, fmt.Sprintf("v%d,x", i%9+2))
			}
			return withSig("msg_s13", strings.Join(e, " "))
		}, 401, noMatch),
		published("signature valid entry buried among garbage", func() hreq {
			e := []string{"v1a,zzz", "v2,", "v1,!!!", "v1,", garbageEntry(1), "x", "v1,AAAA"}
			for i := range 8 {
				e = append(e, garbageEntry(10+i))
			}
			e = append(e, validSig("msg_buried"), "v9,tail", garbageEntry(99))
			return withSig("msg_buried", strings.Join(e, " "))
		}, batch, "batch.succeeded"),
		rejected("signature valid entry after the sixteen examined", func() hreq {
			var e []string
			for i := range verify.MaxSignatureEntries {
				e = append(e, garbageEntry(i))
			}
			return withSig("msg_s14", strings.Join(append(e, validSig("msg_s14")), " "))
		}, 401, noMatch),
		rejected("signature for another id", func() hreq { return withSig("msg_s15", validSig("msg_s15_other")) }, 401, noMatch),
		rejected("signature by another secret", func() hreq {
			other, _ := verify.GenerateSecret()
			return withSig("msg_s16", verify.Sign(verify.MustParseSecret(other), "msg_s16", now(), body("msg_s16")))
		}, 401, noMatch),

		// JWT.
		published("jwt valid", func() hreq { return jwt("msg_j0", nil) }, batch, "batch.succeeded"),
		rejected("jwt alg none", func() hreq { return withToken("msg_j1", mint("none", kid, nil)) }, 401, badToken),
		rejected("jwt alg HS256 keyed with the public key", func() hreq { return withToken("msg_j2", mint("HS256", kid, pubPEM())) }, 401, badToken),
		rejected("jwt alg ES256", func() hreq { return withToken("msg_j3", mint("ES256", kid, ecKey)) }, 401, badToken),
		rejected("jwt RS256 by another key under the known kid", func() hreq { return withToken("msg_j4", impostor.MustMint(baseClaims())) }, 401, badToken),
		rejected("jwt without kid", func() hreq { return withToken("msg_j5", mint("RS256", nil, h.key.Private())) }, 401, badToken),
		// An unknown kid while the key set was fetched within the
		// interval: the key may be newer than the fetch, so "retry later".
		rejected("jwt unknown kid", func() hreq {
			return withToken("msg_j6", mint("RS256", map[string]any{"kid": "no-such-key"}, h.key.Private()))
		}, 503, "key_refresh_pending"),
		rejected("jwt expired", func() hreq { return jwt("msg_j7", map[string]any{"exp": now().Add(-time.Hour).Unix()}) }, 401, badToken),
		rejected("jwt without exp", func() hreq { return jwt("msg_j8", map[string]any{"exp": nil}) }, 401, badToken),
		rejected("jwt not yet valid", func() hreq { return jwt("msg_j9", map[string]any{"nbf": now().Add(time.Hour).Unix()}) }, 401, badToken),
		rejected("jwt issued in the future", func() hreq { return jwt("msg_j10", map[string]any{"iat": now().Add(time.Hour).Unix()}) }, 401, badToken),
		rejected("jwt wrong aud", func() hreq { return jwt("msg_j11", map[string]any{"aud": "https://elsewhere.example"}) }, 401, "audience_mismatch"),
		rejected("jwt wrong iss", func() hreq { return jwt("msg_j12", map[string]any{"iss": "https://accounts.google.com"}) }, 401, "issuer_mismatch"),
		rejected("jwt aud of another endpoint, Host spoofed to match", func() hreq {
			r := jwt("msg_j11h", map[string]any{"aud": "https://attacker.example/hook"})
			r.header.Set("X-Forwarded-Host", "attacker.example")
			return r
		}, 401, "audience_mismatch"),
		// Strict token syntax: two readings of one token are refused.
		rejected("jwt header alg twice", func() hreq {
			return withToken("msg_j20", rawToken(h.key, `{"alg":"none","kid":"`+h.key.KID()+`","alg":"RS256"}`, claimsJSON(baseClaims())))
		}, 401, badToken),
		rejected("jwt header kid twice", func() hreq {
			return withToken("msg_j21", rawToken(h.key, `{"alg":"RS256","kid":"other","kid":"`+h.key.KID()+`"}`, claimsJSON(baseClaims())))
		}, 401, badToken),
		rejected("jwt header ALG", func() hreq {
			return withToken("msg_j22", rawToken(h.key, `{"ALG":"RS256","kid":"`+h.key.KID()+`"}`, claimsJSON(baseClaims())))
		}, 401, badToken),
		rejected("jwt header KID", func() hreq {
			return withToken("msg_j23", rawToken(h.key, `{"alg":"RS256","KID":"`+h.key.KID()+`"}`, claimsJSON(baseClaims())))
		}, 401, badToken),
		rejected("jwt claims aud twice", func() hreq {
			c := claimsJSON(baseClaims())
			return withToken("msg_j24", rawToken(h.key, `{"alg":"RS256","kid":"`+h.key.KID()+`"}`, c[:len(c)-1]+`,"aud":"https://attacker.example/hook"}`))
		}, 401, badToken),
		published("jwt strict token, control", func() hreq {
			c := claimsJSON(baseClaims())
			return withToken("msg_j25", rawToken(h.key, `{"alg":"RS256","kid":"`+h.key.KID()+`","typ":"JWT"}`, c[:len(c)-1]+`,"jti":"msg_j25"}`))
		}, batch, "batch.succeeded"),
		rejected("jwt exp not a number", func() hreq { return jwt("msg_j13", map[string]any{"exp": "tomorrow"}) }, 401, badToken),
		rejected("jwt two segments", func() hreq {
			tok := jwt("msg_j14", nil).header.Get(verify.HeaderSignature)
			return withToken("msg_j14", tok[:strings.LastIndexByte(tok, '.')])
		}, 400, malformed),
		rejected("jwt four segments", func() hreq {
			return withToken("msg_j15", jwt("msg_j15", nil).header.Get(verify.HeaderSignature)+".AAAA")
		}, 400, malformed),
		rejected("jwt oversized", func() hreq { return jwt("msg_j16", map[string]any{"pad": strings.Repeat("p", 17<<10)}) }, 400, malformed),
		rejected("jwt signature segment tampered", func() hreq {
			tok := jwt("msg_j17", nil).header.Get(verify.HeaderSignature)
			i := strings.LastIndexByte(tok, '.') + 5
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			return withToken("msg_j17", tok[:i]+string(c)+tok[i+1:])
		}, 401, badToken),
		published("jwt id with dots", func() hreq { return jwt("msg.j18", nil) }, batch, "batch.succeeded"),
		rejected("jwt id with a control character", func() hreq { return jwt("msg\x7fj18", nil) }, 400, malformed),
		rejected("jwt timestamp out of tolerance", func() hreq {
			return with(jwt("msg_j19", nil), set(verify.HeaderTimestamp, ts(now().Add(-time.Hour))))
		}, 401, "timestamp_too_old"),

		// Authentic bodies that cannot be understood: quarantined, 200.
		quarantined("body not JSON", func() hreq { return signedBody("msg_b1", []byte("BODYMARK-b1 is not json {")) }, events.ReasonInvalidJSON),
		quarantined("body empty", func() hreq { return signedBody("msg_b2", nil) }, events.ReasonInvalidJSON),
		quarantined("body a JSON array", func() hreq { return signedBody("msg_b3", []byte(`["BODYMARK-b3",{"type":"batch.succeeded"}]`)) }, events.ReasonNotObject),
		quarantined("body null", func() hreq { return signedBody("msg_b4", []byte("null")) }, events.ReasonNotObject),
		quarantined("body nested thousands deep", func() hreq { return signedBody("msg_b5", []byte(deep)) }, events.ReasonTooDeep),
		quarantined("body invalid UTF-8", func() hreq {
			return signedBody("msg_b6", []byte("{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"BODYMARK-b6\xff\xfe\"}}"))
		}, events.ReasonInvalidUTF8),
		quarantined("body unsupported version", func() hreq {
			return signedBody("msg_b7", []byte(`{"type":"batch.succeeded","version":"v9","data":{"id":"BODYMARK-b7"}}`))
		}, events.ReasonUnsupportedVersion),
		quarantined("body numeric type", func() hreq { return signedBody("msg_b8", []byte(`{"type":7,"data":{"id":"BODYMARK-b8"}}`)) }, events.ReasonTypeNotString),
		quarantined("body JWT-signed not JSON", func() hreq {
			r := jwt("msg_b9", nil) // the token does not cover the body
			r.body = []byte("BODYMARK-b9 <xml/>")
			return r
		}, events.ReasonInvalidJSON),
		quarantined("body duplicate type keys: consumers disagree on which wins", func() hreq {
			return signedBody("msg_b10", []byte(`{"type":"batch.failed","version":"v1","data":{"id":"BODYMARK-b10"},"type":"batch.succeeded"}`))
		}, events.ReasonDuplicateKey),
		published("body of an unknown type goes to other", func() hreq {
			return signedBody("msg_b11", []byte(`{"type":"webhook.ping","version":"v1","data":{"id":"BODYMARK-b11"}}`))
		}, events.FamilyOther, "webhook.ping"),
	)

	// Replays, in order: the same delivery again, then after the tolerance.
	var replay hreq
	cases = append(cases,
		published("replay: first delivery", func() hreq { replay = signed("msg_replay"); return replay }, batch, "batch.succeeded"),
		hostileCase{name: "replay: same delivery again", req: func() hreq { return replay }, status: 200, result: resultDuplicate},
		hostileCase{name: "replay: after the tolerance", req: func() hreq { return replay }, status: 401, reason: "timestamp_too_old",
			before: func() { h.clock.Add(5*time.Minute + time.Second) }, after: func() { h.clock.Add(-5*time.Minute - time.Second) }},
	)

	if len(cases) < 60 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("case name %q twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			if tc.after != nil {
				defer tc.after()
			}
			r := tc.req()
			before := h.ps.Messages()
			res, read := h.serve(r)
			h.ps.Wait()
			after := h.ps.Messages()
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.status, tc.status, res.body)
			}
			var a answer
			if err := json.Unmarshal([]byte(res.body), &a); err != nil {
				t.Fatalf("answer %q is not JSON: %v", res.body, err)
			}
			if tc.status == 200 {
				if a.Result != tc.result || a.Reason != "" {
					t.Errorf("answer %+v, want result %q", a, tc.result)
				}
			} else if want := map[bool]string{false: resultRejected, true: resultUnavailable}[tc.status >= 500]; a.Reason != tc.reason || a.Result != want {
				t.Errorf("answer %+v, want %s with reason %q", a, want, tc.reason)
			}
			if tc.status == 405 && res.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", res.header.Get("Allow"))
			}
			if tc.status < 500 && res.header.Get("Retry-After") != "" {
				t.Errorf("Retry-After on a %d", tc.status)
			}
			if tc.status >= 500 && res.header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After on a %d", tc.status)
			}
			if tc.unread && read != 0 {
				t.Errorf("the handler read %d body bytes; it must refuse before reading", read)
			}
			if read > hostileLimit+1 {
				t.Errorf("the handler read %d body bytes, more than the limit %d + 1", read, hostileLimit)
			}
			newMsgs := after[len(before):]
			if tc.family == "" {
				if len(newMsgs) != 0 {
					t.Fatalf("%d messages published for a delivery answered %d %s", len(newMsgs), res.status, a.Result)
				}
			} else {
				if len(newMsgs) != 1 {
					t.Fatalf("%d messages published, want 1", len(newMsgs))
				}
				m := newMsgs[0]
				if want := "projects/" + testProject + "/topics/" + events.Topic("gemini-", tc.family); m.Topic != want {
					t.Errorf("published to %s, want %s", m.Topic, want)
				}
				if m.Attributes["webhook_id"] == "" || m.Attributes["webhook_id"] != a.ID {
					t.Errorf("message webhook_id %q, answer id %q", m.Attributes["webhook_id"], a.ID)
				}
				if tc.qreason != "" && m.Attributes["quarantine_reason"] != tc.qreason {
					t.Errorf("quarantine_reason %q, want %q", m.Attributes["quarantine_reason"], tc.qreason)
				}
				if tc.eventType != "" && m.Attributes["event_type"] != tc.eventType {
					t.Errorf("event_type %q, want %q", m.Attributes["event_type"], tc.eventType)
				}
				if tc.family == events.FamilyQuarantine && !bytes.Equal(m.Data, r.body) {
					t.Errorf("quarantined data is not the body verbatim")
				}
			}
			// The answer never echoes the request beyond the webhook id.
			for _, vs := range r.header {
				for _, v := range vs {
					if len(v) > 8 && v != a.ID && strings.Contains(res.body, v) {
						t.Errorf("answer %q echoes a header value", res.body)
					}
				}
			}
			if i := bytes.Index(r.body, []byte("BODYMARK-")); i >= 0 && strings.Contains(res.body, "BODYMARK-") {
				t.Errorf("answer %q echoes the body", res.body)
			}
		})
	}

	logs := h.logs.String()
	assertNoLeak(t, "logs", logs, append(leaks, rawSecret, strings.TrimPrefix(rawSecret, "whsec_"), "BODYMARK-")...)
	if n := strings.Count(logs, `"message":"delivery"`); n < len(cases) {
		t.Errorf("%d delivery log lines for %d deliveries", n, len(cases))
	}
	checkSingleLineFields(t, logs)
}

// checkSingleLineFields fails when a field of a JSON log line holds a line
// break: one field must read as one line in Cloud Logging and in a metric
// label.
func checkSingleLineFields(t *testing.T, logs string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		for k, v := range m {
			if s, ok := v.(string); ok && strings.ContainsAny(s, "\r\n") {
				t.Errorf("log field %s holds a line break: %q", k, s)
			}
		}
	}
}

// TestForgedFloodIsCheap sends 500 forged HMAC deliveries and 500 JWTs
// with random kids, concurrently, and checks that none is parsed or
// published and that together they cause at most one Secret Manager
// re-read and one JWKS fetch within the refresh interval.
func TestForgedFloodIsCheap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := h.sample("batch.succeeded", 1)
	if res := h.do(h.hmacRequest("msg_warm_hmac", body, h.secret)); res.status != 200 {
		t.Fatalf("warm-up HMAC: %d %s", res.status, res.body)
	}
	if res := h.do(h.jwtRequest("msg_warm_jwt", body, nil)); res.status != 200 {
		t.Fatalf("warm-up JWT: %d %s", res.status, res.body)
	}
	// Past both refresh intervals (keys 30s, JWKS 1m), inside the key TTL:
	// the first miss of each kind may re-read, no later one.
	h.clock.Add(61 * time.Second)
	lists, access, fetches := h.sm.Calls("ListSecretVersions"), h.sm.Calls("AccessSecretVersion"), h.jwks.Fetches()
	published := h.total()

	forged := verify.MustParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	attacker := verifytest.MustKey("attacker")
	const n = 500
	reqs := make([]request, 0, 2*n)
	var tokens []string
	for i := range n {
		reqs = append(reqs, h.hmacRequest(fmt.Sprintf("msg_forged_%d", i), body, forged))
		claims := map[string]any{"aud": testURL, "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Minute).Unix()}
		tok, err := verifytest.MintWith("RS256", map[string]any{"kid": fmt.Sprintf("kid-%d-%x", i, i*7919)}, claims, attacker.Private())
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
		hd := http.Header{}
		hd.Set(verify.HeaderID, fmt.Sprintf("msg_forged_jwt_%d", i))
		hd.Set(verify.HeaderTimestamp, strconv.FormatInt(h.clock.Now().Unix(), 10))
		hd.Set(verify.HeaderSignature, tok)
		reqs = append(reqs, request{body: body, header: hd})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	retryAfters := map[string]bool{}
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				res := h.do(reqs[i])
				var a answer
				_ = json.Unmarshal([]byte(res.body), &a)
				mu.Lock()
				statuses[fmt.Sprint(res.status, " ", a.Reason)]++
				if res.status == 503 {
					retryAfters[res.header.Get("Retry-After")] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// A forged kid is refused as unknown (401) when a fetch made for it
	// came back without it, and is "retry later" (503, Retry-After at most
	// the interval) when it arrives while no refetch is allowed: the key
	// might be one Google added since.
	if statuses["401 no_matching_signature"] != n || statuses["401 invalid_token"]+statuses["503 key_refresh_pending"] != n || len(statuses) > 3 {
		t.Errorf("answers %v, want %d no_matching_signature and %d invalid_token or key_refresh_pending", statuses, n, n)
	}
	if statuses["401 invalid_token"] < 1 {
		t.Errorf("answers %v: no JWT was checked against a fresh fetch", statuses)
	}
	for ra := range retryAfters {
		if s, err := strconv.Atoi(ra); err != nil || s < 1 || s > 60 {
			t.Errorf("Retry-After %q, want 1 to 60 seconds", ra)
		}
	}
	if got := h.total() - published; got != 0 {
		t.Errorf("%d messages published by forged deliveries", got)
	}
	if q, o := len(h.messages(events.FamilyQuarantine)), len(h.messages(events.FamilyOther)); q+o != 0 {
		t.Errorf("forged bodies reached the parser: %d quarantined, %d other", q, o)
	}
	dl, da, df := h.sm.Calls("ListSecretVersions")-lists, h.sm.Calls("AccessSecretVersion")-access, h.jwks.Fetches()-fetches
	t.Logf("1000 forged deliveries: %d version listings, %d version reads, %d JWKS fetches", dl, da, df)
	if dl > 1 || da > 1 {
		t.Errorf("%d listings and %d reads of Secret Manager, want at most 1 each within the interval", dl, da)
	}
	if df > 1 {
		t.Errorf("%d JWKS fetches, want at most 1 within the interval", df)
	}
	assertNoLeak(t, "logs", h.logs.String(), append(tokens[:20:20], verify.Sign(forged, "msg_forged_0", h.clock.Now(), body)[3:])...)
}

// rawToken signs the JOSE header and claims JSON exactly as given with k
// (RS256), so a test can send what a map cannot express: a member twice,
// a name in another case.
func rawToken(k *verifytest.Key, header, claims string) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Private(), crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// claimsJSON is claims as a JSON object.
func claimsJSON(claims map[string]any) string {
	b, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return string(b)
}
