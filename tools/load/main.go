// Command load sends signed Gemini webhook deliveries of every event type to
// a function on loopback, at a fixed open-loop rate (--rate) or a fixed
// concurrency (--concurrency), bounded by --duration and --count, and
// prints throughput, latency percentiles and answers by status. With
// --emulator it subscribes to the family topics before the run and checks
// afterwards that Pub/Sub holds exactly one message per 200 answer.
//
//	go run ./load --state $GEMINIHOOK_DEV_STATE --scheme jwt --rate 200 --duration 10s
//
// It exits 1 when a delivery was not answered 200 or, with --emulator, when
// the published count differs from the 200 answers.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/geminihook/geminihook/tools/load/loadgen"
	"github.com/geminihook/geminihook/verify"
)

// maxCount bounds every run.
const maxCount = 1_000_000

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "function URL on loopback (default: the state file's url)")
	statePath := fs.String("state", os.Getenv("GEMINIHOOK_DEV_STATE"), "state file of 'geminihook dev' or the bench emulator: secret, key and emulator address")
	scheme := fs.String("scheme", loadgen.SchemeHMAC, "hmac, jwt, mixed, or none (unsigned, for a bare handler)")
	secret := fs.String("secret", "", "whsec_ secret for hmac (default: the state file's)")
	keyFile := fs.String("key", "", "PEM RSA private key for jwt (default: the state file's)")
	kid := fs.String("kid", "", "kid of --key")
	aud := fs.String("aud", "", "JWT audience: the function's GEMINI_JWT_AUDIENCE (default: the URL without a trailing slash)")
	rate := fs.Float64("rate", 0, "open-loop deliveries per second (0: closed loop at --concurrency)")
	conc := fs.Int("concurrency", 0, "deliveries in flight (closed loop; default 16) or the most in flight (open loop; default 1024)")
	duration := fs.Duration("duration", 10*time.Second, "stop sending after this long")
	count := fs.Int("count", 0, fmt.Sprintf("deliveries to prepare and at most send (default: rate×duration, or 20000 closed loop; at most %d)", maxCount))
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	emulator := fs.String("emulator", "", "Pub/Sub emulator host:port to count published messages on (default: the state file's pubsub)")
	project := fs.String("project", "", "project of the topics (default: the state file's, else geminihook-dev)")
	prefix := fs.String("prefix", "", "topic prefix (default: the state file's, else gemini-)")
	noCount := fs.Bool("no-count", false, "do not count published messages even when an emulator is known")
	settle := fs.Duration("settle", 500*time.Millisecond, "how long the subscriptions must stay empty before the count is final")
	runID := fs.String("run", "", "webhook-id prefix of this run (default: random)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var st loadgen.State
	if *statePath != "" {
		var err error
		if st, err = loadgen.LoadState(*statePath); err != nil {
			return err
		}
	}
	if *target == "" {
		*target = st.URL
	}
	if *target == "" {
		return errors.New("no target: give --url or --state")
	}
	if err := loadgen.CheckLoopback(*target); err != nil {
		return err
	}
	signer, err := st.Signer(*scheme, *target)
	if err != nil {
		return err
	}
	if *secret != "" {
		if signer.Secret, err = verify.ParseSecret(*secret); err != nil {
			return fmt.Errorf("--secret: %w", err)
		}
	}
	if *keyFile != "" {
		raw, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		if signer.Key, err = loadgen.ParseKey(*kid, raw); err != nil {
			return err
		}
	}
	if *aud != "" {
		signer.Audience = *aud
	}

	if *rate < 0 || *conc < 0 || *duration < 0 || *count < 0 {
		return errors.New("--rate, --concurrency, --duration and --count must not be negative")
	}
	if *rate == 0 && *conc == 0 {
		*conc = 16
	}
	n := *count
	if n == 0 {
		n = 20000
		if *rate > 0 && *duration > 0 {
			n = int(*rate * duration.Seconds())
		}
	}
	if n < 1 || n > maxCount {
		return fmt.Errorf("%d deliveries is outside 1-%d", n, maxCount)
	}
	if *runID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		*runID = hex.EncodeToString(b)
	}

	var counter *loadgen.Counter
	if *emulator == "" {
		*emulator = st.PubSub
	}
	if *emulator != "" && !*noCount {
		proj, pre := firstOf(*project, st.Project, "geminihook-dev"), firstOf(*prefix, st.Prefix, "gemini-")
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		counter, err = loadgen.NewCounter(cctx, *emulator, proj, pre, *runID)
		cancel()
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = counter.Close(cctx)
		}()
	}

	prep := time.Now()
	deliveries, err := loadgen.Prepare(ctx, signer, *runID, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "load: %d %s deliveries signed in %s; sending to %s\n", n, *scheme, time.Since(prep).Round(time.Millisecond), *target)

	rep, err := loadgen.Run(ctx, loadgen.Options{URL: *target, Rate: *rate, Concurrency: *conc, Duration: *duration, Timeout: *timeout}, deliveries)
	if err != nil {
		return err
	}
	if counter != nil {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		rep.Published, rep.DistinctPublished, err = counter.Count(cctx, *settle)
		cancel()
		if err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		printReport(stdout, rep)
	}
	return rep.Failed()
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func printReport(w io.Writer, r *loadgen.Report) {
	mode := fmt.Sprintf("closed loop, %d in flight", r.Concurrency)
	if r.Mode == "rate" {
		mode = fmt.Sprintf("open loop, %.0f/s", r.Rate)
	}
	fmt.Fprintf(w, "target      %s (%s)\n", r.URL, mode)
	fmt.Fprintf(w, "sent        %d in %.2fs (%d late), answered %d, transport errors %d\n", r.Sent, r.Seconds, r.Late, r.Answered, r.TransportErrors)
	fmt.Fprintf(w, "throughput  %.1f deliveries/s answered 200\n", r.Throughput)
	fmt.Fprintf(w, "latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  mean %.2fms\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.Mean)
	fmt.Fprintf(w, "status      %v\n", r.Status)
	if r.Published >= 0 {
		fmt.Fprintf(w, "published   %d messages, %d distinct ids, for %d answers 200\n", r.Published, r.DistinctPublished, r.OK)
	}
	if r.ErrorSample != "" {
		fmt.Fprintf(w, "first error %s\n", r.ErrorSample)
	}
}
