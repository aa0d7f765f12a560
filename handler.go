package geminihook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
	idem "github.com/geminihook/geminihook/internal/idempotency"
	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/internal/publish"
	"github.com/geminihook/geminihook/verify"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Results, the "result" of the answer body and of the delivery log line.
const (
	resultPublished   = "published"
	resultDuplicate   = "duplicate"
	resultQuarantined = "quarantined"
	resultRejected    = "rejected"    // the delivery is not acceptable: 4xx
	resultUnavailable = "unavailable" // we could not take it now: 5xx, Gemini retries
)

// retryAfter is the Retry-After value, in seconds, sent with a 503 whose
// error carries no retryAfterError.
const retryAfter = "10"

// retryAfterError is an error answered 503 that knows when a retry may
// succeed (a claim's remaining lease).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retryAfterFor is the Retry-After of a 503 for err: the whole seconds
// (at least one) of a retryAfterError in its chain (a claim's remaining
// lease), or the time verify says a retry can succeed (an unknown kid while
// the key set may not be refetched yet), else retryAfter.
func retryAfterFor(err error) string {
	d, ok := verify.RetryAfter(err)
	if e, isLease := errors.AsType[*retryAfterError](err); !ok && isLease {
		d, ok = e.after, true
	}
	if !ok {
		return retryAfter
	}
	return strconv.FormatInt(int64(max((d+time.Second-1)/time.Second, 1)), 10)
}

// Errors of the handler itself; verify's sentinels cover the rest.
var (
	errMethod      = errors.New("method not allowed")
	errTooLarge    = errors.New("body too large")
	errReadBody    = errors.New("reading the body failed")
	errUnavailable = errors.New("function not ready")
	errPublish     = errors.New("publish failed")
	errBusy        = errors.New("delivery in progress elsewhere")
)

// handlerStatus maps the handler's own errors to a status and the stable
// reason code used in answers, logs and the rejection metric.
var handlerStatus = []struct {
	err    error
	status int
	reason string
}{
	{errMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "body_too_large"},
	{errReadBody, http.StatusBadRequest, "body_unreadable"},
	{errPublish, http.StatusServiceUnavailable, "publish_failed"},
	{errBusy, http.StatusServiceUnavailable, "busy"},
	{errConfirmUnavailable, http.StatusServiceUnavailable, "gemini_unavailable"},
	{idem.ErrUnavailable, http.StatusServiceUnavailable, "store_unavailable"},
	{errShuttingDown, http.StatusServiceUnavailable, "shutting_down"},
	{errUnavailable, http.StatusServiceUnavailable, "not_ready"},
}

// statusFor is the one place that maps an error to an HTTP status and its
// reason code: the handler's own errors from handlerStatus, verify's
// through verify.HTTPStatus and verify.Reason (their one table), and an
// ended context as a 503 so the sender retries.
func statusFor(err error) (status int, reason string) {
	for _, s := range handlerStatus {
		if errors.Is(err, s.err) {
			return s.status, s.reason
		}
	}
	if r := verify.Reason(err); r != "internal" {
		return verify.HTTPStatus(err), r
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, "deadline"
	}
	return http.StatusInternalServerError, "internal"
}

// publisher puts a message on its family's topic. It returns Pub/Sub's
// message id once the server has the message, and an error otherwise.
type publisher interface {
	Publish(ctx context.Context, family events.Family, msg events.Message) (messageID string, err error)
}

// claimState is what an idempotency store found for a delivery's key.
type claimState int

const (
	// claimNew: nobody published the key; the caller holds the claim and
	// must end it with Published or Release.
	claimNew claimState = iota
	// claimDuplicate: the key was published; answer 200, publish nothing.
	claimDuplicate
)

// idempotency remembers which deliveries were published, so one sent twice
// is published once.
type idempotency interface {
	// Claim claims key. With claimNew the claim is non-nil and must be
	// ended exactly once; otherwise it is nil. When another attempt holds
	// the key the error wraps errBusy (and may be a retryAfterError);
	// when the store cannot answer it wraps idem.ErrUnavailable.
	Claim(ctx context.Context, key string) (claimState, claim, error)
}

