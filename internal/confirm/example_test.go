package confirm_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"google.golang.org/genai"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/geminijobs"
)

// A batch.succeeded delivery is confirmed against a local Gemini API; a
// contradicting batch.failed for the same batch is disputed.
func Example() {
	api := geminijobs.New(geminijobs.Options{APIKey: "local-key"})
	api.SetBatch(genai.BatchJob{Name: "batches/batch_123456", State: genai.JobStateSucceeded,
		Dest: &genai.BatchJobDestination{FileName: "files/results"}})
	srv := httptest.NewServer(api)
	defer srv.Close()

	c, err := confirm.New(confirm.Options{
		APIKey:  func(context.Context) (string, error) { return "local-key", nil },
		BaseURL: srv.URL,
	})
	if err != nil {
		panic(err)
	}
	for _, typ := range []string{"batch.succeeded", "batch.failed"} {
		r, err := c.Confirm(context.Background(), confirm.Input{
			Family: events.FamilyBatch, Type: typ, Resource: "batch_123456"})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s %q (%s is %s, output %s)\n", typ, r.Verdict, r.Reason, r.Resource, r.APIState, r.OutputURI)
	}
	// Output:
	// batch.succeeded: confirmed "" (batches/batch_123456 is JOB_STATE_SUCCEEDED, output files/results)
	// batch.failed: disputed "state_mismatch" (batches/batch_123456 is JOB_STATE_SUCCEEDED, output files/results)
}
