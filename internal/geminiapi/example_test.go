package geminiapi_test

import (
	"context"
	"fmt"

	"github.com/geminihook/geminihook/internal/geminiapi"
	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
)

// Register a webhook and keep its one-time signing secret. Printing the
// webhook never shows the secret; Reveal does, for storing it.
func Example() {
	fake := geminiapitest.NewServer("my-key") // stands in for generativelanguage.googleapis.com
	defer fake.Close()

	c, err := geminiapi.New("my-key", geminiapi.Options{BaseURL: fake.URL})
	if err != nil {
		panic(err)
	}
	w, err := c.Create(context.Background(), geminiapi.CreateRequest{
		Name:             "prod",
		URI:              "https://example.run.app/",
		SubscribedEvents: []string{"batch.succeeded", "batch.failed"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(w.URI, w.SubscribedEvents, w.NewSigningSecret)
	fmt.Println(len(w.NewSigningSecret.Reveal()) > len("whsec_"))

	_, err = c.Get(context.Background(), "no-such-webhook")
	fmt.Println(err, geminiapi.IsNotFound(err))
	// Output:
	// https://example.run.app/ [batch.succeeded batch.failed] [redacted]
	// true
	// get webhook: 404 NOT_FOUND: Webhook not found. true
}
