// Package loadgen sends correctly signed, uniquely identified Gemini webhook
// deliveries to a function on loopback, at a fixed open-loop rate or at a
// fixed concurrency, bounded in time and count, and reports throughput,
// latency percentiles and answers by status. It backs the load command and
// the benchmark driver.
//
// Deliveries are signed before the clock starts (Prepare), so the cost of
// minting RS256 tokens does not slow the generator during the run.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geminihook/geminihook/internal/samples"
	"github.com/geminihook/geminihook/verify"
	"github.com/geminihook/geminihook/verify/verifytest"
)

// Signature schemes a run can use.
const (
	SchemeHMAC  = "hmac"  // Standard Webhooks v1 HMAC with a whsec_ secret
	SchemeJWT   = "jwt"   // RS256 JWT minted with a development key
	SchemeMixed = "mixed" // alternating HMAC and JWT
	SchemeNone  = "none"  // unsigned bodies, for a bare handler baseline
)

// Signer signs deliveries for one target.
type Signer struct {
	// Scheme is one of the Scheme constants.
	Scheme string
	// Secret signs HMAC deliveries.
	Secret verify.Secret
	// Key mints JWT deliveries.
	Key *verifytest.Key
	// Audience is the JWT aud claim: the function's GEMINI_JWT_AUDIENCE,
	// without which it refuses every JWT delivery (AudienceFor gives the
	// value the bench and dev tools configure).
	Audience string
}

// Delivery is one prepared request.
type Delivery struct {
	ID     string
	Type   string
	Body   []byte
	Header http.Header
}

