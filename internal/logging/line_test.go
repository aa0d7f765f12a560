package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"testing"
	"time"
)

// escapeCases are strings that exercise every branch of appendString.
var escapeCases = []string{
	"", "plain", `quote " and backslash \`, "html <b>&amp;</b>", "nl\ncr\rtab\t",
	"ctl \x00\x01\x1f\x7f", "bad utf8 \xff\xfe end", "truncated \xe2\x82", "sep \u2028 and \u2029",
	"unicode é 日本 🙂", "logging.googleapis.com/trace", "\\u0000", "\x1b[31mred",
}

// TestLineMatchesSlog checks that a hand-appended line is byte for byte
// the line slog's JSON handler writes for the same record.
func TestLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 12, 1, 4, 5, 6, 789012345, time.FixedZone("x", 3600))
	floats := []float64{0, 1.5, 0.001, 123456.789, 1e-7, -2.5e-9, 1e21, 3e22, math.MaxFloat64, math.NaN(), math.Inf(1)}
	type field struct {
		key string
		v   any
	}
	var cases [][]field
	for _, s := range escapeCases {
		cases = append(cases, []field{{"result", s}, {s, "value"}})
	}
	for _, f := range floats {
		cases = append(cases, []field{{"latency_ms", f}})
	}
	cases = append(cases, []field{{"status", int64(200)}, {"n", int64(-7)}, {"confirmed", true}, {"no", false}})
	for i, fields := range cases {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			var want, got bytes.Buffer
			// What slog writes for the record.
			ref := slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: replaceAttr})
			r := slog.NewRecord(at, level, "delivery "+escapeCases[i%len(escapeCases)], 0)
			h := New(&got, slog.LevelDebug).Handler().(*Handler)
			l := h.Begin(at, level, "delivery "+escapeCases[i%len(escapeCases)])
			for _, f := range fields {
				switch v := f.v.(type) {
				case string:
					r.AddAttrs(slog.String(f.key, v))
					l.String(f.key, v)
				case int64:
					r.AddAttrs(slog.Int64(f.key, v))
					l.Int(f.key, v)
				case float64:
					r.AddAttrs(slog.Float64(f.key, v))
					l.Float(f.key, v)
				case bool:
					r.AddAttrs(slog.Bool(f.key, v))
					l.Bool(f.key, v)
				}
			}
			if err := ref.Handle(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			h.Write(l)
			if got.String() != want.String() {
				t.Errorf("case %d level %v:\n got %q\nwant %q", i, level, got.String(), want.String())
			}
			var m map[string]any
			if err := json.Unmarshal(got.Bytes(), &m); err != nil {
				t.Errorf("case %d: not JSON: %q: %v", i, got.String(), err)
			}
		}
	}
}

// TestAttrsCollectsFields checks that Attrs keeps fields in order with
// their kinds.
func TestAttrsCollectsFields(t *testing.T) {
	var a Attrs
	var f Fields = &a
	f.String("s", "v")
	f.Int("i", 3)
	f.Float("f", 1.25)
	f.Bool("b", true)
	want := []slog.Attr{slog.String("s", "v"), slog.Int64("i", 3), slog.Float64("f", 1.25), slog.Bool("b", true)}
	if len(a) != len(want) {
		t.Fatalf("got %d attrs, want %d", len(a), len(want))
	}
	for i := range want {
		if !a[i].Equal(want[i]) {
			t.Errorf("attr %d = %v, want %v", i, a[i], want[i])
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "Warning": slog.LevelWarn, "error": slog.LevelError} {
		if got, ok := ParseLevel(in); !ok || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "verbose", "0", "warn "} {
		if _, ok := ParseLevel(in); ok {
			t.Errorf("ParseLevel(%q) accepted", in)
		}
	}
}

func BenchmarkDeliveryLine(b *testing.B) {
	var buf bytes.Buffer
	logger := New(&buf, slog.LevelInfo)
	h := logger.Handler().(*Handler)
	at := time.Now()
	b.Run("slog", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf.Reset()
			logger.LogAttrs(b.Context(), slog.LevelInfo, "delivery", slog.String("result", "published"), slog.Int("status", 200),
				slog.Float64("latency_ms", 3.217), slog.String("webhook_id", "msg_2bS3dl4Yq"), slog.String("scheme", "hmac"),
				slog.String("event_type", "batch.succeeded"), slog.String("family", "batch"), slog.String("message_id", "12345"), slog.Int("body_bytes", 412))
		}
	})
	b.Run("line", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf.Reset()
			l := h.Begin(at, slog.LevelInfo, "delivery")
			l.String("result", "published")
			l.Int("status", 200)
			l.Float("latency_ms", 3.217)
			l.String("webhook_id", "msg_2bS3dl4Yq")
			l.String("scheme", "hmac")
			l.String("event_type", "batch.succeeded")
			l.String("family", "batch")
			l.String("message_id", "12345")
			l.Int("body_bytes", 412)
			h.Write(l)
		}
	})
}
