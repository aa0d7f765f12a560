// Package samples builds realistic Gemini webhook bodies for every event
// type in the catalog, for the local dev server, the send command, load
// generation and tests.
package samples

import (
	"encoding/json"
	"fmt"
	"time"
)

// Types lists the event types of Gemini's catalog, in a stable order.
var Types = []string{
	"batch.succeeded",
	"batch.failed",
	"batch.cancelled",
	"batch.expired",
	"interaction.completed",
	"interaction.requires_action",
	"interaction.failed",
	"interaction.cancelled",
	"video.generated",
}

// Body returns a body of eventType about resource n (a small number that
// makes ids distinct), stamped at. Unknown types get a body with an id only,
// the shape of a ping or a future event.
func Body(eventType string, n int, at time.Time) []byte {
	data := map[string]any{}
	switch eventType {
	case "batch.succeeded":
		data["id"] = fmt.Sprintf("batches/batch-%06d", n)
		data["output_file_uri"] = fmt.Sprintf("gs://gemini-batch-output/batch-%06d/results.jsonl", n)
	case "batch.failed":
		data["id"] = fmt.Sprintf("batches/batch-%06d", n)
		data["error_code"] = "INVALID_ARGUMENT"
		data["error_message"] = "Line 17 of the input file is not a valid GenerateContentRequest."
	case "batch.cancelled", "batch.expired":
		data["id"] = fmt.Sprintf("batches/batch-%06d", n)
	case "interaction.failed":
		data["id"] = fmt.Sprintf("interactions/ix-%06d", n)
		data["error_code"] = "INTERNAL"
		data["error_message"] = "The agent run stopped after an internal error."
	case "interaction.completed", "interaction.requires_action", "interaction.cancelled":
		data["id"] = fmt.Sprintf("interactions/ix-%06d", n)
	case "video.generated":
		data["id"] = fmt.Sprintf("models/veo-3.1-generate-preview/operations/op-%06d", n)
		data["output_file_uri"] = fmt.Sprintf("https://generativelanguage.googleapis.com/v1beta/files/video-%06d:download?alt=media", n)
		data["file_name"] = fmt.Sprintf("files/video-%06d", n)
	default:
		data["id"] = fmt.Sprintf("ping-%06d", n)
	}
	body, err := json.Marshal(map[string]any{
		"type":      eventType,
		"version":   "v1",
		"timestamp": at.UTC().Format(time.RFC3339),
		"data":      data,
	})
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return body
}

// ID returns a webhook-id in the msg_ style of the Standard Webhooks spec,
// unique for distinct (run, n).
func ID(run string, n int) string {
	return fmt.Sprintf("msg_%s%08d", run, n)
}
