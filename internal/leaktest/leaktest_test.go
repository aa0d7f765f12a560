package leaktest

import (
	"testing"
	"time"
)

// parked blocks until release is closed; it is the function the tests look for.
func parked(release chan struct{}, done chan struct{}) {
	<-release
	close(done)
}

func TestRunningAndWaitGone(t *testing.T) {
	const fn = "leaktest.parked"
	if g := Running(fn); len(g) != 0 {
		t.Fatalf("found %d goroutines before any started", len(g))
	}
	release, done := make(chan struct{}), make(chan struct{})
	go parked(release, done)
	for deadline := time.Now().Add(5 * time.Second); len(Running(fn)) != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the parked goroutine was not found")
		}
	}
	// Only the caller's goroutine is in Running itself.
	if g := Running("leaktest.Running("); len(g) != 0 {
		t.Fatalf("the caller's own goroutine was reported:\n%s", g[0])
	}
	close(release)
	<-done
	WaitGone(t, 5*time.Second, fn)
}
