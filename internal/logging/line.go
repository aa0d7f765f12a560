package logging

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/geminihook/geminihook/internal/jsonstr"
)

// Handler is the slog.Handler of New: slog's JSON handler in Cloud
// Logging's format, plus Begin and Write for a line on the hot path that
// is appended by hand, byte for byte as the JSON handler would write it,
// into a pooled buffer. Both write whole lines to the same writer under
// the same lock.
type Handler struct {
	json slog.Handler
	out  *lockedWriter
}

// lockedWriter serializes whole lines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.json.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error { return h.json.Handle(ctx, r) }

// WithAttrs implements slog.Handler; the lines of the handler it returns
// are all written by slog.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler { return h.json.WithAttrs(as) }

// WithGroup implements slog.Handler; the lines of the handler it returns
// are all written by slog.
func (h *Handler) WithGroup(name string) slog.Handler { return h.json.WithGroup(name) }

// Fields receives a line's fields in order. *Line writes them as JSON;
// *Attrs collects them for slog.
type Fields interface {
	String(key, v string)
	Int(key string, v int64)
	Float(key string, v float64)
	Bool(key string, v bool)
}

// Line is one log line being appended: the fields of a JSON object after
// "time", "severity" and "message". Get one from Begin and hand it to
// Write, once.
type Line struct {
	buf []byte
}

var linePool = sync.Pool{New: func() any { return &Line{buf: make([]byte, 0, 1024)} }}

// maxPooledLine is the largest buffer returned to the pool, so that one
// huge line does not stay reserved.
const maxPooledLine = 16 << 10

// Begin starts a line at t with level and msg: the same "time", "severity"
// and "message" fields, in the same order, as the JSON handler writes.
func (h *Handler) Begin(t time.Time, level slog.Level, msg string) *Line {
	l := linePool.Get().(*Line)
	b := append(l.buf[:0], `{"time":"`...)
	b = t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","severity":"`...)
	b = append(b, severity(level)...)
	b = append(b, `","message":`...)
	l.buf = jsonstr.Append(b, msg)
	return l
}

// Write ends l, writes it as one line, and recycles it.
func (h *Handler) Write(l *Line) {
	l.buf = append(l.buf, "}\n"...)
	_, _ = h.out.Write(l.buf)
	if cap(l.buf) <= maxPooledLine {
		linePool.Put(l)
	}
}

func (l *Line) key(k string) {
	l.buf = append(l.buf, ',')
	l.buf = jsonstr.Append(l.buf, k)
	l.buf = append(l.buf, ':')
}

// String appends a string field.
func (l *Line) String(key, v string) {
	l.key(key)
	l.buf = jsonstr.Append(l.buf, v)
}

// Int appends an integer field.
func (l *Line) Int(key string, v int64) {
	l.key(key)
	l.buf = strconv.AppendInt(l.buf, v, 10)
}

// Float appends a number field as encoding/json writes a float64 (which
// is what slog's JSON handler calls). NaN and infinities, which JSON
// cannot hold, are written as slog writes the error it gets for them.
func (l *Line) Float(key string, v float64) {
	l.key(key)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		l.buf = append(l.buf, `"!ERROR:json: unsupported value: `...)
		l.buf = strconv.AppendFloat(l.buf, v, 'g', -1, 64)
		l.buf = append(l.buf, '"')
		return
	}
	l.buf = appendFloat(l.buf, v)
}

// Bool appends a boolean field.
func (l *Line) Bool(key string, v bool) {
	l.key(key)
	l.buf = strconv.AppendBool(l.buf, v)
}

// Attrs collects fields as slog attributes.
type Attrs []slog.Attr

// String implements Fields.
func (a *Attrs) String(key, v string) { *a = append(*a, slog.String(key, v)) }

// Int implements Fields.
func (a *Attrs) Int(key string, v int64) { *a = append(*a, slog.Int64(key, v)) }

// Float implements Fields.
func (a *Attrs) Float(key string, v float64) { *a = append(*a, slog.Float64(key, v)) }

// Bool implements Fields.
func (a *Attrs) Bool(key string, v bool) { *a = append(*a, slog.Bool(key, v)) }

// appendFloat is encoding/json's float64 encoding (floatEncoder).
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
