package soak_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

// TestSoak drives `geminihook serve` (the real binary, against an
// in-process Pub/Sub) with unique signed deliveries at a steady rate for
// GEMINIHOOK_SOAK (e.g. 5s or 60s; unset: not run, it is a long test run
// by .ci/reliability.sh), GEMINIHOOK_SOAK_RATE deliveries a second
// (default 100). One delivery in twenty is forged, the injected cause of
// the only non-2xx answers allowed. At the end every 200 has exactly one
// message, nothing else was published, memory is flat and the logs hold no
// secret, signature, token or body.
func TestSoak(t *testing.T) {
	spec := os.Getenv("GEMINIHOOK_SOAK")
	if spec == "" {
		t.Skip("a long run: set GEMINIHOOK_SOAK=5s (or 60s) to run it")
	}
	duration, err := time.ParseDuration(spec)
	if err != nil || duration < time.Second || duration > 30*time.Minute {
		t.Fatalf("GEMINIHOOK_SOAK=%q is not a duration between 1s and 30m", spec)
	}
	rate := 100
	if v := os.Getenv("GEMINIHOOK_SOAK_RATE"); v != "" {
		if rate, err = strconv.Atoi(v); err != nil || rate < 1 || rate > 5000 {
			t.Fatalf("GEMINIHOOK_SOAK_RATE=%q is not a rate between 1 and 5000", v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration+2*time.Minute)
	defer cancel()

	run, err := soak.Start(ctx, t.TempDir(), devstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	stack, p, signer := run.Stack, run.Process, run.Signer
	forgedSecret, _ := verify.GenerateSecret()
	forger := soak.Signer{URL: p.URL, Secret: verify.MustParseSecret(forgedSecret), Key: stack.Key}
	const workers = 32
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}

	type job struct {
		n      int
		forged bool
	}
	jobs := make(chan job, workers)
	var mu sync.Mutex
	answers := map[string]soak.Answer{}
	forged := map[string]bool{}
	var leaks []string // signatures, tokens and bodies sent
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				id := samples.ID("soak", j.n)
				typ := samples.Types[j.n%len(samples.Types)]
				body := samples.Body(typ, j.n, time.Now())
				var req *http.Request
				var err error
				switch {
				case j.forged:
					req, err = forger.HMAC(ctx, id, body, time.Now())
				case j.n%10 == 5:
					req, err = signer.JWT(ctx, id, body, time.Now())
				default:
					req, err = signer.HMAC(ctx, id, body, time.Now())
				}
				if err != nil {
					t.Error(err)
					continue
				}
				a := soak.Do(client, id, req)
				mu.Lock()
				answers[id] = a
				forged[id] = j.forged
				if j.n%97 == 0 {
					leaks = append(leaks, req.Header.Get(verify.HeaderSignature), string(body))
				}
				mu.Unlock()
			}
		})
	}

	// Sample the server's memory while the load runs.
	var rss []int64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if v, err := p.RSS(); err == nil {
					mu.Lock()
					rss = append(rss, v)
					mu.Unlock()
				}
			}
		}
	})

	start := time.Now()
	interval := time.Second / time.Duration(rate)
	sent, behind := 0, 0
	warmSamples := 0
	next := start
	for time.Since(start) < duration {
		n := sent
		select {
		case jobs <- job{n: n, forged: n%20 == 7}:
			sent++
		default:
			behind++ // every worker is busy: the server is not keeping up
		}
		if warmSamples == 0 && time.Since(start) >= duration/4 {
			mu.Lock()
			warmSamples = len(rss)
			mu.Unlock()
		}
		next = next.Add(interval)
		time.Sleep(time.Until(next))
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampler.Wait()

	// Accounting: what Pub/Sub holds, by webhook id.
	stack.PubSub.Wait()
	published := map[string]int{}
	for _, m := range stack.PubSub.Messages() {
		published[m.Attributes["webhook_id"]]++
	}
	statuses := map[string]int{}
	ok := 0
	for id, a := range answers {
		key := strconv.Itoa(a.Status)
		if a.Err != nil {
			key = "error"
			t.Errorf("%s: %v", id, a.Err)
		}
		statuses[key]++
		switch {
		case forged[id]:
			if a.Status != http.StatusUnauthorized || published[id] != 0 {
				t.Errorf("forged %s: answered %d, %d messages; want 401 and none", id, a.Status, published[id])
			}
		case a.Status == http.StatusOK:
			ok++
			if published[id] != 1 {
				t.Errorf("%s answered 200 with %d messages", id, published[id])
			}
		default:
			t.Errorf("%s answered %d without an injected cause: %s", id, a.Status, a.Body)
		}
	}
	total := 0
	for id, n := range published {
		total += n
		if a, known := answers[id]; !known || a.Status != http.StatusOK {
			t.Errorf("message for %q, which was not answered 200", id)
		}
	}
	if len(answers) != sent {
		t.Errorf("%d answers for %d deliveries sent", len(answers), sent)
	}

	// Memory: flat after the warm-up.
	if len(rss) < 4 || warmSamples == 0 {
		t.Fatalf("only %d RSS samples", len(rss))
	}
	warm, end, peak := rss[warmSamples-1], rss[len(rss)-1], slices.Max(rss)
	t.Logf("soak %s at %d/s: sent %d (behind %d), answers %v, 200s %d, messages %d for %d ids, achieved %.0f/s",
		elapsed.Round(time.Millisecond), rate, sent, behind, statuses, ok, total, len(published), float64(sent)/elapsed.Seconds())
	t.Logf("serve RSS: first %.1f MiB, after warm-up %.1f MiB, end %.1f MiB, peak %.1f MiB (%d samples)",
		mib(rss[0]), mib(warm), mib(end), mib(peak), len(rss))
	if float64(end) > 1.5*float64(warm) {
		t.Errorf("RSS grew from %.1f MiB after warm-up to %.1f MiB at the end (more than 1.5x)", mib(warm), mib(end))
	}
	if sent < int(float64(rate)*duration.Seconds()*0.8) {
		t.Errorf("only %d deliveries sent in %s at %d/s: the load did not hold its rate", sent, duration, rate)
	}

	// Shut down as Cloud Run would, then search the output for secrets.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, _, err := p.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Errorf("serve after SIGTERM: exit %d, %v", code, err)
	}
	out := p.Output()
	for _, s := range append(leaks, stack.Secret, strings.TrimPrefix(stack.Secret, "whsec_"), forgedSecret) {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("serve output holds a secret, signature, token or body: %.32q…", s)
		}
	}
	if n := strings.Count(out, `"message":"delivery"`); n != sent {
		t.Errorf("%d delivery log lines for %d deliveries", n, sent)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
