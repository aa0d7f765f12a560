// Package geminijobs is a local stand-in for the three read calls of the
// Gemini API that confirm a webhook delivery: a batch
// (GET /v1beta/batches/{id}), a video-generation operation
// (GET /v1beta/models/{model}/operations/{id}, or /v1beta/operations/{id})
// and an interaction (GET /v1beta/interactions/{id}).
//
// It speaks the REST shapes that google.golang.org/genai v1.77.0 decodes,
// built from the SDK's own types: a batch is stored as a [genai.BatchJob]
// and served in the wire shape the SDK's converter reads (an operation whose
// metadata holds the state as BATCH_STATE_*, the SDK turning it back into
// JOB_STATE_*); a video operation is stored as a
// [genai.GenerateVideosOperation] and served with its videos under
// response.generateVideoResponse.generatedSamples; an interaction is an
// [interactions.Interaction] marshalled by its own MarshalJSON. The tests
// round-trip every shape through the real SDK.
//
// It refuses what the real API refuses, with Google's error JSON
// ({"error":{"code":…,"message":…,"status":…,"details":[…]}}): a request
// without x-goog-api-key gets 403 PERMISSION_DENIED, a wrong key 400
// INVALID_ARGUMENT with an ErrorInfo of reason API_KEY_INVALID (what the
// Gemini API answers for a bad key), [Server.RevokeKey] makes the key answer
// 403 PERMISSION_DENIED, an unknown resource 404 NOT_FOUND, a method other
// than GET 405.
//
// Fault switches: [Server.SetDelay] (a fixed delay before every answer),
// [Server.FailNext] (the next n requests answer a given status), and
// [Server.Calls] counts requests. Server is an http.Handler, so it runs
// under httptest in tests and under `geminihook dev` for local use.
package geminijobs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// APIKeyHeader is the header the SDK sends the API key in.
const APIKeyHeader = "x-goog-api-key"

// DefaultAPIVersion is the path prefix the SDK uses for the Gemini API.
const DefaultAPIVersion = "v1beta"

// Type URLs of the messages the real API wraps in its batch and video
// operations.
const (
	batchMetadataType = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"
	videoResponseType = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
)

// Options configures a Server; the zero value of each field is its default.
type Options struct {
	// APIKey is the one key accepted. Default "test-key".
	APIKey string
	// APIVersion is the path prefix served. Default DefaultAPIVersion.
	APIVersion string
}

// Server is the fake API. Its methods are safe for concurrent use, also
// while it serves.
type Server struct {
	key, version string

	mu       sync.Mutex
	revoked  bool
	delay    time.Duration
	failN    int
	failCode int
	calls    int
	batches  map[string]*genai.BatchJob
	videos   map[string]*genai.GenerateVideosOperation
	inters   map[string]interactions.Interaction
}

// New returns an empty Server.
func New(opts Options) *Server {
	s := &Server{
		key:     opts.APIKey,
		version: opts.APIVersion,
		batches: map[string]*genai.BatchJob{},
		videos:  map[string]*genai.GenerateVideosOperation{},
		inters:  map[string]interactions.Interaction{},
	}
	if s.key == "" {
		s.key = "test-key"
	}
	if s.version == "" {
		s.version = DefaultAPIVersion
	}
	return s
}

// APIKey returns the key the server accepts.
func (s *Server) APIKey() string { return s.key }

var (
	batchName = regexp.MustCompile(`^batches/[^/]+$`)
	videoName = regexp.MustCompile(`^(models/[^/]+/)?operations/[^/]+$`)
)

