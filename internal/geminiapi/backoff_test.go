package geminiapi

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffHonoursRetryAfterWithinTheCap(t *testing.T) {
	c, err := New("k", Options{MaxBackoff: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.backoff(1, 1500*time.Millisecond); d != 1500*time.Millisecond {
		t.Errorf("Retry-After 1.5s -> %v", d)
	}
	if d := c.backoff(1, time.Hour); d != 2*time.Second {
		t.Errorf("Retry-After 1h -> %v, want the cap", d)
	}
	for attempt, lo := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 3: 800 * time.Millisecond} {
		if d := c.backoff(attempt, 0); d < lo || d >= lo*3/2 {
			t.Errorf("attempt %d -> %v, want [%v, %v)", attempt, d, lo, lo*3/2)
		}
	}
	if d := c.backoff(10, 0); d != 2*time.Second {
		t.Errorf("attempt 10 -> %v, want the cap", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	if d := parseRetryAfter("7"); d != 7*time.Second {
		t.Errorf("seconds: %v", d)
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if d := parseRetryAfter(future); d < 59*time.Minute || d > time.Hour {
		t.Errorf("date: %v", d)
	}
	for _, v := range []string{"", "-1", "soon", time.Unix(0, 0).UTC().Format(http.TimeFormat)} {
		if d := parseRetryAfter(v); d != 0 {
			t.Errorf("%q -> %v", v, d)
		}
	}
}
