// Package leaktest finds goroutines by the functions on their stacks, for
// tests that check that a shutdown or a Close left nothing running.
package leaktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Running returns the stacks of the goroutines, other than the caller's,
// with a frame whose function name contains one of fns.
func Running(fns ...string) []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	// The caller's goroutine comes first.
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue
		}
		for _, fn := range fns {
			if strings.Contains(g, fn) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// WaitGone waits, for at most d, until no goroutine but the caller's runs
// one of fns, and fails t naming those still running after d. A leak check
// calls it first, so that it sees only its own test's goroutines and a
// leak left by an earlier test is reported as such.
func WaitGone(t testing.TB, d time.Duration, fns ...string) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		g := Running(fns...)
		if len(g) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running %s still there after %v:\n%s", len(g), strings.Join(fns, " or "), d, strings.Join(g, "\n\n"))
		}
	}
}
