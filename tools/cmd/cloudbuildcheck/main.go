// Command cloudbuildcheck checks Cloud Build configuration files offline and
// exits non-zero if any has a problem.
//
//	cloudbuildcheck cloudbuild.yaml [more.yaml ...]
//
// See package cloudbuildcheck for what is checked.
package main

import (
	"fmt"
	"os"

	"github.com/geminihook/geminihook/tools/cloudbuildcheck"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cloudbuildcheck FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		config, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		b, err := cloudbuildcheck.Check(config)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s:\n%v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: ok (%d steps)\n", path, len(b.GetSteps()))
	}
	if failed {
		os.Exit(1)
	}
}
