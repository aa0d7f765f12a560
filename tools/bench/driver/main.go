// Command driver runs the benchmark tools/bench/run.sh describes, in one
// process tree on this machine: the Pub/Sub emulator in its own process, a
// bare Functions Framework handler (the ceiling of the framework), the
// minimal verify-and-publish pipeline (the honest limit: tools/bench/minimal),
// the contract's floor (the minimal pipeline publishing the schema's
// attributes to the family topics: minimal --contract), the function as deployed (tools/bench/deployed: the root package behind the
// Functions Framework's own server, what Cloud Run runs) and geminihook serve
// (the same function behind internal/httpserver, with the CLI linked),
// loaded in turn by the load generator in this process. It prints a Markdown table (ratios against
// minimal and against bare first) and writes the figures as JSON.
//
// It exits 1 when any delivery to any target is answered other than 200,
// when a phase sent nothing, or when the emulator does not hold exactly one
// message per 200 answer, in every mode; speeds are reported, never
// asserted.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/tools/load/loadgen"
)

func main() {
	bin := flag.String("bin", "", "directory holding the geminihook, deployed, minimal, bare and emulator binaries (required)")
	work := flag.String("work", "", "directory for logs, state and results (required)")
	smoke := flag.Bool("smoke", false, "a few seconds: prove every part works, with loss checks and no meaningful figures")
	coldStarts := flag.Int("cold-starts", 0, "measured cold starts of each target (default 5; 1 with --smoke); the median is reported")
	coldOnly := flag.Bool("cold-only", false, "measure cold starts only: no load phases, no RSS")
	var serveEnv envList
	flag.Var(&serveEnv, "serve-env", "NAME=VALUE added to the environment of geminihook serve and of the deployed function (repeatable), e.g. to point them at a store or API fake on loopback")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bound the whole run whatever happens.
	limit := 10 * time.Minute
	if *smoke {
		limit = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if *coldStarts < 0 || *coldStarts > 100 {
		fmt.Fprintln(os.Stderr, "bench: --cold-starts must be 1 to 100")
		os.Exit(2)
	}
	opts := options{smoke: *smoke, coldStarts: *coldStarts, coldOnly: *coldOnly, serveEnv: serveEnv}
	if err := run(ctx, *bin, *work, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// envList is a repeatable NAME=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	name, _, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// settings are the sizes of one mode.
type settings struct {
	coldStarts  int
	warmup      time.Duration
	duration    time.Duration
	concurrency int
}

// Phase is one measured load run against one server.
type Phase struct {
	Target string          `json:"target"`
	Report *loadgen.Report `json:"report"`
	// CPU in cores (CPU seconds per second of the run).
	ServerCores   float64 `json:"server_cores"`
	EmulatorCores float64 `json:"emulator_cores"`
	LoadCores     float64 `json:"load_cores"`
}

// ColdStart is the time from exec to the first 200 of a signed delivery.
type ColdStart struct {
	SamplesMS []float64 `json:"samples_ms"`
	MedianMS  float64   `json:"median_ms"`
}

// Results is everything one run measured.
type Results struct {
	Machine   map[string]string     `json:"machine"`
	Smoke     bool                  `json:"smoke"`
	Settings  map[string]string     `json:"settings"`
	ColdStart map[string]*ColdStart `json:"cold_start"`
	Max       map[string]*Phase     `json:"max"`
	// Rate is half the minimal pipeline's max throughput: the fixed rate of
	// the latency phase of bare, minimal, deployed and HMAC.
	Rate float64 `json:"rate"`
	// JWTRate is the JWT latency phase's rate: Rate, or half the JWT max
	// when that is lower, so the phase does not measure an overload.
	JWTRate    float64           `json:"jwt_rate"`
	AtRate     map[string]*Phase `json:"at_rate"`
	PeakRSSKiB map[string]int64  `json:"peak_rss_kib"`
	// Ratios are the headline ratios, named "<what>/<target>/<baseline>",
	// e.g. "throughput/hmac/minimal"; printTable prints the same figures.
	Ratios map[string]float64 `json:"ratios"`
}

// The six targets. hmac and jwt are geminihook serve loaded with HMAC and
// with JWT deliveries; deployed is the function as Cloud Run runs it, loaded
// with HMAC deliveries; minimal verifies HMAC only; floor is the minimal
// pipeline publishing as the contract requires (the schema's attributes,
// one topic per family: tools/bench/minimal --contract), the least any
// implementation of the contract can cost.
const (
	bare     = "bare"
	minimal  = "minimal"
	floor    = "floor"
	deployed = "deployed"
	hmac     = "hmac"
	jwt      = "jwt"
)

// options are the driver's flags.
type options struct {
	smoke      bool
	coldStarts int  // 0: the mode's default
	coldOnly   bool // measure cold starts only
	// serveEnv is added to the environment of geminihook serve and of the
	// deployed function after the driver's own (a later NAME wins).
	serveEnv []string
}

// run runs the benchmark.
func run(ctx context.Context, bin, work string, o options, stdout, stderr io.Writer) (err error) {
	if bin == "" || work == "" {
		return errors.New("--bin and --work are required")
	}
	smoke, serveEnv := o.smoke, o.serveEnv
	s := settings{coldStarts: 5, warmup: 2 * time.Second, duration: 10 * time.Second, concurrency: 32}
	if smoke {
		s = settings{coldStarts: 1, warmup: 300 * time.Millisecond, duration: time.Second, concurrency: 8}
	}
	if o.coldStarts > 0 {
		s.coldStarts = o.coldStarts
	}
	res := &Results{
		Machine:    machine(),
		Smoke:      smoke,
		Settings:   map[string]string{"cold_starts": fmt.Sprint(s.coldStarts), "duration": s.duration.String(), "concurrency": fmt.Sprint(s.concurrency), "serve_env": envNames(serveEnv)},
		ColdStart:  map[string]*ColdStart{},
		Max:        map[string]*Phase{},
		AtRate:     map[string]*Phase{},
		PeakRSSKiB: map[string]int64{},
		Ratios:     map[string]float64{},
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }

	// The emulator, in its own process.
	statePath := filepath.Join(work, "state.json")
	_ = os.Remove(statePath)
	emu, err := start("emulator", filepath.Join(bin, "emulator"), filepath.Join(work, "emulator.log"), nil, "--state", statePath, "--lifetime", "15m")
	if err != nil {
		return err
	}
	defer emu.stop()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	err = waitLine(wctx, filepath.Join(work, "emulator.log"), "ready")
	wcancel()
	if err != nil {
		return err
	}
	st, err := loadgen.LoadState(statePath)
	if err != nil {
		return err
	}
	env := []string{
		"GOOGLE_CLOUD_PROJECT=" + st.Project,
		"PUBSUB_EMULATOR_HOST=" + st.PubSub,
		"GEMINI_WEBHOOK_SECRET=" + st.Secret,
		"GEMINI_TOPIC_PREFIX=" + st.Prefix,
		"GEMINI_JWKS_URL=" + st.JWKSURL,
	}
	servers := map[string]func(port, log string) (*proc, error){
		bare: func(port, log string) (*proc, error) {
			return start("bare", filepath.Join(bin, "bare"), log, nil, "--port", port)
		},
		minimal: func(port, log string) (*proc, error) {
			// One topic: the counter subscribes to every family topic.
			return start("minimal", filepath.Join(bin, "minimal"), log, env, "--port", port, "--topic", events.Topic(st.Prefix, events.FamilyBatch))
		},
		floor: func(port, log string) (*proc, error) {
			return start("floor", filepath.Join(bin, "minimal"), log, env, "--port", port, "--contract", st.Prefix)
		},
		hmac: func(port, log string) (*proc, error) {
			// The JWT audience is configuration (#12): the URL the load
			// generator mints tokens for.
			senv := append(slices.Clone(env), "GEMINI_JWT_AUDIENCE="+loadgen.AudienceFor("http://127.0.0.1:"+port))
			return start("geminihook", filepath.Join(bin, "geminihook"), log, append(senv, serveEnv...), "serve", "--port", port)
		},
	}
	servers[jwt] = servers[hmac]
	servers[deployed] = func(port, log string) (*proc, error) {
		// Cloud Run's environment: the buildpack sets FUNCTION_TARGET, the
		// platform K_SERVICE (with it the function drains on SIGTERM).
		denv := append(slices.Clone(env), "FUNCTION_TARGET=GeminiWebhook", "K_SERVICE=geminihook-bench",
			"GEMINI_JWT_AUDIENCE="+loadgen.AudienceFor("http://127.0.0.1:"+port))
		return start("deployed", filepath.Join(bin, "deployed"), log, append(denv, serveEnv...), "--port", port)
	}
	scheme := map[string]string{bare: loadgen.SchemeNone, minimal: loadgen.SchemeHMAC, floor: loadgen.SchemeHMAC, deployed: loadgen.SchemeHMAC, hmac: loadgen.SchemeHMAC, jwt: loadgen.SchemeJWT}
	signer := func(target, url string) (loadgen.Signer, error) {
		return st.Signer(scheme[target], url)
	}

	// Cold starts, interleaved so drift hits every target alike, after one
	// unmeasured start of each binary so every one is in the page cache.
	for _, target := range []string{bare, minimal, deployed, hmac} {
		if _, err := coldStart(ctx, servers[target], work, target, -1, signer); err != nil {
			return fmt.Errorf("first start of %s: %w", target, err)
		}
	}
	for i := range s.coldStarts {
		for _, target := range []string{bare, minimal, deployed, hmac, jwt} {
			ms, err := coldStart(ctx, servers[target], work, target, i, signer)
			if err != nil {
				return fmt.Errorf("cold start of %s: %w", target, err)
			}
			cs := res.ColdStart[target]
			if cs == nil {
				cs = &ColdStart{}
				res.ColdStart[target] = cs
			}
			cs.SamplesMS = append(cs.SamplesMS, ms)
			logf("cold start %s #%d: %.1fms", target, i+1, ms)
		}
	}
	for _, cs := range res.ColdStart {
		cs.MedianMS = median(cs.SamplesMS)
	}
	if o.coldOnly {
		res.Ratios = ratios(res)
		if err := writeResults(work, res); err != nil {
			return err
		}
		printColdTable(stdout, res)
		return nil
	}

	// Long-lived servers for the load phases.
	procs := map[string]*proc{}
	urls := map[string]string{}
	// serve gets one process per scheme, so that each peak RSS is that of
	// one load (as the deployed function's is), not of both in turn.
	for _, target := range []string{bare, minimal, floor, deployed, hmac, jwt} {
		port, err := freePort()
		if err != nil {
			return err
		}
		p, err := servers[target](port, filepath.Join(work, target+".log"))
		if err != nil {
			return err
		}
		defer p.stop()
		procs[target], urls[target] = p, "http://127.0.0.1:"+port
	}
	for _, target := range []string{bare, minimal, floor, deployed, hmac, jwt} {
		if err := waitUp(ctx, urls[target]); err != nil {
			return err
		}
	}

	failures := []error{}
	phase := func(target string, rate float64, runID string) (*Phase, error) {
		url := urls[target]
		sg, err := signer(target, url)
		if err != nil {
			return nil, err
		}
		// Warm up: connections, the lazy build, JWKS; not measured.
		if s.warmup > 0 && rate == 0 {
			ws, err := loadgen.Prepare(ctx, sg, runID+"w", int(s.warmup.Seconds()*2000)+100)
			if err != nil {
				return nil, err
			}
			if _, err := loadgen.Run(ctx, loadgen.Options{URL: url, Concurrency: s.concurrency, Duration: s.warmup}, ws); err != nil {
				return nil, err
			}
		}
		var counter *loadgen.Counter
		if target != bare {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			counter, err = loadgen.NewCounter(cctx, st.PubSub, st.Project, st.Prefix, runID)
			cancel()
			if err != nil {
				return nil, err
			}
			defer counter.Close(context.Background())
		}
		// Enough deliveries for a closed loop to last the whole duration on
		// a 2-core machine; a run that runs out ends early, and its
		// throughput is still 200 answers per second of the run.
		// Every JWT delivery has its own token (the function dedupes on
		// it), and an RS256 signature costs about a millisecond of CPU, so
		// JWT gets fewer: its max was 3300/s at most on this machine.
		n := int(s.duration.Seconds() * 30000)
		switch target {
		case jwt:
			n = int(s.duration.Seconds() * 5000)
		case minimal, floor, deployed, hmac:
			n = int(s.duration.Seconds() * 8000)
		}
		if rate > 0 {
			n = int(rate * s.duration.Seconds())
		}
		ds, err := loadgen.Prepare(ctx, sg, runID, max(n, 1))
		if err != nil {
			return nil, err
		}
		srv0, err := procs[target].cpu()
		if err != nil {
			return nil, err
		}
		emu0, err := emu.cpu()
		if err != nil {
			return nil, err
		}
		self0 := selfCPU()
		rep, err := loadgen.Run(ctx, loadgen.Options{URL: url, Rate: rate, Concurrency: s.concurrency, Duration: s.duration, Timeout: 30 * time.Second}, ds)
		if err != nil {
			return nil, err
		}
		srv1, err1 := procs[target].cpu()
		emu1, err2 := emu.cpu()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		self1 := selfCPU()
		if counter != nil {
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			rep.Published, rep.DistinctPublished, err = counter.Count(cctx, 500*time.Millisecond)
			cancel()
			if err != nil {
				return nil, err
			}
		}
		if err := rep.Failed(); err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", target, err))
		}
		if rep.Sent == 0 {
			// A phase that sent nothing would pass every check above.
			failures = append(failures, fmt.Errorf("%s: no delivery was sent", target))
		}
		secs := rep.Seconds
		ph := &Phase{Target: target, Report: rep,
			ServerCores:   (srv1 - srv0).Seconds() / secs,
			EmulatorCores: (emu1 - emu0).Seconds() / secs,
			LoadCores:     (self1 - self0).Seconds() / secs,
		}
		logf("%-4s rate=%-6.0f %8.1f/s  p50 %6.2fms p99 %7.2fms  status %v  published %d  cpu server %.2f emulator %.2f load %.2f",
			target, rate, rep.Throughput, rep.Latency.P50, rep.Latency.P99, rep.Status, rep.Published, ph.ServerCores, ph.EmulatorCores, ph.LoadCores)
		return ph, nil
	}

	for _, target := range []string{bare, minimal, floor, deployed, hmac, jwt} {
		if res.Max[target], err = phase(target, 0, "max"+target); err != nil {
			return err
		}
	}
	res.Rate = max(1, float64(int(res.Max[minimal].Report.Throughput/2)))
	res.JWTRate = max(1, min(res.Rate, float64(int(res.Max[jwt].Report.Throughput/2))))
	for _, target := range []string{bare, minimal, floor, deployed, hmac, jwt} {
		rate := res.Rate
		if target == jwt {
			rate = res.JWTRate
		}
		if res.AtRate[target], err = phase(target, rate, "rate"+target); err != nil {
			return err
		}
	}
	for _, target := range []string{bare, minimal, floor, deployed, hmac, jwt} {
		if res.PeakRSSKiB[target], err = procs[target].status("VmHWM"); err != nil {
			return err
		}
	}
	if res.PeakRSSKiB["emulator"], err = emu.status("VmHWM"); err != nil {
		return err
	}

	res.Ratios = ratios(res)
	if err := writeResults(work, res); err != nil {
		return err
	}
	printTable(stdout, res)
	if len(failures) > 0 {
		return fmt.Errorf("deliveries lost or refused: %w", errors.Join(failures...))
	}
	return nil
}

// coldStart starts a fresh server and returns the milliseconds from exec to
// its first 200 answer to a signed delivery.
func coldStart(ctx context.Context, server func(port, log string) (*proc, error), work, target string, i int, signer func(target, url string) (loadgen.Signer, error)) (float64, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	url := "http://127.0.0.1:" + port
	sg, err := signer(target, url)
	if err != nil {
		return 0, err
	}
	ds, err := loadgen.Prepare(ctx, sg, fmt.Sprintf("cold%s%d", target, i), 1)
	if err != nil {
		return 0, err
	}
	client := loadgen.NewClient(1, 10*time.Second)
	defer client.CloseIdleConnections()
	t0 := time.Now()
	p, err := server(port, filepath.Join(work, fmt.Sprintf("cold-%s-%d.log", target, i)))
	if err != nil {
		return 0, err
	}
	defer p.stop()
	deadline := t0.Add(20 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ds[0].Body))
		if err != nil {
			return 0, fmt.Errorf("new request: %w", err)
		}
		maps := req.Header
		for k, v := range ds[0].Header {
			maps[k] = v
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("first delivery answered %d", resp.StatusCode)
			}
			return float64(time.Since(t0).Microseconds()) / 1000, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no answer within 20s: %w", err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Microsecond):
		}
	}
}

