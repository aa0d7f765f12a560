package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/geminihook/geminihook/verify"
)

func init() {
	addCommand(command{
		name:    "sign",
		summary: "print the webhook headers that sign a body (for curl)",
		run:     runSign,
	})
}

func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", stderr)
	var so signOptions
	so.flags(fs)
	curl := fs.Bool("curl", false, "print curl -H arguments instead of header lines")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	body, err := so.body()
	if err != nil {
		return err
	}
	h, err := so.sign(body, "")
	if err != nil {
		return err
	}
	for _, name := range []string{verify.HeaderID, verify.HeaderTimestamp, verify.HeaderSignature} {
		v := h.Get(name)
		if *curl {
			fmt.Fprintf(stdout, "-H '%s: %s' ", name, v)
		} else {
			fmt.Fprintf(stdout, "%s: %s\n", name, v)
		}
	}
	if *curl {
		fmt.Fprintln(stdout)
	}
	return nil
}

// readInput reads a body from a file name, "-" for stdin.
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// newID returns a fresh webhook-id.
func newID() string {
	return fmt.Sprintf("msg_%s%d", strings.ToLower(randomToken(8)), time.Now().UnixNano()%1e6)
}