// Prepare builds n deliveries with ids samples.ID(run, i), cycling through
// every event type of samples.Types, signed at the current time. Every JWT
// delivery carries its own token whose jti is the delivery's id: the
// function dedupes a JWT delivery on the token's iss and jti, so a token
// shared by two deliveries would make the second a duplicate, answered but
// not published. An RS256 signature costs about a millisecond of CPU, so
// signing runs on every core, before the run's clock starts; it stops
// early when ctx ends.
func Prepare(ctx context.Context, s Signer, run string, n int) ([]Delivery, error) {
	switch s.Scheme {
	case SchemeHMAC, SchemeJWT, SchemeMixed, SchemeNone:
	default:
		return nil, fmt.Errorf("loadgen: unknown scheme %q (hmac, jwt, mixed or none)", s.Scheme)
	}
	if (s.Scheme == SchemeHMAC || s.Scheme == SchemeMixed) && s.Secret.IsZero() {
		return nil, errors.New("loadgen: hmac deliveries need a secret")
	}
	if (s.Scheme == SchemeJWT || s.Scheme == SchemeMixed) && (s.Key == nil || s.Audience == "") {
		return nil, errors.New("loadgen: jwt deliveries need a key and an audience")
	}
	now := time.Now()
	out := make([]Delivery, n)
	err := parallel(ctx, n, func(i int) error {
		d, err := s.delivery(run, i, now)
		out[i] = d
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parallel runs fn(0..n-1) on every core and stops at the first error or
// when ctx ends.
func parallel(ctx context.Context, n int, fn func(int) error) error {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if i%64 == 0 && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// delivery builds the i-th delivery of a run; a JWT delivery carries a
// token minted for it alone, with its id as jti.
func (s Signer) delivery(run string, i int, now time.Time) (Delivery, error) {
	typ := samples.Types[i%len(samples.Types)]
	d := Delivery{ID: samples.ID(run, i), Type: typ, Body: samples.Body(typ, i, now)}
	scheme := s.Scheme
	if scheme == SchemeMixed {
		scheme = SchemeHMAC
		if i%2 == 1 {
			scheme = SchemeJWT
		}
	}
	switch scheme {
	case SchemeHMAC:
		d.Header = verify.SignHeaders(s.Secret, d.ID, now, d.Body)
	case SchemeJWT:
		token, err := s.Key.Mint(map[string]any{"aud": s.Audience, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": d.ID})
		if err != nil {
			return Delivery{}, fmt.Errorf("loadgen: mint token: %w", err)
		}
		d.Header = http.Header{}
		d.Header.Set(verify.HeaderID, d.ID)
		d.Header.Set(verify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		d.Header.Set(verify.HeaderSignature, token)
	default:
		d.Header = http.Header{}
	}
	d.Header.Set("Content-Type", "application/json")
	return d, nil
}

// CheckLoopback returns an error unless target is an http URL whose host is
// a loopback address or "localhost": the generator never loads anything
// else.
func CheckLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("loadgen: parse target: %w", err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("loadgen: target %q: only http:// on loopback is allowed", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: target host %q is not a loopback address", host)
	}
	return nil
}

// Options bounds and shapes a run.
type Options struct {
	// URL is the target, on loopback.
	URL string
	// Rate is the open-loop arrival rate in deliveries per second. When it
	// is zero the run is closed-loop at Concurrency.
	Rate float64
	// Concurrency is the number of deliveries in flight of a closed-loop
	// run (default 1), and the most in flight of an open-loop run (default
	// 1024); an open-loop run that reaches it sends late and counts it.
	Concurrency int
	// Duration bounds the run; zero means until the deliveries are sent.
	Duration time.Duration
	// Timeout bounds one request; default 30s.
	Timeout time.Duration
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Report is the outcome of a run.
type Report struct {
	URL         string  `json:"url"`
	Mode        string  `json:"mode"` // "rate" or "concurrency"
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency"`
	// Sent counts deliveries sent; Answered those that got an HTTP answer.
	Sent     int `json:"sent"`
	Answered int `json:"answered"`
	OK       int `json:"ok"` // 200 answers
	// Late counts open-loop sends that left after their slot because
	// Concurrency deliveries were in flight.
	Late int `json:"late"`
	// Status counts answers by HTTP status; TransportErrors the requests
	// that got none.
	Status          map[string]int `json:"status"`
	TransportErrors int            `json:"transport_errors"`
	ErrorSample     string         `json:"error_sample,omitempty"`
	Seconds         float64        `json:"seconds"`
	// Throughput is 200 answers per second of the run.
	Throughput float64 `json:"throughput"`
	// Latency is measured from each delivery's scheduled send time (its
	// slot, for an open-loop run), so a stalled server is not hidden.
	Latency Latency `json:"latency"`
	// Published is the number of messages the emulator holds for the run,
	// when it was counted; -1 otherwise.
	Published int `json:"published"`
	// DistinctPublished is the number of distinct webhook ids among them.
	DistinctPublished int `json:"distinct_published"`
}

// Failed reports whether the run lost or refused anything: an answer other
// than 200, a request without answer, or (when counted) a published count
// different from the 200 answers.
func (r *Report) Failed() error {
	var errs []error
	if r.OK != r.Sent {
		errs = append(errs, fmt.Errorf("%d of %d deliveries were not answered 200 (status %v, %d transport errors)", r.Sent-r.OK, r.Sent, r.Status, r.TransportErrors))
	}
	if r.Published >= 0 && (r.Published != r.OK || r.DistinctPublished != r.OK) {
		errs = append(errs, fmt.Errorf("%d messages (%d distinct ids) published for %d answers 200", r.Published, r.DistinctPublished, r.OK))
	}
	return errors.Join(errs...)
}

// NewClient returns an HTTP client that keeps up to conns connections to
// one host alive.
func NewClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// result is one request's outcome.
type result struct {
	status  int
	latency time.Duration
	err     error
}

// Run sends deliveries to o.URL and reports. It stops when every delivery
// was sent and answered, when o.Duration passes (requests in flight are
// still awaited, up to o.Timeout), or when ctx ends.
func Run(ctx context.Context, o Options, deliveries []Delivery) (*Report, error) {
	if err := CheckLoopback(o.URL); err != nil {
		return nil, err
	}
	if o.Rate < 0 {
		return nil, fmt.Errorf("loadgen: negative rate %v", o.Rate)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	rep := &Report{URL: o.URL, Status: map[string]int{}, Published: -1, Rate: o.Rate}
	if o.Rate > 0 {
		rep.Mode = "rate"
		if o.Concurrency <= 0 {
			o.Concurrency = 1024
		}
	} else {
		rep.Mode = "concurrency"
		if o.Concurrency <= 0 {
			o.Concurrency = 1
		}
	}
	rep.Concurrency = o.Concurrency
	client := NewClient(o.Concurrency, o.Timeout)
	defer client.CloseIdleConnections()

	runCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}

	results := make([]result, len(deliveries))
	sent := 0
	start := time.Now()
	send := func(i int, slot time.Time) {
		results[i] = post(ctx, client, o.URL, deliveries[i], slot)
	}
	var wg sync.WaitGroup
	if o.Rate > 0 {
		sem := make(chan struct{}, o.Concurrency)
		interval := float64(time.Second) / o.Rate
	open:
		for i := range deliveries {
			slot := start.Add(time.Duration(float64(i) * interval))
			if d := time.Until(slot); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-runCtx.Done():
					t.Stop()
					break open
				}
			} else if runCtx.Err() != nil {
				break
			}
			select {
			case sem <- struct{}{}:
			default:
				rep.Late++
				select {
				case sem <- struct{}{}:
				case <-runCtx.Done():
					break open
				}
			}
			sent++
			wg.Go(func() {
				defer func() { <-sem }()
				send(i, slot)
			})
		}
	} else {
		var (
			mu   sync.Mutex
			next int
		)
		take := func() (int, bool) {
			mu.Lock()
			defer mu.Unlock()
			if next >= len(deliveries) || runCtx.Err() != nil {
				return 0, false
			}
			next++
			return next - 1, true
		}
		for range o.Concurrency {
			wg.Go(func() {
				for {
					i, ok := take()
					if !ok {
						return
					}
					send(i, time.Now())
				}
			})
		}
		wg.Wait()
		sent = next
	}
	wg.Wait()
	elapsed := time.Since(start)

	rep.Sent = sent
	rep.Seconds = elapsed.Seconds()
	lat := make([]time.Duration, 0, sent)
	for _, r := range results[:sent] {
		if r.err != nil {
			rep.TransportErrors++
			if rep.ErrorSample == "" {
				rep.ErrorSample = r.err.Error()
			}
			continue
		}
		rep.Answered++
		rep.Status[strconv.Itoa(r.status)]++
		if r.status == http.StatusOK {
			rep.OK++
		}
		lat = append(lat, r.latency)
	}
	if elapsed > 0 {
		rep.Throughput = float64(rep.OK) / elapsed.Seconds()
	}
	rep.Latency = percentiles(lat)
	return rep, nil
}

// post sends one delivery; latency counts from slot.
func post(ctx context.Context, client *http.Client, target string, d Delivery, slot time.Time) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.Body))
	if err != nil {
		return result{err: fmt.Errorf("new request: %w", err)}
	}
	for k, v := range d.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{err: fmt.Errorf("post: %w", err)}
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	lat := time.Since(slot)
	if err != nil {
		return result{err: fmt.Errorf("read answer: %w", err)}
	}
	return result{status: resp.StatusCode, latency: lat}
}

// percentiles summarizes latencies (nearest-rank).
func percentiles(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	at := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.999999) - 1
		return ms(lat[min(max(i, 0), len(lat)-1)])
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(lat[len(lat)-1]), Mean: ms(sum / time.Duration(len(lat)))}
}

// AudienceFor is the JWT audience the tools mint tokens for and configure
// the function with (GEMINI_JWT_AUDIENCE) when it serves target: the URL
// without a trailing slash.
func AudienceFor(target string) string { return strings.TrimSuffix(target, "/") }