// claim is the hold of one attempt on a new key.
type claim interface {
	// Published records that the delivery is on Pub/Sub as messageID: a
	// later Claim of the key finds claimDuplicate.
	Published(ctx context.Context, messageID string) error
	// Release gives the key up unpublished, so a retry is handled afresh.
	Release(ctx context.Context) error
	// Abandon ends the attempt whose publish may still land: copies are
	// answered busy until the claim's lease runs out, unless Published
	// (or Release) follows. It makes no store call.
	Abandon()
}

// delivery collects what one request's log line and answer report.
type delivery struct {
	start          time.Time
	webhookID      string
	idempotencyKey string // what dedupe keyed on (verify.Delivery.IdempotencyKey)
	scheme         string
	eventType      string
	family         events.Family
	messageID      string
	bodyBytes      int
	result         string
	quarantine     string // the quarantine reason, when quarantined
	confirmed      bool   // the Gemini API confirmed the event
	claimFailed    error  // recording a published delivery failed; it is on Pub/Sub all the same
}

// ServeHTTP handles one delivery.
func (f *function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := &delivery{start: f.opts.now()}
	if !f.enter() {
		f.finish(w, r, d, errShuttingDown)
		return
	}
	defer f.leave()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		f.finish(w, r, d, errMethod)
		return
	}
	s, err := f.server(r.Context())
	if err != nil {
		f.opts.logger.Error("function not ready", "error", logText(err))
		f.finish(w, r, d, fmt.Errorf("%w: %w", errUnavailable, err))
		return
	}
	f.finish(w, r, d, s.handle(r, d))
}

// handle runs the pipeline for one request and returns nil once the
// delivery is published, recognised as a duplicate, or quarantined.
func (s *server) handle(r *http.Request, d *delivery) error {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return errTooLarge
	}
	// Refuse what cannot be verified before reading the body.
	scheme, err := verify.CheckHeaders(r.Header)
	if err != nil {
		return err
	}
	d.scheme = string(scheme)
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	d.bodyBytes = len(body)

	ctx := r.Context()
	dv, err := s.verifier.Verify(ctx, verify.Request{Header: r.Header, Body: body})
	if err != nil {
		return err
	}
	// Dedupe on what the signature covers, in a namespace per scheme: for
	// a JWT delivery the webhook-id is information only.
	d.webhookID, d.scheme, d.idempotencyKey = dv.ID, string(dv.Scheme), dv.IdempotencyKey()

	// From here the delivery is authentic: finish it even if the sender
	// hangs up, so a publish that lands is remembered and its retry is
	// answered as a duplicate.
	ctx = context.WithoutCancel(ctx)
	state, c, err := s.seen.Claim(ctx, d.idempotencyKey)
	switch {
	case err != nil:
		return fmt.Errorf("claim delivery: %w", err)
	case state == claimDuplicate:
		d.result = resultDuplicate
		return nil
	}
	published := false
	defer func() {
		if !published {
			// Also on a panic, so that a retry is not left waiting on the
			// claim. A failed release only means a retry waits for the
			// claim to lapse.
			_ = c.Release(ctx)
		}
	}()
	if err := s.publish(ctx, body, events.Meta{ID: dv.ID, IdempotencyKey: d.idempotencyKey, ReceivedAt: d.start, Scheme: d.scheme, Claims: dv.Claims}, d); err != nil {
		if p, ok := errors.AsType[*publish.Pending](err); ok {
			// Unanswered, not refused: it may still land. Keep the claim
			// (not released on return) and let the watch record what the
			// client answers later (#13.3).
			published = true
			c.Abandon()
			s.watchLate(c, p, d.webhookID)
		}
		return err
	}
	published = true
	d.claimFailed = c.Published(ctx, d.messageID)
	return nil
}

