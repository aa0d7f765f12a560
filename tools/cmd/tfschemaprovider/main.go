// Command tfschemaprovider is a schema-only Terraform provider for offline
// `tofu validate` and `tofu test` runs.
//
// One binary serves every provider in the committed schema dump. It picks the
// provider from the name it was started as: installed (copied or linked) as
// terraform-provider-google it serves hashicorp/google, as
// terraform-provider-archive it serves hashicorp/archive, and so on. A CLI
// configuration with dev_overrides points OpenTofu at the directory that
// holds those names; .ci/terraform.sh sets that up.
//
// Run with -list to print the providers it can serve.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tfprotov5/tf5server"

	"github.com/geminihook/geminihook/tools/tfschema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tfschemaprovider:", err)
		os.Exit(1)
	}
}

func run() error {
	list := flag.Bool("list", false, "print the providers the schema dump holds and exit")
	flag.Parse()
	if *list {
		names, err := tfschema.Names()
		if err != nil {
			return err
		}
		fmt.Println(strings.Join(names, "\n"))
		return nil
	}
	name, err := providerName(os.Args[0])
	if err != nil {
		return err
	}
	// The schema is loaded when an RPC first needs it, not here: most of the
	// provider processes OpenTofu starts never need it (see tfschema.Server).
	addr := "registry.opentofu.org/hashicorp/" + name
	srv := tfschema.NewLazyServer(name)
	if err := tf5server.Serve(addr, func() tfprotov5.ProviderServer { return srv }); err != nil {
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	return nil
}

// providerName derives the provider type from the executable's name:
// terraform-provider-google, terraform-provider-google_v7.45.0 and
// terraform-provider-google.exe all name "google".
func providerName(arg0 string) (string, error) {
	base := strings.TrimSuffix(filepath.Base(arg0), ".exe")
	name, ok := strings.CutPrefix(base, "terraform-provider-")
	if !ok || name == "" {
		return "", fmt.Errorf("started as %q: install this binary as terraform-provider-<name>", base)
	}
	name, _, _ = strings.Cut(name, "_")
	return name, nil
}
