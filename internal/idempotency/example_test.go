package idempotency_test

import (
	"context"
	"fmt"

	"github.com/geminihook/geminihook/internal/idempotency"
)

// One delivery and its retry through a Guard on the memory store; the
// Firestore store (NewFirestore) is used the same way.
func ExampleGuard() {
	ctx := context.Background()
	guard := idempotency.NewGuard(idempotency.NewMemory(idempotency.MemoryOptions{}), idempotency.Options{})

	for _, attempt := range []string{"first", "retry"} {
		out, ticket, err := guard.Begin(ctx, "msg_1")
		if err != nil {
			fmt.Println("503: store unavailable")
			continue
		}
		switch out.State {
		case idempotency.New:
			// publish to Pub/Sub here; on failure call ticket.Release(ctx)
			_ = ticket.Published(ctx, "pubsub-id-7")
			fmt.Println(attempt, "published")
		case idempotency.Duplicate:
			fmt.Println(attempt, "duplicate of", out.MessageID)
		case idempotency.Busy:
			fmt.Println(attempt, "503, retry after", out.RetryAfter)
		}
	}
	// Output:
	// first published
	// retry duplicate of pubsub-id-7
}
