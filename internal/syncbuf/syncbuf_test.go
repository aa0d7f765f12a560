package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// Concurrent writers lose nothing, String reads while they write (the race
// detector checks the locking), and Take empties the buffer.
func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	if got := b.Take(); strings.Count(got, "line\n") != 800 {
		t.Fatalf("Take returned %d lines", strings.Count(got, "line\n"))
	}
	if b.String() != "" || b.Take() != "" {
		t.Fatal("Take left content behind")
	}
	b.Write([]byte("after"))
	if b.Take() != "after" {
		t.Fatal("Take after a write")
	}
}
