package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// helpText is what 'geminihook help <command>' shows besides the flags.
type helpText struct {
	usage   string // the line after "usage: geminihook "
	example string // one or more command lines, shown under "example:"
}

// helpFor holds every command's usage line and example, in one place so
// that the README test and the help test read the same table. A command
// missing here fails TestEveryCommandHasHelp.
var helpFor = map[string]helpText{
	"serve": {"serve [flags]",
		"geminihook serve --port 8080   # with GOOGLE_CLOUD_PROJECT and GEMINI_WEBHOOK_SECRET set, as deployed"},
	"dev": {"dev [flags]",
		"geminihook dev --demo\ngeminihook dev --port 8081"},
	"send": {"send [flags]",
		"geminihook send --type video.generated\ngeminihook send --scheme jwt --type batch.failed --url http://127.0.0.1:8080\ngeminihook send --scheme jwt --type batch.succeeded --dispute"},
	"sign": {"sign [flags]",
		"geminihook sign --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --type batch.succeeded --curl"},
	"register": {"register [flags]",
		"geminihook register --url https://geminihook-abc123-uc.a.run.app --secret projects/my-project/secrets/gemini-webhook-secret"},
	"rotate": {"rotate [flags]",
		"geminihook rotate --secret projects/my-project/secrets/gemini-webhook-secret\ngeminihook rotate --finish --secret projects/my-project/secrets/gemini-webhook-secret"},
	"list": {"list [flags]",
		"geminihook list --json"},
	"ping": {"ping [flags] <webhook-id>",
		"geminihook ping k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f --project my-project"},
	"delete": {"delete [flags] <webhook-id>",
		"geminihook delete k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f"},
	"tail": {"tail [flags]",
		"geminihook tail --project my-project --family batch,video --max 10 --timeout 5m"},
	"replay": {"replay [flags]",
		"geminihook replay --project my-project --subscription gemini-quarantine-replay --dry-run --max 100 --timeout 2m"},
	"version": {"version",
		"geminihook version"},
}

// printHelp writes name's usage line, summary, flags and example.
func printHelp(w io.Writer, name string, fs *flag.FlagSet) {
	h, ok := helpFor[name]
	if !ok {
		h.usage = name + " [flags]"
	}
	fmt.Fprintf(w, "usage: geminihook %s\n", h.usage)
	if c, ok := commands[name]; ok {
		fmt.Fprintf(w, "\n%s\n", c.summary)
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		if strings.Contains(h.usage, "<") {
			fmt.Fprintln(w, "\nflags (before or after the arguments):")
		} else {
			fmt.Fprintln(w, "\nflags:")
		}
		fs.PrintDefaults()
	}
	if h.example != "" {
		fmt.Fprintln(w, "\nexample:")
		for _, line := range strings.Split(h.example, "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// parseArgs parses args with fs, accepting flags before and after the
// positional arguments (everything after "--" is positional), and returns
// the positional arguments. A bad flag has already been reported with the
// command's help; the error is then errUsage.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" && !flagTakesValue(fs, consumed) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagTakesValue reports whether the "--" that ends consumed is the value
// of the flag before it (as in --name --) rather than the terminator.
func flagTakesValue(fs *flag.FlagSet, consumed []string) bool {
	if len(consumed) < 2 {
		return false
	}
	prev := strings.TrimLeft(consumed[len(consumed)-2], "-")
	if prev == "" || strings.Contains(prev, "=") || !strings.HasPrefix(consumed[len(consumed)-2], "-") {
		return false
	}
	f := fs.Lookup(prev)
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// noArgs refuses positional arguments for a command that takes none.
func noArgs(fs *flag.FlagSet, name string, pos []string) error {
	if len(pos) == 0 {
		return nil
	}
	fmt.Fprintf(fs.Output(), "geminihook %s takes no arguments (got %q); run 'geminihook help %s'\n", name, pos[0], name)
	return errUsage
}