// waitUp waits until url accepts connections.
func waitUp(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come up: %w", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// envNames lists the names of NAME=VALUE pairs, for the results: values
// may name local secrets.
func envNames(env []string) string {
	names := make([]string, len(env))
	for i, kv := range env {
		names[i], _, _ = strings.Cut(kv, "=")
	}
	return strings.Join(names, " ")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func machine() map[string]string {
	m := map[string]string{"nproc": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

// ratios computes the headline ratios: the deployed function's and serve's
// figures (HMAC and JWT) against minimal and against bare, and minimal's
// against bare.
// Throughput and CPU-per-200 ratios are "how much of the baseline's
// efficiency serve keeps" (higher is better, 1 is parity); latency, cold
// start and RSS ratios are "how many times the baseline's" (lower is
// better). A ratio whose baseline is zero is left out.
func ratios(r *Results) map[string]float64 {
	out := map[string]float64{}
	put := func(name string, a, b float64) {
		if b != 0 {
			out[name] = a / b
		}
	}
	// load puts t's load ratios against base, when both were loaded (a
	// --cold-only run loads nothing).
	load := func(t, base string) {
		if r.Max[t] == nil || r.Max[base] == nil || r.AtRate[t] == nil || r.AtRate[base] == nil {
			return
		}
		put("throughput/"+t+"/"+base, r.Max[t].Report.Throughput, r.Max[base].Report.Throughput)
		put("p99_at_rate/"+t+"/"+base, r.AtRate[t].Report.Latency.P99, r.AtRate[base].Report.Latency.P99)
		put("cpu_per_200/"+t+"/"+base, perOK(r.Max[base], false), perOK(r.Max[t], false))
		put("cpu_per_200_with_load/"+t+"/"+base, perOK(r.Max[base], true), perOK(r.Max[t], true))
	}
	for _, base := range []string{minimal, bare} {
		targets := []string{deployed, hmac, jwt}
		if base == bare {
			targets = append(targets, minimal)
		}
		for _, t := range targets {
			load(t, base)
			if r.ColdStart[t] != nil && r.ColdStart[base] != nil {
				put("cold_start/"+t+"/"+base, r.ColdStart[t].MedianMS, r.ColdStart[base].MedianMS)
			}
		}
	}
	// Against the contract's floor: what the function's own machinery
	// costs; and the floor against the minimal: what the contract costs.
	load(deployed, floor)
	load(hmac, floor)
	load(floor, minimal)
	for _, base := range []string{minimal, bare} {
		put("peak_rss/deployed/"+base, float64(r.PeakRSSKiB[deployed]), float64(r.PeakRSSKiB[base]))
		put("peak_rss/serve/"+base, float64(r.PeakRSSKiB[hmac]), float64(r.PeakRSSKiB[base]))
		put("peak_rss/jwt/"+base, float64(r.PeakRSSKiB[jwt]), float64(r.PeakRSSKiB[base]))
	}
	return out
}

// writeResults writes r as results.json in work.
func writeResults(work string, r *Results) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(work, "results.json"), raw, 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// printColdTable prints a --cold-only run: each target's cold starts and
// their ratios against minimal and bare.
func printColdTable(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nMachine: %s, %s cores, %s (%s); cold starts only, %s each\n\n", r.Machine["cpu"], r.Machine["nproc"], r.Machine["go"], r.Machine["os"], r.Settings["cold_starts"])
	fmt.Fprintf(w, "| target | cold start median ms (samples) | ÷ minimal | ÷ bare |\n|---|---|---|---|\n")
	for _, t := range []string{bare, minimal, deployed, hmac, jwt} {
		ratio := func(base string) string {
			if v, ok := r.Ratios["cold_start/"+t+"/"+base]; ok {
				return fmt.Sprintf("%.2f", v)
			}
			return "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t, cold(r.ColdStart[t]), ratio(minimal), ratio(bare))
	}
}

func printTable(w io.Writer, r *Results) {
	q := r.Ratios
	f := func(name string) string {
		v, ok := q[name]
		if !ok {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	}
	row := func(label, what, target string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label,
			f(what+"/deployed/minimal"), f(what+"/hmac/minimal"), f(what+"/jwt/minimal"),
			f(what+"/deployed/bare"), f(what+"/hmac/bare"), f(what+"/jwt/bare"), f(what+"/minimal/bare"), target)
	}
	mx, at, cs := r.Max, r.AtRate, r.ColdStart
	fmt.Fprintf(w, "\nMachine: %s, %s cores, %s (%s)%s\n\n", r.Machine["cpu"], r.Machine["nproc"], r.Machine["go"], r.Machine["os"], map[bool]string{true: " — SMOKE RUN, figures meaningless", false: ""}[r.Smoke])
	fmt.Fprintf(w, "| Ratio | deployed / minimal | serve HMAC / minimal | serve JWT / minimal | deployed / bare | serve HMAC / bare | serve JWT / bare | minimal / bare | Target (HMAC / minimal) |\n|---|---|---|---|---|---|---|---|---|\n")
	row("max throughput", "throughput", "≥ 0.90")
	row(fmt.Sprintf("p99 at %.0f/s (half the minimal's max; JWT at %.0f/s)", r.Rate, r.JWTRate), "p99_at_rate", "≤ 1.5")
	row("cold start to first 200, median", "cold_start", "≤ 1.2")
	row("CPU per 200 at max, baseline / target: server only", "cpu_per_200", "(the throughput ratio if the server had the machine)")
	row("CPU per 200 at max, baseline / target: server + load generator", "cpu_per_200_with_load", "(Pub/Sub off the machine, as in production)")
	fmt.Fprintf(w, "| peak RSS (VmHWM) / baseline's | %s | %s | %s | %s | %s | %s | | < 64 MiB: deployed %.1f, serve %.1f (JWT %.1f) MiB |\n\n",
		f("peak_rss/deployed/minimal"), f("peak_rss/serve/minimal"), f("peak_rss/jwt/minimal"), f("peak_rss/deployed/bare"), f("peak_rss/serve/bare"), f("peak_rss/jwt/bare"),
		float64(r.PeakRSSKiB[deployed])/1024, float64(r.PeakRSSKiB[hmac])/1024, float64(r.PeakRSSKiB[jwt])/1024)

	// The contract's floor splits the gap to the minimal in two: what the
	// contract costs (floor / minimal) and what the function's own work
	// costs (target / floor).
	fmt.Fprintf(w, "| Against the contract's floor | deployed / floor | serve HMAC / floor | floor / minimal |\n|---|---|---|---|\n")
	frow := func(label, what string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", label, f(what+"/deployed/floor"), f(what+"/hmac/floor"), f(what+"/floor/minimal"))
	}
	frow("max throughput", "throughput")
	frow(fmt.Sprintf("p99 at %.0f/s", r.Rate), "p99_at_rate")
	frow("CPU per 200 at max, baseline / target: server only", "cpu_per_200")
	frow("CPU per 200 at max, baseline / target: server + load generator", "cpu_per_200_with_load")
	fmt.Fprintln(w)

	fmt.Fprintf(w, "| Absolute | bare | minimal | floor | deployed | serve HMAC | serve JWT |\n|---|---|---|---|---|---|---|\n")
	all := []string{bare, minimal, floor, deployed, hmac, jwt}
	cells := func(label string, cell func(t string) string) {
		fmt.Fprintf(w, "| %s |", label)
		for _, t := range all {
			fmt.Fprintf(w, " %s |", cell(t))
		}
		fmt.Fprintln(w)
	}
	cells(fmt.Sprintf("max throughput (closed loop, %s in flight), 200/s", r.Settings["concurrency"]), func(t string) string { return fmt.Sprintf("%.0f", mx[t].Report.Throughput) })
	cells("latency at max, p50 / p99 ms", func(t string) string { return p5099(mx[t]) })
	cells(fmt.Sprintf("latency at %.0f/s open loop (JWT %.0f/s), p50 / p90 / p99 / max ms", r.Rate, r.JWTRate), func(t string) string { return lat(at[t]) })
	cells("cold start median ms (samples)", func(t string) string { return cold(cs[t]) })
	cells("CPU cores at max: server / emulator / load generator", func(t string) string { return cores(mx[t]) })
	cells("server CPU per 200 at max, µs", func(t string) string { return fmt.Sprintf("%.0f", perOK(mx[t], false)) })
	cells("emulator CPU per 200 at max, µs (Pub/Sub's work, off the machine in production)", func(t string) string {
		if mx[t].Report.Throughput == 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f", mx[t].EmulatorCores/mx[t].Report.Throughput*1e6)
	})
	cells("CPU cores at fixed rate: server / emulator / load generator", func(t string) string { return cores(at[t]) })
	cells("deliveries sent / 200 / published (max + rate runs)", func(t string) string { return counts(mx[t], at[t]) })
	fmt.Fprintf(w, "| peak RSS (VmHWM) MiB; emulator %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
		float64(r.PeakRSSKiB["emulator"])/1024, float64(r.PeakRSSKiB[bare])/1024, float64(r.PeakRSSKiB[minimal])/1024, float64(r.PeakRSSKiB[floor])/1024,
		float64(r.PeakRSSKiB[deployed])/1024, float64(r.PeakRSSKiB[hmac])/1024, float64(r.PeakRSSKiB[jwt])/1024)
}

func p5099(p *Phase) string {
	return fmt.Sprintf("%.2f / %.2f", p.Report.Latency.P50, p.Report.Latency.P99)
}

// perOK is the CPU microseconds per 200 answer of the server, plus the
// load generator's when withLoad.
func perOK(p *Phase, withLoad bool) float64 {
	if p.Report.Throughput == 0 {
		return 0
	}
	c := p.ServerCores
	if withLoad {
		c += p.LoadCores
	}
	return c / p.Report.Throughput * 1e6
}

func lat(p *Phase) string {
	l := p.Report.Latency
	return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", l.P50, l.P90, l.P99, l.Max)
}

func cold(c *ColdStart) string {
	if c == nil {
		return "—" // not measured (the floor starts as the minimal does)
	}
	s := make([]string, len(c.SamplesMS))
	for i, v := range c.SamplesMS {
		s[i] = fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f (%s)", c.MedianMS, strings.Join(s, ", "))
}

func cores(p *Phase) string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", p.ServerCores, p.EmulatorCores, p.LoadCores)
}

func counts(a, b *Phase) string {
	pub := "—"
	if a.Report.Published >= 0 {
		pub = fmt.Sprint(a.Report.Published + b.Report.Published)
	}
	return fmt.Sprintf("%d / %d / %s", a.Report.Sent+b.Report.Sent, a.Report.OK+b.Report.OK, pub)
}
