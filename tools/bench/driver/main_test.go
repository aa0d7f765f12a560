package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/tools/load/loadgen"
)

func phase(throughput, p99, serverCores, loadCores float64) *Phase {
	return &Phase{Report: &loadgen.Report{Throughput: throughput, Latency: loadgen.Latency{P99: p99}}, ServerCores: serverCores, LoadCores: loadCores}
}

// The ratios are named target/baseline and point the way the targets of
// #18 are stated: throughput and CPU efficiency as "share of the
// baseline's", latency, cold start and RSS as "times the baseline's".
func TestRatiosAgainstMinimalAndBare(t *testing.T) {
	r := &Results{
		Max: map[string]*Phase{
			bare:     phase(10000, 5, 0.5, 0.5),
			minimal:  phase(4000, 20, 0.2, 0.2),
			floor:    phase(3800, 22, 0.25, 0.15),
			deployed: phase(3600, 25, 0.3, 0.1),
			hmac:     phase(3000, 30, 0.3, 0.1),
			jwt:      phase(2000, 40, 0.4, 0.1),
		},
		AtRate: map[string]*Phase{
			bare:     phase(2000, 4, 0, 0),
			minimal:  phase(2000, 10, 0, 0),
			floor:    phase(2000, 11, 0, 0),
			deployed: phase(2000, 12, 0, 0),
			hmac:     phase(2000, 15, 0, 0),
			jwt:      phase(1000, 50, 0, 0),
		},
		ColdStart: map[string]*ColdStart{
			bare: {MedianMS: 5}, minimal: {MedianMS: 10}, deployed: {MedianMS: 11}, hmac: {MedianMS: 12}, jwt: {MedianMS: 15},
		},
		PeakRSSKiB: map[string]int64{bare: 10240, minimal: 20480, deployed: 30720, hmac: 40960, jwt: 51200},
	}
	got := ratios(r)
	for name, want := range map[string]float64{
		"throughput/hmac/minimal":  0.75,
		"throughput/jwt/minimal":   0.5,
		"throughput/minimal/bare":  0.4,
		"p99_at_rate/hmac/minimal": 1.5,
		"p99_at_rate/jwt/bare":     12.5,
		"cold_start/hmac/minimal":  1.2,
		"cold_start/minimal/bare":  2,
		// minimal spends 50 µs per 200, hmac 100 µs: half the efficiency.
		"cpu_per_200/hmac/minimal": 0.5,
		// with the load generator: 100 µs against 133.3 µs.
		"cpu_per_200_with_load/hmac/minimal": 0.75,
		"peak_rss/serve/minimal":             2,
		"peak_rss/serve/bare":                4,
		"peak_rss/jwt/minimal":               2.5,
		"throughput/deployed/minimal":        0.9,
		"throughput/deployed/bare":           0.36,
		"p99_at_rate/deployed/minimal":       1.2,
		"cold_start/deployed/minimal":        1.1,
		// deployed: 83.3 µs per 200 against the minimal's 50.
		"cpu_per_200/deployed/minimal": 0.6,
		"peak_rss/deployed/minimal":    1.5,
		// Against the contract's floor, and the floor against the minimal.
		"throughput/deployed/floor":  3600.0 / 3800,
		"throughput/floor/minimal":   0.95,
		"p99_at_rate/deployed/floor": 12.0 / 11,
		// floor: 65.8 µs per 200, deployed 83.3 µs.
		"cpu_per_200/deployed/floor": (0.25 / 3800) / (0.3 / 3600),
	} {
		if v, ok := got[name]; !ok || math.Abs(v-want) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := got["throughput/minimal/minimal"]; ok {
		t.Error("minimal compared with itself")
	}
	r.Ratios = got
	var out bytes.Buffer
	printTable(&out, r)
	if !strings.Contains(out.String(), "| max throughput | 0.90 | 0.75 | 0.50 | 0.36 | 0.30 | 0.20 | 0.40 | ≥ 0.90 |") {
		t.Errorf("table lacks the throughput row:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| max throughput | 0.95 | 0.79 | 0.95 |") {
		t.Errorf("table lacks the floor's throughput row:\n%s", out.String())
	}
}

func TestRatiosSkipZeroBaselines(t *testing.T) {
	zero := func() map[string]*Phase {
		return map[string]*Phase{bare: phase(0, 0, 0, 0), minimal: phase(0, 0, 0, 0), deployed: phase(1, 1, 1, 1), hmac: phase(1, 1, 1, 1), jwt: phase(1, 1, 1, 1)}
	}
	r := &Results{Max: zero(), AtRate: zero(), ColdStart: map[string]*ColdStart{bare: {}, minimal: {}, deployed: {MedianMS: 1}, hmac: {MedianMS: 1}, jwt: {MedianMS: 1}}, PeakRSSKiB: map[string]int64{}}
	for name, v := range ratios(r) {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			t.Errorf("%s = %v", name, v)
		}
	}
}

// A --cold-only run has no load phases: its ratios and table come from the
// cold starts alone.
func TestColdOnlyRatiosAndTable(t *testing.T) {
	r := &Results{
		Machine:  map[string]string{},
		Settings: map[string]string{"cold_starts": "3"},
		ColdStart: map[string]*ColdStart{
			bare:     {MedianMS: 5, SamplesMS: []float64{5, 4, 6}},
			minimal:  {MedianMS: 10, SamplesMS: []float64{10, 9, 11}},
			deployed: {MedianMS: 12, SamplesMS: []float64{12, 12, 13}},
			hmac:     {MedianMS: 15, SamplesMS: []float64{15, 14, 16}},
			jwt:      {MedianMS: 15, SamplesMS: []float64{15, 15, 15}},
		},
	}
	r.Ratios = ratios(r)
	for name, want := range map[string]float64{
		"cold_start/deployed/minimal": 1.2,
		"cold_start/hmac/minimal":     1.5,
		"cold_start/minimal/bare":     2,
		"cold_start/deployed/bare":    2.4,
	} {
		if got := r.Ratios[name]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if _, ok := r.Ratios["cold_start/minimal/minimal"]; ok {
		t.Error("a target is compared with itself")
	}
	var b bytes.Buffer
	printColdTable(&b, r)
	for _, want := range []string{"| deployed | 12.0 (12, 12, 13) | 1.20 | 2.40 |", "| minimal | 10.0 (10, 9, 11) | — | 2.00 |", "| bare | 5.0 (5, 4, 6) | — | — |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
