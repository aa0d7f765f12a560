package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
)

func TestCloudLoggingFields(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelDebug)
	for _, tc := range []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug, "DEBUG"}, {slog.LevelInfo, "INFO"}, {slog.LevelWarn, "WARNING"}, {slog.LevelError, "ERROR"},
	} {
		buf.Reset()
		l.Log(t.Context(), tc.level, "hello", "k", "v")
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
		}
		if m["severity"] != tc.want || m["message"] != "hello" || m["k"] != "v" || m["time"] == nil {
			t.Errorf("level %v: got %v", tc.level, m)
		}
		if _, ok := m["msg"]; ok {
			t.Errorf("slog's own msg key leaked: %v", m)
		}
	}
}

func TestTrace(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for name, tc := range map[string]struct {
		header  http.Header
		project string
		want    string
	}{
		"cloud trace":       {http.Header{"X-Cloud-Trace-Context": {id + "/1;o=1"}}, "p", "projects/p/traces/" + id},
		"traceparent":       {http.Header{"Traceparent": {"00-" + id + "-00f067aa0ba902b7-01"}}, "p", "projects/p/traces/" + id},
		"no project":        {http.Header{"X-Cloud-Trace-Context": {id}}, "", ""},
		"none":              {http.Header{}, "p", ""},
		"bad id":            {http.Header{"X-Cloud-Trace-Context": {"zz/1"}}, "p", ""},
		"short traceparent": {http.Header{"Traceparent": {"00-abc"}}, "p", ""},
	} {
		if got := Trace(tc.header, tc.project); got != tc.want {
			t.Errorf("%s: Trace = %q, want %q", name, got, tc.want)
		}
	}
}
