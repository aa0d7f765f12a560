// Command tfinventory checks a Terraform module directory against
// geminihook's IAM and secret policy (package tfinventory) and prints the
// IAM grants it declares.
//
//	tfinventory terraform
package main

import (
	"fmt"
	"os"

	"github.com/geminihook/geminihook/tools/tfinventory"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tfinventory MODULE_DIR")
		os.Exit(2)
	}
	blocks, err := tfinventory.Inventory(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tfinventory:", err)
		os.Exit(1)
	}
	if err := tfinventory.Check(blocks); err != nil {
		fmt.Fprintf(os.Stderr, "tfinventory: %s:\n%v\n", os.Args[1], err)
		os.Exit(1)
	}
	for _, b := range blocks {
		if b.Role != "" {
			fmt.Printf("%-70s %s\n", b.Address(), b.Role)
		}
	}
	fmt.Printf("%s: %d blocks, IAM grants match the least-privilege set, no secret versions\n", os.Args[1], len(blocks))
}