// SetBatch stores (or replaces) a batch. job.Name must be "batches/{id}".
// The fields served are Name, DisplayName, Model, State, CreateTime,
// EndTime, UpdateTime and Dest.FileName; the SDK reads no others from the
// Gemini API.
func (s *Server) SetBatch(job genai.BatchJob) {
	if !batchName.MatchString(job.Name) {
		panic(fmt.Sprintf("geminijobs: batch name %q is not batches/{id}", job.Name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches[job.Name] = &job
}

// SetVideoOperation stores (or replaces) a video-generation operation.
// op.Name must be "models/{model}/operations/{id}" or "operations/{id}".
func (s *Server) SetVideoOperation(op genai.GenerateVideosOperation) {
	if !videoName.MatchString(op.Name) {
		panic(fmt.Sprintf("geminijobs: operation name %q is not [models/{model}/]operations/{id}", op.Name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.videos[op.Name] = &op
}

// SetInteraction stores (or replaces) an interaction under its ID, which
// must be set and contain no "/".
func (s *Server) SetInteraction(ix interactions.Interaction) {
	if ix.ID == nil || *ix.ID == "" || strings.Contains(*ix.ID, "/") {
		panic("geminijobs: interaction needs an ID without '/'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inters[*ix.ID] = ix
}

// Delete removes the resource of that name ("batches/…", "operations/…",
// "models/…/operations/…" or "interactions/…") if it exists.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.batches, name)
	delete(s.videos, name)
	delete(s.inters, strings.TrimPrefix(name, "interactions/"))
}

// SetDelay makes every later request wait d before it is answered (or until
// the client gives up). Zero removes the delay.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailNext makes the next n requests answer status (429, 500, 503, …) with
// Google's error JSON, before any other check.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// RevokeKey makes the accepted key answer 403 PERMISSION_DENIED, as the API
// does for a key whose project lost access; RevokeKey(false) restores it.
func (s *Server) RevokeKey(revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = revoked
}

// Calls returns how many requests the server has received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	delay := s.delay
	fail := 0
	if s.failN > 0 {
		s.failN--
		fail = s.failCode
	}
	revoked := s.revoked
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fail != 0 {
		writeError(w, fail, statusFor(fail), "injected failure", nil)
		return
	}
	key := r.Header.Get(APIKeyHeader)
	switch {
	case key == "":
		writeError(w, http.StatusForbidden, code.Code_PERMISSION_DENIED,
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", nil)
		return
	case key != s.key:
		writeError(w, http.StatusBadRequest, code.Code_INVALID_ARGUMENT,
			"API key not valid. Please pass a valid API key.",
			&errdetails.ErrorInfo{Reason: "API_KEY_INVALID", Domain: "googleapis.com",
				Metadata: map[string]string{"service": "generativelanguage.googleapis.com"}})
		return
	case revoked:
		writeError(w, http.StatusForbidden, code.Code_PERMISSION_DENIED,
			"Permission denied: Consumer has been suspended.", nil)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, code.Code_UNIMPLEMENTED, "Method not allowed.", nil)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/"+s.version+"/")
	if !ok {
		writeError(w, http.StatusNotFound, code.Code_NOT_FOUND, "Unknown API version.", nil)
		return
	}
	body, found := s.lookup(name)
	if !found {
		writeError(w, http.StatusNotFound, code.Code_NOT_FOUND, "Requested entity was not found.", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(body)
}

// lookup returns the wire JSON of the resource named name.
func (s *Server) lookup(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v any
	switch {
	case batchName.MatchString(name):
		job, ok := s.batches[name]
		if !ok {
			return nil, false
		}
		v = batchWire(job)
	case videoName.MatchString(name):
		op, ok := s.videos[name]
		if !ok {
			return nil, false
		}
		v = videoWire(op)
	case strings.HasPrefix(name, "interactions/") && strings.Count(name, "/") == 1:
		ix, ok := s.inters[strings.TrimPrefix(name, "interactions/")]
		if !ok {
			return nil, false
		}
		v = ix
	default:
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("geminijobs: encode %s: %v", name, err))
	}
	return b, true
}

// batchWire is a batch as the Gemini API sends it: an operation whose
// metadata is the batch (read by the SDK's batchJobFromMldev).
type batchWireJSON struct {
	Name     string            `json:"name"`
	Metadata batchMetadataJSON `json:"metadata"`
	Done     bool              `json:"done,omitempty"`
}

type batchMetadataJSON struct {
	Type        string           `json:"@type"`
	Model       string           `json:"model,omitempty"`
	DisplayName string           `json:"displayName,omitempty"`
	State       string           `json:"state,omitempty"`
	CreateTime  string           `json:"createTime,omitempty"`
	EndTime     string           `json:"endTime,omitempty"`
	UpdateTime  string           `json:"updateTime,omitempty"`
	Output      *batchOutputJSON `json:"output,omitempty"`
}

type batchOutputJSON struct {
	ResponsesFile string `json:"responsesFile,omitempty"`
}

// BatchWireState returns the state the Gemini API sends for a batch in
// state st: BATCH_STATE_* where the SDK maps one back to st, st verbatim
// otherwise (the SDK passes unknown states through).
func BatchWireState(st genai.JobState) string {
	switch st {
	case genai.JobStateUnspecified, genai.JobStatePending, genai.JobStateRunning,
		genai.JobStateSucceeded, genai.JobStateFailed, genai.JobStateCancelled,
		genai.JobStateExpired:
		return "BATCH_STATE_" + strings.TrimPrefix(string(st), "JOB_STATE_")
	}
	return string(st)
}

func batchWire(job *genai.BatchJob) batchWireJSON {
	md := batchMetadataJSON{
		Type:        batchMetadataType,
		Model:       job.Model,
		DisplayName: job.DisplayName,
		State:       BatchWireState(job.State),
		CreateTime:  rfc3339(job.CreateTime),
		EndTime:     rfc3339(job.EndTime),
		UpdateTime:  rfc3339(job.UpdateTime),
	}
	if job.Dest != nil && job.Dest.FileName != "" {
		md.Output = &batchOutputJSON{ResponsesFile: job.Dest.FileName}
	}
	done := false
	switch job.State {
	case genai.JobStateSucceeded, genai.JobStateFailed, genai.JobStateCancelled, genai.JobStateExpired:
		done = true
	}
	return batchWireJSON{Name: job.Name, Metadata: md, Done: done}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// videoWireJSON is a video operation as the Gemini API sends it (read by
// the SDK's generateVideosOperationFromMldev).
type videoWireJSON struct {
	Name     string             `json:"name"`
	Metadata map[string]any     `json:"metadata,omitempty"`
	Done     bool               `json:"done,omitempty"`
	Error    map[string]any     `json:"error,omitempty"`
	Response *videoResponseJSON `json:"response,omitempty"`
}

type videoResponseJSON struct {
	Type                  string                    `json:"@type"`
	GenerateVideoResponse generateVideoResponseJSON `json:"generateVideoResponse"`
}

type generateVideoResponseJSON struct {
	GeneratedSamples        []generatedSampleJSON `json:"generatedSamples,omitempty"`
	RAIMediaFilteredCount   int32                 `json:"raiMediaFilteredCount,omitempty"`
	RAIMediaFilteredReasons []string              `json:"raiMediaFilteredReasons,omitempty"`
}

type generatedSampleJSON struct {
	Video videoJSON `json:"video"`
}

type videoJSON struct {
	URI      string `json:"uri,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

func videoWire(op *genai.GenerateVideosOperation) videoWireJSON {
	out := videoWireJSON{Name: op.Name, Metadata: op.Metadata, Done: op.Done, Error: op.Error}
	if r := op.Response; r != nil {
		g := generateVideoResponseJSON{
			RAIMediaFilteredCount:   r.RAIMediaFilteredCount,
			RAIMediaFilteredReasons: r.RAIMediaFilteredReasons,
		}
		for _, v := range r.GeneratedVideos {
			if v == nil || v.Video == nil {
				continue
			}
			g.GeneratedSamples = append(g.GeneratedSamples,
				generatedSampleJSON{Video: videoJSON{URI: v.Video.URI, Encoding: v.Video.MIMEType}})
		}
		out.Response = &videoResponseJSON{Type: videoResponseType, GenerateVideoResponse: g}
	}
	return out
}

// statusFor returns the canonical code Google pairs with an HTTP status.
func statusFor(httpStatus int) code.Code {
	switch httpStatus {
	case http.StatusBadRequest:
		return code.Code_INVALID_ARGUMENT
	case http.StatusUnauthorized:
		return code.Code_UNAUTHENTICATED
	case http.StatusForbidden:
		return code.Code_PERMISSION_DENIED
	case http.StatusNotFound:
		return code.Code_NOT_FOUND
	case http.StatusTooManyRequests:
		return code.Code_RESOURCE_EXHAUSTED
	case http.StatusNotImplemented:
		return code.Code_UNIMPLEMENTED
	case http.StatusServiceUnavailable:
		return code.Code_UNAVAILABLE
	case http.StatusGatewayTimeout:
		return code.Code_DEADLINE_EXCEEDED
	}
	return code.Code_INTERNAL
}

// writeError writes Google's JSON error envelope, encoded from the SDK's
// own error type (genai.APIError is what the SDK decodes "error" into), with
// an optional ErrorInfo detail encoded by protojson as an Any.
func writeError(w http.ResponseWriter, httpStatus int, c code.Code, msg string, info *errdetails.ErrorInfo) {
	e := genai.APIError{Code: httpStatus, Message: msg, Status: c.String()}
	if info != nil {
		a, err := anypb.New(info)
		if err != nil {
			panic(fmt.Sprintf("geminijobs: wrap ErrorInfo: %v", err))
		}
		b, err := protojson.Marshal(a)
		if err != nil {
			panic(fmt.Sprintf("geminijobs: encode ErrorInfo: %v", err))
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			panic(fmt.Sprintf("geminijobs: decode ErrorInfo: %v", err))
		}
		e.Details = []map[string]any{d}
	}
	b, err := json.Marshal(struct {
		Error genai.APIError `json:"error"`
	}{e})
	if err != nil {
		panic(fmt.Sprintf("geminijobs: encode error: %v", err))
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(b)
}
