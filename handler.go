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
	"github.com/geminihook/geminihook/internal/dedupe"
	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/verify"
)

// Results, the "result" of the answer body and of the delivery log line.
const (
	resultPublished   = "published"
	resultDuplicate   = "duplicate"
	resultQuarantined = "quarantined"
	resultRejected    = "rejected"    // the delivery is not acceptable: 4xx
	resultUnavailable = "unavailable" // we could not take it now: 5xx, Gemini retries
)

// retryAfter is the Retry-After value, in seconds, sent with every 503.
const retryAfter = "10"

// Errors of the handler itself; verify's sentinels cover the rest.
var (
	errMethod      = errors.New("method not allowed")
	errTooLarge    = errors.New("body too large")
	errReadBody    = errors.New("reading the body failed")
	errUnavailable = errors.New("function not ready")
	errPublish     = errors.New("publish failed")
)

// statusFor is the one place that maps an error to an HTTP status and the
// stable reason code used in answers, logs and the rejection metric.
func statusFor(err error) (status int, reason string) {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errReadBody):
		return http.StatusBadRequest, "body_unreadable"
	case errors.Is(err, verify.ErrMissingHeader):
		return http.StatusBadRequest, "missing_header"
	case errors.Is(err, verify.ErrMalformedHeader):
		return http.StatusBadRequest, "malformed_header"
	case errors.Is(err, verify.ErrTimestampTooOld):
		return http.StatusUnauthorized, "timestamp_too_old"
	case errors.Is(err, verify.ErrTimestampTooNew):
		return http.StatusUnauthorized, "timestamp_too_new"
	case errors.Is(err, verify.ErrNoMatchingSignature):
		return http.StatusUnauthorized, "no_matching_signature"
	case errors.Is(err, verify.ErrInvalidToken):
		return http.StatusUnauthorized, "invalid_token"
	case errors.Is(err, verify.ErrSchemeDisabled):
		return http.StatusUnauthorized, "scheme_disabled"
	case errors.Is(err, verify.ErrKeySetUnavailable):
		return http.StatusServiceUnavailable, "key_set_unavailable"
	case errors.Is(err, errPublish):
		return http.StatusServiceUnavailable, "publish_failed"
	case errors.Is(err, errShuttingDown):
		return http.StatusServiceUnavailable, "shutting_down"
	case errors.Is(err, errUnavailable):
		return http.StatusServiceUnavailable, "not_ready"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "deadline"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// delivery collects what one request's log line and answer report.
type delivery struct {
	start     time.Time
	webhookID string
	scheme    string
	eventType string
	family    events.Family
	messageID string
	bodyBytes int
	result    string
	err       error
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
		f.opts.logger.Error("function not ready", "error", err.Error())
		f.finish(w, r, d, errors.Join(errUnavailable, err))
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
	if r.Header.Get(verify.HeaderSignature) == "" {
		return verify.ErrMissingHeader
	}
	if repeatedWebhookHeader(r.Header) {
		return errRepeatedHeader
	}
	if scheme, err := verify.Classify(r.Header.Get(verify.HeaderSignature)); err == nil {
		d.scheme = string(scheme)
	}
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	d.bodyBytes = len(body)

	ctx := r.Context()
	dv, err := s.verifier.Verify(ctx, verify.Request{Header: r.Header, Body: body, URL: requestURL(r)})
	if err != nil {
		return err
	}
	d.webhookID, d.scheme = dv.ID, string(dv.Scheme)

	// From here the delivery is authentic: finish it even if the sender
	// hangs up, so a publish that lands is remembered and its retry is
	// answered as a duplicate.
	ctx = context.WithoutCancel(ctx)
	state, ticket, err := s.seen.Begin(ctx, dv.ID)
	if err != nil {
		return err
	}
	if state == dedupe.Duplicate {
		d.result = resultDuplicate
		return nil
	}
	published := false
	defer func() { ticket.Done(published) }()

	meta := events.Meta{ID: dv.ID, ReceivedAt: d.start, Scheme: string(dv.Scheme), Claims: dv.Claims}
	family, msg, perr := message(body, meta)
	if perr != nil {
		d.err = perr // logged as the quarantine reason
	}
	d.family = family
	if family != events.FamilyQuarantine {
		d.eventType = msg.Attributes["event_type"]
	}
	d.messageID, err = s.publisher.Publish(ctx, family, msg)
	if err != nil {
		return errors.Join(errPublish, err)
	}
	published = true
	d.result = resultPublished
	if family == events.FamilyQuarantine {
		d.result = resultQuarantined
	}
	return nil
}

