package confirm_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
)

// unreserved is a path made of RFC 3986 unreserved characters and "/":
// what the SDK may put into a URL unescaped.
var unreserved = regexp.MustCompile(`^[A-Za-z0-9._~/-]+$`)

// FuzzResourceName checks that every name ResourceName returns is one the
// SDK can put into a URL path unescaped, inside the family's collection,
// without a dot segment, and ends with the id's last segment.
func FuzzResourceName(f *testing.F) {
	for _, s := range []string{"batch_123456", "batches/x", "interactions/x", "models/m/operations/o",
		"operations/o", "..", "a/../b", "a%2Fb", "a?b", "x\x00", "é"} {
		f.Add(s)
	}
	prefix := map[events.Family][]string{
		events.FamilyBatch:       {"batches/"},
		events.FamilyInteraction: {"interactions/"},
		events.FamilyVideo:       {"operations/", "models/"},
	}
	f.Fuzz(func(t *testing.T, id string) {
		for fam, prefixes := range prefix {
			name, err := confirm.ResourceName(fam, id)
			if err != nil {
				if !errors.Is(err, confirm.ErrInvalidID) {
					t.Fatalf("ResourceName(%s, %q): %v does not wrap ErrInvalidID", fam, id, err)
				}
				continue
			}
			ok := false
			for _, p := range prefixes {
				ok = ok || strings.HasPrefix(name, p)
			}
			if !ok || !unreserved.MatchString(name) || strings.Contains("/"+name+"/", "/./") ||
				strings.Contains("/"+name+"/", "/../") || strings.Contains(name, "//") {
				t.Fatalf("ResourceName(%s, %q) = %q: not a safe name in the collection", fam, id, name)
			}
			if last := name[strings.LastIndex(name, "/")+1:]; last != id[strings.LastIndex(id, "/")+1:] {
				t.Fatalf("ResourceName(%s, %q) = %q: last segment changed", fam, id, name)
			}
		}
	})
}
