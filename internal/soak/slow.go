package soak

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"errors"
)

// HoldConns opens n connections to addr, one after another, and writes
// prefix on each (nothing when prefix is empty), as clients that stall do.
// It stops early when ctx ends. It returns the connections still open,
// for the caller to close, and how many dials or writes failed: a server
// may close or refuse connections, which is not an error here.
func HoldConns(ctx context.Context, addr string, n int, prefix []byte) (conns []net.Conn, failed int) {
	d := net.Dialer{Timeout: 2 * time.Second}
	for range n {
		if ctx.Err() != nil {
			break
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			failed++
			continue
		}
		if len(prefix) > 0 {
			c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(prefix); err != nil {
				failed++
				c.Close()
				continue
			}
		}
		conns = append(conns, c)
	}
	return conns, failed
}

// CloseAll closes every connection of conns.
func CloseAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// FDs returns how many file descriptors process pid holds, from
// /proc/<pid>/fd (Linux only).
func FDs(pid int) (int, error) {
	if runtime.GOOS != "linux" {
		return 0, errors.New("soak: FDs needs /proc (Linux)")
	}
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("list fds of %d: %w", pid, err)
	}
	return len(entries), nil
}
