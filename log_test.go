package geminihook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/logging"
	"github.com/geminihook/geminihook/verify"
)

// TestDeliveryLineMatchesSlog checks the hand-written delivery line
// against what slog's JSON handler writes for the same delivery: byte for
// byte, for every result, every optional field and strings that need
// every kind of escape.
func TestDeliveryLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 12, 1, 4, 5, 6, 789012345, time.UTC)
	hostile := []string{"msg_plain", `q"b\s`, "<b>&x</b>", "nl\ncr\rtab\t", "ctl\x00\x1f\x7f", "bad\xff\xfe", "sep\u2028\u2029", "日本🙂"}
	var cases []deliveryLog
	for i, s := range hostile {
		cases = append(cases,
			deliveryLog{d: &delivery{webhookID: s, idempotencyKey: "hmac:" + s, scheme: "hmac", eventType: s, family: events.FamilyBatch, messageID: s, bodyBytes: 412 + i, result: resultPublished, confirmed: i%2 == 0},
				status: http.StatusOK, latency: time.Duration(i) * 1234567 * time.Nanosecond, trace: "projects/p/traces/" + s},
			deliveryLog{d: &delivery{result: resultRejected, scheme: "jwt", bodyBytes: i}, status: http.StatusUnauthorized, reason: "no_matching_signature",
				err: fmt.Errorf("%w: %s", verify.ErrNoMatchingSignature, s), latency: 250 * time.Microsecond},
			deliveryLog{d: &delivery{result: resultUnavailable, webhookID: s}, status: http.StatusServiceUnavailable, reason: "publish_failed",
				err: fmt.Errorf("%w: rpc error:\n %s", errPublish, s), latency: time.Second},
			deliveryLog{d: &delivery{result: resultRejected}, status: http.StatusMethodNotAllowed, reason: "method_not_allowed", err: errMethod, method: s},
			deliveryLog{d: &delivery{result: resultQuarantined, quarantine: events.ReasonUnclassified, webhookID: s, claimFailed: errors.New("claim " + s)}, status: http.StatusOK},
		)
	}
	cases = append(cases, deliveryLog{d: &delivery{}, status: http.StatusOK})
	for i, l := range cases {
		status := l.status
		level := levelFor(status, l.d)
		var fast, ref bytes.Buffer
		logDelivery(t.Context(), logging.New(&fast, slog.LevelDebug), at, level, l)
		// The same handler without the hand-written path: slog writes it.
		slogOnly := slog.New(logging.New(&ref, slog.LevelDebug).Handler().WithAttrs(nil))
		if _, ok := slogOnly.Handler().(*logging.Handler); ok {
			t.Fatal("reference logger would take the hand-written path")
		}
		logDelivery(t.Context(), slogOnly, at, level, l)
		if fast.String() != ref.String() {
			t.Errorf("case %d:\n got %q\nwant %q", i, fast.String(), ref.String())
		}
		var m map[string]any
		if err := json.Unmarshal(fast.Bytes(), &m); err != nil {
			t.Fatalf("case %d: not JSON: %q: %v", i, fast.String(), err)
		}
		if m["message"] != "delivery" || (l.d.result != "" && m["result"] != l.d.result) || m["status"] != float64(status) || strings.Count(fast.String(), "\n") != 1 {
			t.Errorf("case %d: fields %v", i, m)
		}
	}
}

// TestLogLevel checks GEMINI_LOG_LEVEL: warn drops the lines of deliveries
// answered 200 and published, and keeps every line the log-based metrics
// of terraform/monitoring.tf count (result rejected and quarantined) and
// every 5xx; the default, info, keeps them all.
func TestLogLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level     string
		published bool // the published delivery's line is kept
	}{{"", true}, {"info", true}, {"warn", false}, {"WARN", false}} {
		t.Run("level="+tc.level, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ownLogger: true, env: map[string]string{"GEMINI_LOG_LEVEL": tc.level}})
			ok := h.do(h.hmacRequest("msg_ok", h.sample("batch.succeeded", 1), h.secret))
			bad := h.do(h.hmacRequest("msg_forged", h.sample("batch.succeeded", 2), verify.MustParseSecret("whsec_"+strings.Repeat("QUFB", 8))))
			malformed, err := os.ReadFile(filepath.Join("events", "testdata", "cases", "malformed-array.json"))
			if err != nil {
				t.Fatal(err)
			}
			quarantined := h.do(h.hmacRequest("msg_q", malformed, h.secret))
			if ok.status != 200 || bad.status != 401 || quarantined.status != 200 || decodeAnswer(t, quarantined).Result != resultQuarantined {
				t.Fatalf("answers %d %d %d %s", ok.status, bad.status, quarantined.status, quarantined.body)
			}
			results := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if m["message"] == "delivery" {
					results[m["result"].(string)]++
				}
			}
			want := map[string]int{resultRejected: 1, resultQuarantined: 1}
			if tc.published {
				want[resultPublished] = 1
			}
			if fmt.Sprint(results) != fmt.Sprint(want) {
				t.Errorf("delivery lines by result %v, want %v", results, want)
			}
		})
	}
}

// BenchmarkDeliveryLog compares the hand-written delivery line with the
// same line written by slog, for a published delivery.
//
//	go test -run '^$' -bench DeliveryLog -benchmem .
func BenchmarkDeliveryLog(b *testing.B) {
	l := deliveryLog{d: &delivery{webhookID: "msg_2bS3dl4YqXk", idempotencyKey: "hmac:msg_2bS3dl4YqXk", scheme: "hmac", eventType: "batch.succeeded",
		family: events.FamilyBatch, messageID: "1234567", bodyBytes: 412, result: resultPublished}, status: http.StatusOK, latency: 3217 * time.Microsecond,
		trace: "projects/p/traces/0af7651916cd43dd8448eb211c80319c"}
	for _, bc := range []struct {
		name   string
		logger *slog.Logger
	}{
		{"hand", logging.New(io.Discard, slog.LevelInfo)},
		{"slog", slog.New(logging.New(io.Discard, slog.LevelInfo).Handler().WithAttrs(nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				logDelivery(b.Context(), bc.logger, time.Now(), slog.LevelInfo, l)
			}
		})
	}
}
