package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

func init() {
	addCommand(command{
		name:    "version",
		summary: "print the module version, commit and Go version this binary was built from",
		run:     runVersion,
	})
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "version", pos); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine describes the build: module version ("(devel)" for a build
// from a checkout), VCS revision and state when recorded, Go version.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "geminihook (no build information)"
	}
	line := "geminihook " + bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		line += " " + rev
		if modified == "true" {
			line += "+dirty"
		}
	}
	return line + " " + bi.GoVersion
}
