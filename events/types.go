package events

// Family groups event types; each family has its own Pub/Sub topic.
type Family string

// The topic families. Every [Event] belongs to one of the first four;
// FamilyQuarantine names only a topic.
const (
	// FamilyBatch holds batch.* events (Batch API jobs).
	FamilyBatch Family = "batch"
	// FamilyInteraction holds interaction.* events (Interactions API background runs).
	FamilyInteraction Family = "interaction"
	// FamilyVideo holds video.* events (Veo video generation).
	FamilyVideo Family = "video"
	// FamilyOther holds well-formed events of a type this version does not
	// know: pings and event types Gemini adds later.
	FamilyOther Family = "other"
	// FamilyQuarantine is only a topic: authentic deliveries whose body could
	// not be understood, published verbatim by [NewQuarantineMessage].
	FamilyQuarantine Family = "quarantine"
)

// Families lists the five topic families in a stable order:
// batch, interaction, video, other, quarantine.
func Families() []Family {
	return []Family{FamilyBatch, FamilyInteraction, FamilyVideo, FamilyOther, FamilyQuarantine}
}

// Topic returns the topic name of family f under prefix:
// Topic("gemini-", FamilyBatch) == "gemini-batch".
func Topic(prefix string, f Family) string {
	return prefix + string(f)
}

// Outcome is the normalized result of the job an event reports; consumers
// switch on it instead of on Gemini's type names.
type Outcome string

// The outcomes.
const (
	// OutcomeSucceeded: the job finished and its output, if any, is ready.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFailed: the job ended with a system or validation error.
	OutcomeFailed Outcome = "failed"
	// OutcomeCancelled: the job was cancelled by its owner.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeExpired: the job did not finish within its window.
	OutcomeExpired Outcome = "expired"
	// OutcomeRequiresAction: the job waits for the caller (a pending function call).
	OutcomeRequiresAction Outcome = "requires_action"
	// OutcomeUnknown: the event's type is not known to this version (FamilyOther).
	OutcomeUnknown Outcome = "unknown"
)

// TypeInfo describes one known Gemini event type.
type TypeInfo struct {
	// Type is the canonical type name, as in Gemini's event catalog.
	Type string
	// Family is the topic family of the type.
	Family Family
	// Outcome is the normalized outcome the type reports.
	Outcome Outcome
}

// registry is Gemini's event catalog (reference section 4), in catalog order.
var registry = [...]TypeInfo{
	{"batch.succeeded", FamilyBatch, OutcomeSucceeded},
	{"batch.cancelled", FamilyBatch, OutcomeCancelled},
	{"batch.expired", FamilyBatch, OutcomeExpired},
	{"batch.failed", FamilyBatch, OutcomeFailed},
	{"interaction.requires_action", FamilyInteraction, OutcomeRequiresAction},
	{"interaction.completed", FamilyInteraction, OutcomeSucceeded},
	{"interaction.failed", FamilyInteraction, OutcomeFailed},
	{"interaction.cancelled", FamilyInteraction, OutcomeCancelled},
	{"video.generated", FamilyVideo, OutcomeSucceeded},
}

// aliases maps type names seen in some Gemini documentation revisions to the
// canonical entry they mean.
var aliases = map[string]string{
	"batch.completed": "batch.succeeded",
}

// Types returns the registry of known event types (Gemini's catalog of nine),
// in a stable order. Aliases are not listed; see [Lookup].
func Types() []TypeInfo {
	out := make([]TypeInfo, len(registry))
	copy(out, registry[:])
	return out
}

// Lookup returns the description of event type t. Matching is exact and
// case-sensitive. Aliases resolve to their canonical entry, whose Type is the
// canonical name: Lookup("batch.completed") reports Type "batch.succeeded".
// For a type this version does not know, Lookup returns Type t with
// FamilyOther and OutcomeUnknown, and false.
func Lookup(t string) (TypeInfo, bool) {
	if c, ok := aliases[t]; ok {
		t = c
	}
	for _, ti := range registry {
		if ti.Type == t {
			return ti, true
		}
	}
	return TypeInfo{Type: t, Family: FamilyOther, Outcome: OutcomeUnknown}, false
}
