package geminijobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminihook/geminihook/internal/geminijobs"
)

func start(t *testing.T) (*geminijobs.Server, *httptest.Server) {
	t.Helper()
	fake := geminijobs.New(geminijobs.Options{APIKey: "k-123"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv
}

func sdk(t *testing.T, srv *httptest.Server, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

var noRetry = operations.WithRetries(retry.Config{Strategy: "none"})

// Every JobState round-trips through the wire shape and the SDK's
// converter, including the states the SDK passes through unchanged.
func TestBatchRoundTrip(t *testing.T) {
	fake, srv := start(t)
	c := sdk(t, srv, "k-123")
	created := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, st := range []genai.JobState{
		genai.JobStatePending, genai.JobStateRunning, genai.JobStateSucceeded,
		genai.JobStateFailed, genai.JobStateCancelled, genai.JobStateExpired,
		genai.JobStateQueued, genai.JobStatePaused,
	} {
		t.Run(string(st), func(t *testing.T) {
			want := genai.BatchJob{
				Name:        "batches/b-" + strings.ToLower(string(st)),
				DisplayName: "nightly",
				Model:       "models/gemini-3.8-flash",
				State:       st,
				CreateTime:  created,
				UpdateTime:  created.Add(time.Hour),
				Dest:        &genai.BatchJobDestination{FileName: "files/out-1"},
			}
			fake.SetBatch(want)
			got, err := c.Batches.Get(context.Background(), want.Name, nil)
			if err != nil {
				t.Fatalf("Batches.Get: %v", err)
			}
			if got.Name != want.Name || got.State != st || got.DisplayName != want.DisplayName ||
				got.Model != want.Model || !got.CreateTime.Equal(created) ||
				!got.UpdateTime.Equal(want.UpdateTime) || got.Dest == nil || got.Dest.FileName != "files/out-1" {
				t.Errorf("Batches.Get = %+v (dest %+v), want %+v", got, got.Dest, want)
			}
		})
	}
}

func TestVideoOperationRoundTrip(t *testing.T) {
	fake, srv := start(t)
	c := sdk(t, srv, "k-123")
	tests := []struct {
		name string
		op   genai.GenerateVideosOperation
	}{
		{"running", genai.GenerateVideosOperation{Name: "models/veo-3.0-generate-001/operations/r1"}},
		{"done", genai.GenerateVideosOperation{
			Name: "models/veo-3.0-generate-001/operations/d1", Done: true,
			Response: &genai.GenerateVideosResponse{GeneratedVideos: []*genai.GeneratedVideo{
				{Video: &genai.Video{URI: "https://generativelanguage.googleapis.com/v1beta/files/v1:download?alt=media", MIMEType: "video/mp4"}},
			}},
		}},
		{"failed", genai.GenerateVideosOperation{
			Name: "operations/f1", Done: true,
			Error: map[string]any{"code": float64(3), "message": "prompt blocked"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.SetVideoOperation(tc.op)
			got, err := c.Operations.GetVideosOperation(context.Background(), &genai.GenerateVideosOperation{Name: tc.op.Name}, nil)
			if err != nil {
				t.Fatalf("GetVideosOperation: %v", err)
			}
			if got.Name != tc.op.Name || got.Done != tc.op.Done {
				t.Errorf("got name %q done %v, want %q %v", got.Name, got.Done, tc.op.Name, tc.op.Done)
			}
			if tc.op.Error != nil && (got.Error["code"] != tc.op.Error["code"] || got.Error["message"] != tc.op.Error["message"]) {
				t.Errorf("error = %v, want %v", got.Error, tc.op.Error)
			}
			if tc.op.Response != nil {
				if got.Response == nil || len(got.Response.GeneratedVideos) != 1 {
					t.Fatalf("response = %+v, want one video", got.Response)
				}
				v, w := got.Response.GeneratedVideos[0].Video, tc.op.Response.GeneratedVideos[0].Video
				if v.URI != w.URI || v.MIMEType != w.MIMEType {
					t.Errorf("video = %+v, want %+v", v, w)
				}
			} else if got.Response != nil {
				t.Errorf("response = %+v, want none", got.Response)
			}
		})
	}
}

func TestInteractionRoundTrip(t *testing.T) {
	fake, srv := start(t)
	c := sdk(t, srv, "k-123")
	id, code, msg := "ix-1", "internal", "tool crashed"
	fake.SetInteraction(interactions.Interaction{
		ID: &id, Status: interactions.InteractionStatusFailed,
		Errors: []interactions.Error{{Code: &code, Message: &msg}},
	})
	res, err := c.Interactions.Get(context.Background(), operations.GetInteractionByIDRequest{ID: id}, noRetry)
	if err != nil {
		t.Fatalf("Interactions.Get: %v", err)
	}
	ix := res.GetInteraction()
	if ix == nil || ix.ID == nil || *ix.ID != id || ix.Status != interactions.InteractionStatusFailed ||
		len(ix.Errors) != 1 || *ix.Errors[0].Code != code || *ix.Errors[0].Message != msg {
		t.Fatalf("Interactions.Get = %+v, want the stored interaction", ix)
	}
}

func TestRefusals(t *testing.T) {
	fake, srv := start(t)
	fake.SetBatch(genai.BatchJob{Name: "batches/b1", State: genai.JobStateSucceeded})
	ctx := context.Background()

	t.Run("wrong key", func(t *testing.T) {
		_, err := sdk(t, srv, "nope").Batches.Get(ctx, "batches/b1", nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" ||
			len(ae.Details) != 1 || ae.Details[0]["reason"] != "API_KEY_INVALID" ||
			ae.Details[0]["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" {
			t.Fatalf("err = %#v, want 400 INVALID_ARGUMENT API_KEY_INVALID", err)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/v1beta/batches/b1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Error genai.APIError }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 403 || body.Error.Code != 403 || body.Error.Status != "PERMISSION_DENIED" {
			t.Fatalf("got %d %+v, want 403 PERMISSION_DENIED", resp.StatusCode, body.Error)
		}
	})
	t.Run("revoked key", func(t *testing.T) {
		fake.RevokeKey(true)
		defer fake.RevokeKey(false)
		_, err := sdk(t, srv, "k-123").Batches.Get(ctx, "batches/b1", nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != 403 || ae.Status != "PERMISSION_DENIED" {
			t.Fatalf("err = %v, want 403", err)
		}
	})
	t.Run("unknown batch", func(t *testing.T) {
		_, err := sdk(t, srv, "k-123").Batches.Get(ctx, "batches/nope", nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != 404 || ae.Status != "NOT_FOUND" {
			t.Fatalf("err = %v, want 404 NOT_FOUND", err)
		}
	})
	t.Run("unknown operation", func(t *testing.T) {
		_, err := sdk(t, srv, "k-123").Operations.GetVideosOperation(ctx, &genai.GenerateVideosOperation{Name: "operations/nope"}, nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != 404 {
			t.Fatalf("err = %v, want 404", err)
		}
	})
	t.Run("unknown interaction", func(t *testing.T) {
		_, err := sdk(t, srv, "k-123").Interactions.Get(ctx, operations.GetInteractionByIDRequest{ID: "nope"}, noRetry)
		// Google's envelope has a numeric code where the Interactions
		// client's error type wants a string: the SDK reports a
		// validation error that still carries the status and the body.
		var rve *apierrors.ResponseValidationError
		var ce *apierrors.GetInteractionByIDClientError
		switch {
		case errors.As(err, &rve):
			if rve.StatusCode != 404 || !strings.Contains(rve.Body, "NOT_FOUND") {
				t.Fatalf("err = %v (status %d), want 404", err, rve.StatusCode)
			}
		case errors.As(err, &ce):
			if ce.HTTPMeta.Response.StatusCode != 404 {
				t.Fatalf("status = %d, want 404", ce.HTTPMeta.Response.StatusCode)
			}
		default:
			t.Fatalf("err = %T %v, want a 404 error", err, err)
		}
	})
	t.Run("POST", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/batches/b1", nil)
		req.Header.Set(geminijobs.APIKeyHeader, "k-123")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Fatalf("status = %d, want 405", resp.StatusCode)
		}
	})
}

func TestFaults(t *testing.T) {
	fake, srv := start(t)
	fake.SetBatch(genai.BatchJob{Name: "batches/b1", State: genai.JobStateSucceeded})
	c := sdk(t, srv, "k-123")
	ctx := context.Background()

	before := fake.Calls()
	fake.FailNext(2, 429)
	for i, want := range []int{429, 429, 0} {
		_, err := c.Batches.Get(ctx, "batches/b1", nil)
		var ae genai.APIError
		switch {
		case want == 0 && err != nil:
			t.Fatalf("call %d: %v, want success", i, err)
		case want != 0 && (!errors.As(err, &ae) || ae.Code != want || ae.Status != "RESOURCE_EXHAUSTED"):
			t.Fatalf("call %d: %v, want %d RESOURCE_EXHAUSTED", i, err, want)
		}
	}
	if n := fake.Calls() - before; n != 3 {
		t.Errorf("Calls grew by %d, want 3", n)
	}

	fake.SetDelay(time.Hour)
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Batches.Get(tctx, "batches/b1", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed call: %v, want the deadline", err)
	}
	fake.SetDelay(0)
	if _, err := c.Batches.Get(ctx, "batches/b1", nil); err != nil {
		t.Fatalf("after removing the delay: %v", err)
	}
}

// The JSON on the wire is the shape the SDK converts from, not the SDK's Go
// struct JSON: the state sits under metadata as BATCH_STATE_*.
func TestBatchWireShape(t *testing.T) {
	fake, srv := start(t)
	fake.SetBatch(genai.BatchJob{Name: "batches/b1", State: genai.JobStateSucceeded})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1beta/batches/b1", nil)
	req.Header.Set(geminijobs.APIKeyHeader, "k-123")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Name     string
		Done     bool
		Metadata map[string]any
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "batches/b1" || !m.Done || m.Metadata["state"] != "BATCH_STATE_SUCCEEDED" {
		t.Fatalf("wire = %s", b)
	}
}
