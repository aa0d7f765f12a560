package smtest

import (
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

// FuzzParseFilter: any filter is accepted or refused without panicking,
// and an accepted "NOT f" matches exactly the states f does not.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "state:ENABLED", "state=DISABLED", "NOT state:DESTROYED", "-state:ENABLED",
		"state:(ENABLED OR DISABLED)", "state:ENABLED AND state:DISABLED", "state:(", ")(", "NOT"} {
		f.Add(s)
	}
	states := []secretmanagerpb.SecretVersion_State{
		secretmanagerpb.SecretVersion_ENABLED, secretmanagerpb.SecretVersion_DISABLED, secretmanagerpb.SecretVersion_DESTROYED,
	}
	f.Fuzz(func(t *testing.T, filter string) {
		match, err := parseFilter(filter)
		if err != nil {
			return
		}
		tokens := tokenizeFilter(filter)
		if len(tokens) != 1 || tokens[0] == "AND" {
			return
		}
		neg, err := parseFilter("NOT " + filter)
		if err != nil {
			if filter[0] == '-' || filter == "NOT" {
				return
			}
			t.Fatalf("NOT %q refused: %v", filter, err)
		}
		for _, s := range states {
			if match(s) == neg(s) && filter[0] != '-' {
				t.Fatalf("%q and its negation agree on %v", filter, s)
			}
		}
	})
}
