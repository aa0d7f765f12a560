package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/devstack"
	"github.com/geminihook/geminihook/internal/httpserver"
	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/internal/soak"
	"github.com/geminihook/geminihook/verify"
)

// envCount reads a positive count from the environment, else def.
func envCount(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// TestServeUnderSlowClients runs serve on loopback and holds connections
// the ways slow and idle clients do, then checks that good deliveries,
// each on a new connection, are still answered 200 while the process
// keeps its file descriptors at the connection cap. It reports the RSS
// and the deliveries' latency. Counts: GEMINIHOOK_SLOW_CLIENTS clients
// stalling mid-headers with 60 KiB sent (default 300) and
// GEMINIHOOK_IDLE_CONNS connections that send nothing (default 2000);
// .ci/reliability.sh runs it with 1,500 and 10,000 in full mode.
func TestServeUnderSlowClients(t *testing.T) {
	stallers := envCount(t, "GEMINIHOOK_SLOW_CLIENTS", 300)
	idlers := envCount(t, "GEMINIHOOK_IDLE_CONNS", 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	p, err := soak.Serve(ctx, binary(t), stack.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	addr := strings.TrimPrefix(p.URL, "http://")
	signer := soak.Signer{URL: p.URL, Secret: verify.MustParseSecret(stack.Secret), Key: stack.Key}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	n := 0
	// good sends 5 deliveries, each on a new connection, and returns their
	// median and slowest latency.
	good := func(phase string) (time.Duration, time.Duration) {
		var took []time.Duration
		for range 5 {
			n++
			id := fmt.Sprintf("msg_good_%d", n)
			req, err := signer.HMAC(ctx, id, samples.Body("batch.succeeded", n, time.Now()), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			a := soak.Do(client, id, req)
			took = append(took, time.Since(start))
			if a.Status != http.StatusOK {
				t.Errorf("%s: good delivery %s answered %d %q %v", phase, id, a.Status, a.Body, a.Err)
			}
		}
		slices.Sort(took)
		return took[len(took)/2], took[len(took)-1]
	}
	rss := func() int64 {
		r, err := p.RSS()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fds := func() int {
		f, err := soak.FDs(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	baseMed, baseMax := good("idle server")
	baseRSS, baseFDs := rss(), fds()

	prefix := []byte("POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 60<<10))
	held, failed := soak.HoldConns(ctx, addr, stallers, prefix)
	stallRSS, stallFDs := rss(), fds()
	stallMed, stallMax := good("stalled headers")
	soak.CloseAll(held)

	held, idleFailed := soak.HoldConns(ctx, addr, idlers, nil)
	idleFDs := fds()
	idleMed, idleMax := good("idle connections")
	idleRSS := rss()
	soak.CloseAll(held)

	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	t.Logf("slow clients: idle server RSS %s, %d fds, good delivery median %s max %s", mib(baseRSS), baseFDs, ms(baseMed), ms(baseMax))
	t.Logf("slow clients: %d clients stalled mid-headers (60 KiB sent, %d refused): RSS %s, %d fds, good delivery median %s max %s",
		stallers, failed, mib(stallRSS), stallFDs, ms(stallMed), ms(stallMax))
	t.Logf("slow clients: %d idle connections (%d refused): %d fds, RSS %s, good delivery median %s max %s",
		idlers, idleFailed, idleFDs, mib(idleRSS), ms(idleMed), ms(idleMax))
	if limit := httpserver.DefaultMaxConns + 64; stallFDs > limit || idleFDs > limit {
		t.Errorf("serve held %d and %d file descriptors, want at most the connection cap plus a few (%d)", stallFDs, idleFDs, limit)
	}
}
