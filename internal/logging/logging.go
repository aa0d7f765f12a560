// Package logging writes log/slog records as the JSON lines Cloud Logging
// understands: "severity", "message", "time", and the trace field that links
// a line to its request.
package logging

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// TraceKey is the field Cloud Logging reads to link a line to a trace.
const TraceKey = "logging.googleapis.com/trace"

// New returns a JSON logger for w in Cloud Logging's format at level. Its
// handler is a *Handler, whose Begin and Write append a frequent line by
// hand; level may change while the logger runs (a *slog.LevelVar).
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	out := &lockedWriter{w: w}
	return slog.New(&Handler{
		json: slog.NewJSONHandler(out, &slog.HandlerOptions{
			Level:       level,
			ReplaceAttr: replaceAttr,
		}),
		out: out,
	})
}

// ParseLevel reads a level name: debug, info, warn or error, in any case.
func ParseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		a.Key = "severity"
		a.Value = slog.StringValue(severity(a.Value.Any().(slog.Level)))
	}
	return a
}

// severity maps slog levels to Cloud Logging's LogSeverity names.
func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// Trace returns the value for TraceKey for a request in project, read from
// the X-Cloud-Trace-Context or W3C traceparent header, or "" when the
// request carries neither or the project is unknown.
func Trace(h http.Header, project string) string {
	if project == "" {
		return ""
	}
	var id string
	if v := h.Get("X-Cloud-Trace-Context"); v != "" {
		id, _, _ = strings.Cut(v, "/")
	} else if v := h.Get("Traceparent"); v != "" {
		// version-traceid-parentid-flags
		parts := strings.Split(v, "-")
		if len(parts) == 4 {
			id = parts[1]
		}
	}
	if !validTraceID(id) {
		return ""
	}
	return "projects/" + project + "/traces/" + id
}

func validTraceID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