// publish normalizes body and publishes the message to its family topic.
func (s *server) publish(ctx context.Context, body []byte, meta events.Meta, d *delivery) error {
	n, err := s.confirm.check(ctx, events.Normalize(body, meta), body, meta, d.start)
	d.confirmed = n.Event.Confirmed
	// The event_type attribute, not Event.Type: the attribute is the type
	// as subscription filters see it, bounded and valid UTF-8.
	d.family, d.eventType, d.quarantine = n.Family, n.Message.Attributes[events.AttrEventType], n.Reason
	if err != nil {
		return err
	}
	id, err := s.publisher.Publish(ctx, n.Family, n.Message)
	if errors.Is(err, publish.ErrTooLarge) && !n.Quarantined() {
		// Retrying cannot make it fit: quarantine the body, which fits
		// for any body within events.MaxBodyBytes (the configured limit's
		// cap), instead of answering 503 for 24 hours.
		q := events.NewQuarantineMessage(body, meta, &events.MalformedError{Reason: events.ReasonMessageTooLarge})
		n = events.Normalized{Family: events.FamilyQuarantine, Message: q, Reason: events.ReasonMessageTooLarge}
		d.family, d.quarantine = n.Family, n.Reason
		id, err = s.publisher.Publish(ctx, n.Family, n.Message)
	}
	if err != nil {
		if status.Code(err) == codes.NotFound {
			// A topic that does not exist is configuration (a wrong
			// GEMINI_TOPIC_PREFIX or project), not an outage: no retry
			// fixes it, so it is not_ready, which alerts at once, rather
			// than publish_failed, which alerts after 30 minutes of
			// Gemini's 24 h of retries. A refused grant stays
			// publish_failed, as for the store: IAM changes propagate.
			return fmt.Errorf("%w: publish: %w", errUnavailable, err)
		}
		return fmt.Errorf("%w: %w", errPublish, err)
	}
	d.messageID, d.result = id, resultPublished
	if n.Quarantined() {
		d.result = resultQuarantined
	}
	return nil
}

// exactReadMax is the largest announced Content-Length read into a buffer
// allocated up front. Gemini's bodies are well under a kilobyte; a larger
// announcement grows its buffer as bytes actually arrive, so an
// unauthenticated client cannot make the function reserve the whole limit
// by announcing it and sending nothing.
const exactReadMax = 64 << 10

// readBody reads at most limit bytes; a longer body is errTooLarge. A small
// body of announced length is read into one buffer of exactly that size
// (the server ends the body at Content-Length); others grow as they come.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit && n <= exactReadMax {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, fmt.Errorf("%w: %w", errReadBody, err)
		}
		return buf, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errReadBody, err)
	}
	if int64(len(buf)) > limit {
		return nil, errTooLarge
	}
	return buf, nil
}

