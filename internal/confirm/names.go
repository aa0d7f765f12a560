package confirm

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/interactions"

	"github.com/geminihook/geminihook/events"
)

// The states of a video-generation operation, which has no state enum of
// its own: derived from its done flag and error.
const (
	VideoRunning   = "RUNNING"   // done is false
	VideoSucceeded = "SUCCEEDED" // done, no error
	VideoFailed    = "FAILED"    // done, with an error
)

// expectedState maps each canonical event type to the API state that
// confirms it (the table in the package doc).
var expectedState = map[string]string{
	"batch.succeeded":             string(genai.JobStateSucceeded),
	"batch.failed":                string(genai.JobStateFailed),
	"batch.cancelled":             string(genai.JobStateCancelled),
	"batch.expired":               string(genai.JobStateExpired),
	"interaction.completed":       string(interactions.InteractionStatusCompleted),
	"interaction.failed":          string(interactions.InteractionStatusFailed),
	"interaction.cancelled":       string(interactions.InteractionStatusCancelled),
	"interaction.requires_action": string(interactions.InteractionStatusRequiresAction),
	"video.generated":             VideoSucceeded,
}

// terminal holds the states a resource never leaves: a snapshot in one of
// them is cached. requires_action is not among them.
var terminal = map[string]bool{
	string(genai.JobStateSucceeded):                 true,
	string(genai.JobStateFailed):                    true,
	string(genai.JobStateCancelled):                 true,
	string(genai.JobStateExpired):                   true,
	string(interactions.InteractionStatusCompleted): true,
	string(interactions.InteractionStatusFailed):    true,
	string(interactions.InteractionStatusCancelled): true,
	VideoSucceeded: true,
	VideoFailed:    true,
}

// ExpectedState returns the API state that confirms event type t (aliases
// resolved), and false for a type that cannot be confirmed.
func ExpectedState(t string) (string, bool) {
	ti, _ := events.Lookup(t)
	s, ok := expectedState[ti.Type]
	return s, ok
}

// ErrInvalidID is wrapped by ResourceName's errors: data.id cannot name a
// resource of the family.
var ErrInvalidID = errors.New("confirm: data.id names no resource")

// segment is one path segment the SDK may put in a URL unescaped: RFC 3986
// unreserved characters, not starting with "." (no "." or "..").
const segment = `[A-Za-z0-9_~-][A-Za-z0-9._~-]*`

// The patterns of ids and resource names, compiled on first use rather
// than at init: every start of the function would pay for them, with
// confirmation off too.
var (
	bareID      = lazyRegexp(`^` + segment + `$`)
	batchRN     = lazyRegexp(`^batches/` + segment + `$`)
	interRN     = lazyRegexp(`^interactions/` + segment + `$`)
	videoRN     = lazyRegexp(`^(models/` + segment + `/)?operations/` + segment + `$`)
	maxIDLength = 512
)

// lazyRegexp returns a function that compiles expr on its first call.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// ResourceName maps an event's data.id to the API resource it names, as the
// package doc's table says, or returns an error wrapping ErrInvalidID. The
// error quotes id only up to 64 bytes.
func ResourceName(f events.Family, id string) (string, error) {
	if len(id) > 0 && len(id) <= maxIDLength {
		switch f {
		case events.FamilyBatch:
			if batchRN().MatchString(id) {
				return id, nil
			}
			if bareID().MatchString(id) {
				return "batches/" + id, nil
			}
		case events.FamilyInteraction:
			if interRN().MatchString(id) {
				return id, nil
			}
			if bareID().MatchString(id) {
				return "interactions/" + id, nil
			}
		case events.FamilyVideo:
			if videoRN().MatchString(id) {
				return id, nil
			}
			if bareID().MatchString(id) {
				return "operations/" + id, nil
			}
		}
	}
	q := id
	if len(q) > 64 {
		q = q[:64] + "…"
	}
	return "", fmt.Errorf("%w: %q is not a %s id", ErrInvalidID, strings.ToValidUTF8(q, "?"), f)
}