// message normalizes body into the message for its family topic, or into a
// quarantine message when the body cannot be understood; the error says why.
func message(body []byte, meta events.Meta) (events.Family, events.Message, error) {
	ev, err := events.Parse(body, meta)
	if err == nil {
		var msg events.Message
		if msg, err = events.NewMessage(ev); err == nil {
			return ev.Family, msg, nil
		}
	}
	return events.FamilyQuarantine, events.NewQuarantineMessage(body, meta, err), err
}

// errRepeatedHeader answers a delivery carrying a webhook header twice.
var errRepeatedHeader = fmt.Errorf("%w: a webhook header is repeated", verify.ErrMalformedHeader)

// repeatedWebhookHeader reports whether webhook-id, webhook-timestamp or
// webhook-signature occurs more than once. Each is a single value (several
// signatures share one webhook-signature, space-separated); verify reads
// the first, so a second one would be silently ignored: refuse the
// ambiguity instead.
func repeatedWebhookHeader(h http.Header) bool {
	return len(h["Webhook-Id"]) > 1 || len(h["Webhook-Timestamp"]) > 1 || len(h["Webhook-Signature"]) > 1
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
			return nil, errors.Join(errReadBody, err)
		}
		return buf, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errors.Join(errReadBody, err)
	}
	if int64(len(buf)) > limit {
		return nil, errTooLarge
	}
	return buf, nil
}

// requestURL is the request's own external URL, the default JWT audience:
// the scheme Cloud Run's front end saw (X-Forwarded-Proto), the Host header
// it routed on, and the path. X-Forwarded-Host is not trusted: any client
// can send it. The root path is written without its slash, the form Cloud
// Run prints for a service URL.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		p, _, _ = strings.Cut(p, ",")
		if p = strings.ToLower(strings.TrimSpace(p)); p == "https" || p == "http" {
			scheme = p
		}
	}
	path := r.URL.Path
	if path == "/" {
		path = ""
	}
	return scheme + "://" + r.Host + path
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
	a := answer{Result: d.result}
	if err != nil {
		status, reason = statusFor(err)
		a = answer{Result: resultRejected, Reason: reason}
		if status >= 500 {
			a.Result = resultUnavailable
			w.Header().Set("Retry-After", retryAfter)
		}
		d.result = a.Result
	} else {
		a.ID, a.Family = d.webhookID, string(d.family)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	var buf [256]byte
	body := a.appendJSON(buf[:0])
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	// Put the whole answer on the wire now. Once this delivery stops
	// counting as in flight, Shutdown may return and the process exit
	// before net/http would flush it after ServeHTTP returns.
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}

	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400, d.result == resultQuarantined:
		level = slog.LevelWarn
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("result", d.result),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(f.opts.now().Sub(d.start).Microseconds())/1000),
	)
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	if d.webhookID != "" {
		attrs = append(attrs, slog.String("webhook_id", d.webhookID))
	}
	if d.scheme != "" {
		attrs = append(attrs, slog.String("scheme", d.scheme))
	}
	if d.eventType != "" {
		attrs = append(attrs, slog.String("event_type", d.eventType))
	}
	if d.family != "" {
		attrs = append(attrs, slog.String("family", string(d.family)))
	}
	if d.messageID != "" {
		attrs = append(attrs, slog.String("message_id", d.messageID))
	}
	if d.bodyBytes > 0 {
		attrs = append(attrs, slog.Int("body_bytes", d.bodyBytes))
	}
	if d.result == resultQuarantined {
		// The stable code the quarantine metric is labelled by.
		attrs = append(attrs, slog.String("reason", quarantineReason(d.err)))
	}
	if err != nil && status >= 500 {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized {
		// verify's errors name the check that failed, never key material.
		attrs = append(attrs, slog.String("detail", err.Error()))
	}
	if status == http.StatusMethodNotAllowed {
		attrs = append(attrs, slog.String("method", r.Method))
	}
	if t := logging.Trace(r.Header, f.project.Load()); t != "" {
		attrs = append(attrs, slog.String(logging.TraceKey, t))
	}
	f.opts.logger.LogAttrs(r.Context(), level, "delivery", attrs...)
}

// quarantineReason is the stable code of why a body was quarantined, one
// of the events.Reason constants.
func quarantineReason(err error) string {
	var me *events.MalformedError
	if errors.As(err, &me) {
		return me.Reason
	}
	return "unparseable"
}
