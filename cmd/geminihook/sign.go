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
		summary: "print the webhook headers that sign a body, or a complete curl command (--curl)",
		run:     runSign,
	})
}

func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", stderr)
	var so signOptions
	so.flags(fs)
	url := fs.String("url", "", "the target: the jwt audience when --aud is not given, and where --curl posts (default: the running dev server, else "+defaultTarget+")")
	curl := fs.Bool("curl", false, "print a complete curl command line, quoted for a POSIX shell, that posts the body")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "sign", pos); err != nil {
		return err
	}
	if err := so.check(fs); err != nil {
		return err
	}
	target := targetURL(*url)
	body, err := so.body()
	if err != nil {
		return err
	}
	h, err := so.sign(body, target)
	if err != nil {
		return err
	}
	names := []string{verify.HeaderID, verify.HeaderTimestamp, verify.HeaderSignature}
	if !*curl {
		for _, name := range names {
			fmt.Fprintf(stdout, "%s: %s\n", name, h.Get(name))
		}
		return nil
	}
	words := []string{"curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json"}
	for _, name := range names {
		words = append(words, "-H", name+": "+h.Get(name))
	}
	words = append(words, "--data-binary", string(body), target)
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellQuote(w)
	}
	fmt.Fprintln(stdout, strings.Join(quoted, " "))
	return nil
}

// shellQuote quotes s for a POSIX shell: words of safe characters stay as
// they are, anything else is put in single quotes, with each ' written as
// '\”.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
