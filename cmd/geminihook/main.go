// Command geminihook runs the Gemini webhook function locally, signs and sends
// test deliveries, and manages the webhooks registered with Gemini.
//
// Every subcommand lives in its own file and adds itself to the table with
// addCommand from an init function, so commands can be changed independently.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of the tool.
type command struct {
	name    string // the word after geminihook
	summary string // one line for the usage text
	// run executes the command with its own arguments. Output goes to
	// stdout and stderr so tests can capture it.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// addCommand registers c; it panics on a duplicate name, which is a
// programming error caught by any test that starts the binary.
func addCommand(c command) {
	if _, dup := commands[c.name]; dup {
		panic("geminihook: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage is returned by a command whose arguments were wrong; the usage
// text has already been printed.
var errUsage = flag.ErrHelp

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// runMain dispatches args to a subcommand and returns the exit code: 0 on
// success and for help asked for, 1 when a command failed, 2 for a usage
// error.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "help":
		switch len(args) {
		case 1:
			usage(stdout)
			return 0
		case 2:
			c, ok := commands[args[1]]
			if !ok {
				fmt.Fprintf(stderr, "geminihook help: unknown command %q\n\n", args[1])
				usage(stderr)
				return 2
			}
			return commandHelp(ctx, c, stdout)
		}
		fmt.Fprintln(stderr, "usage: geminihook help [command]")
		return 2
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "geminihook: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if wantsHelp(args[1:]) {
		return commandHelp(ctx, c, stdout)
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, errUsage) {
			return 2
		}
		fmt.Fprintf(stderr, "geminihook %s: %v\n", c.name, err)
		return 1
	}
	return 0
}

// commandHelp prints c's help (its flag set's usage) to w and returns 0.
func commandHelp(ctx context.Context, c command, w io.Writer) int {
	_ = c.run(ctx, []string{"-h"}, w, w)
	return 0
}

// wantsHelp reports whether args ask for help: -h, -help or --help before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: geminihook <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "flags may come before or after arguments; 'geminihook help <command>' (or")
	fmt.Fprintln(w, "'geminihook <command> -h') shows one command's flags and an example")
}

// newFlagSet returns a flag set that reports errors instead of exiting,
// writes to stderr, and whose usage text is the command's help (help.go).
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("geminihook "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printHelp(fs.Output(), name, fs) }
	return fs
}
