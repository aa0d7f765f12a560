package httpserver

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServe measures what the Server costs per request over net/http's
// own server: the same trivial handler (read the body, answer 200 with a
// small JSON body) behind New, behind a plain http.Server as the Functions
// Framework runs it (no timeouts), and behind a plain http.Server with New's
// timeouts (so the wrapper's cost and the timeouts' are told apart). Real
// TCP on loopback, keep-alive clients, 32 requests in flight. Besides ns/op
// (wall time, which on a shared machine measures the scheduler too) it
// reports cpu-ns/op: the process's user+system CPU per request, server and
// client together, the figure to compare.
//
//	go test -run '^$' -bench Serve -benchtime 20000x -count 6 ./internal/httpserver/
func BenchmarkServe(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"result":"published"}`+"\n")
	})
	plain := func(timeouts bool) func(net.Listener) (func(), error) {
		return func(ln net.Listener) (func(), error) {
			srv := &http.Server{Handler: handler}
			if timeouts {
				srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout = DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultIdleTimeout
				srv.MaxHeaderBytes = DefaultMaxHeaderBytes
			}
			go srv.Serve(ln)
			return func() { srv.Close() }, nil
		}
	}
	for _, bc := range []struct {
		name  string
		serve func(net.Listener) (func(), error)
	}{
		{"server=httpserver", func(ln net.Listener) (func(), error) {
			s := New(handler, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			go s.Serve(ln)
			return func() { s.Close() }, nil
		}},
		{"server=net-http", plain(false)},
		{"server=net-http+timeouts", plain(true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			stop, err := bc.serve(ln)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(stop)
			benchmarkClients(b, "http://"+ln.Addr().String()+"/")
		})
	}
}

// benchmarkClients posts b.N one-kilobyte bodies to url, 32 at a time over
// kept-alive connections, and fails on any answer but 200.
func benchmarkClients(b *testing.B, url string) {
	const inFlight = 32
	tr := &http.Transport{MaxIdleConnsPerHost: inFlight, MaxConnsPerHost: inFlight, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := bytes.Repeat([]byte("x"), 1024)
	post := func() error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			b.Errorf("answered %d", resp.StatusCode)
		}
		return err
	}
	// Open the connections before measuring.
	for range inFlight {
		if err := post(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism((inFlight + 1) / 2) // GOMAXPROCS is 2 on the benchmark machine
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := post(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