// answer is the small JSON body of every response.
type answer struct {
	Result string `json:"result"`
	ID     string `json:"id,omitempty"`
	Family string `json:"family,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// appendJSON appends the answer as encoding/json's Encoder writes it: the
// same fields, escaping and trailing newline, without reflection.
func (a answer) appendJSON(b []byte) []byte {
	b = append(b, `{"result":`...)
	b = appendJSONString(b, a.Result)
	if a.ID != "" {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, a.ID)
	}
	if a.Family != "" {
		b = append(b, `,"family":`...)
		b = appendJSONString(b, a.Family)
	}
	if a.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, a.Reason)
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string. Printable ASCII other than
// the characters encoding/json escapes is copied; anything else is left
// to encoding/json, so the output is byte for byte what it writes.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// finish writes the answer for err (nil: success) and the delivery's log line.
func (f *function) finish(w http.ResponseWriter, r *http.Request, d *delivery, err error) {
	status, reason := http.StatusOK, ""
	a := answer{Result: d.result, ID: d.webhookID, Family: string(d.family)}
	if err != nil {
		status, reason = statusFor(err)
		a = answer{Result: resultRejected, Reason: reason}
		if status >= 500 {
			a.Result = resultUnavailable
			w.Header()["Retry-After"] = []string{retryAfterFor(err)}
		}
		d.result = a.Result
	}
	writeAnswer(w, status, a)
	level := levelFor(status, d)
	ctx := r.Context()
	if !f.opts.logger.Enabled(ctx, level) {
		return
	}
	logDelivery(ctx, f.opts.logger, time.Now(), level, deliveryLog{d: d, status: status, reason: reason, err: err, method: r.Method,
		latency: f.opts.now().Sub(d.start), trace: logging.Trace(r.Header, f.project.Load())})
}

// logDelivery writes a delivery's line, stamped at. With the logger of
// logging.New the line is appended by hand, byte for byte what slog
// writes, without slog's attribute slice, its reflection on the float and
// its buffer (PERFORMANCE.md); other loggers get it through slog.
func logDelivery(ctx context.Context, logger *slog.Logger, at time.Time, level slog.Level, l deliveryLog) {
	if h, ok := logger.Handler().(*logging.Handler); ok {
		line := h.Begin(at, level, "delivery")
		l.fields(line)
		h.Write(line)
		return
	}
	r := slog.NewRecord(at, level, "delivery", 0)
	r.AddAttrs(slog.Any("", l))
	_ = logger.Handler().Handle(ctx, r)
}

// The answer's constant headers, shared by every answer: net/http only
// reads them. Assigning them saves Header().Set's canonicalization and
// one slice per header per answer.
var (
	headerJSON    = []string{"application/json"}
	headerNoStore = []string{"no-store"}
	headerNoSniff = []string{"nosniff"}
)

// writeAnswer writes a as the response with status, and puts it on the
// wire now: once this delivery stops counting as in flight, Shutdown may
// return and the process exit before net/http would flush it after
// ServeHTTP returns.
func writeAnswer(w http.ResponseWriter, status int, a answer) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
	h["X-Content-Type-Options"] = headerNoSniff
	var buf [256]byte
	body := a.appendJSON(buf[:0])
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

// levelFor is the severity of a delivery's log line. A published delivery
// whose claim could not be recorded is a warning: a retry may publish it
// again.
func levelFor(status int, d *delivery) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status >= 400, d.result == resultQuarantined, d.claimFailed != nil:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// deliveryLog is the log line of one delivery. As a slog.LogValuer under an
// empty key its fields are inlined at the line's top level, where the
// log-based metrics extract them.
type deliveryLog struct {
	d       *delivery
	status  int
	reason  string // the rejection reason; "" when answered 200
	err     error
	method  string
	latency time.Duration
	trace   string
}

// LogValue implements slog.LogValuer.
func (l deliveryLog) LogValue() slog.Value {
	attrs := make(logging.Attrs, 0, 14)
	l.fields(&attrs)
	return slog.GroupValue(attrs...)
}

// fields writes the line's fields, in order: the one list of them, which
// the hand-written line and slog both use.
func (l deliveryLog) fields(f logging.Fields) {
	d := l.d
	add := func(key, v string) {
		if v != "" {
			f.String(key, v)
		}
	}
	add("result", d.result)
	f.Int("status", int64(l.status))
	f.Float("latency_ms", float64(l.latency.Microseconds())/1000)
	// reason: why it was refused, or the quarantine code the quarantine
	// metric is labelled by (the message's quarantine_reason attribute).
	add("reason", l.reason+d.quarantine)
	add("webhook_id", d.webhookID)
	add("idempotency_key", d.idempotencyKey)
	add("scheme", d.scheme)
	add("event_type", d.eventType)
	add("family", string(d.family))
	add("message_id", d.messageID)
	if d.confirmed {
		f.Bool("confirmed", true)
	}
	if d.bodyBytes > 0 {
		f.Int("body_bytes", int64(d.bodyBytes))
	}
	switch {
	case l.err != nil && l.status >= 500:
		add("error", logText(l.err))
	case l.status == http.StatusUnauthorized,
		errors.Is(l.err, verify.ErrMissingHeader), errors.Is(l.err, verify.ErrMalformedHeader):
		// verify's errors name the check that failed (for a 400, which
		// header and why), never key material or a header's value.
		add("detail", logText(l.err))
	case l.status == http.StatusMethodNotAllowed:
		add("method", l.method)
	}
	if d.claimFailed != nil {
		add("claim_error", logText(d.claimFailed))
	}
	add(logging.TraceKey, l.trace)
}

// logText is err's message on one line, so one log field never spans
// several: a client library's message may hold line breaks.
func logText(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
