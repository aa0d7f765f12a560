package confirm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminihook/geminihook/events"
)

// sdkClient is a genai client built for one API key.
type sdkClient struct {
	c *genai.Client
}

// clientFor returns a client for key, building a new one when the key
// changed (a rotation). Only a client that was built is kept.
func (c *Confirmer) clientFor(ctx context.Context, key string) (*sdkClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil && c.key == key {
		return c.client, nil
	}
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  c.opts.HTTPClient,
		HTTPOptions: genai.HTTPOptions{BaseURL: c.opts.BaseURL},
	})
	if err != nil {
		// genai's message prints the whole ClientConfig, key included:
		// never pass it on.
		return nil, errors.New("confirm: genai.NewClient failed")
	}
	c.key, c.client = key, &sdkClient{c: gc}
	return c.client, nil
}

// noRetries turns off the Interactions client's own retries: Confirm
// retries every family alike, within its deadline.
var noRetries = operations.WithRetries(retry.Config{Strategy: "none"})

// get reads name with the SDK call of family f.
func (s *sdkClient) get(ctx context.Context, f events.Family, name string) (snapshot, *apiError) {
	switch f {
	case events.FamilyBatch:
		job, err := s.c.Batches.Get(ctx, name, nil)
		if err != nil {
			return snapshot{}, classify(ctx, err)
		}
		out := snapshot{found: true, state: string(job.State)}
		if job.Dest != nil {
			out.output = job.Dest.FileName
		}
		if job.Error != nil {
			out.err = &events.Error{Message: job.Error.Message}
			if job.Error.Code != nil {
				out.err.Code = strconv.Itoa(int(*job.Error.Code))
			}
		}
		return out, nil
	case events.FamilyVideo:
		op, err := s.c.Operations.GetVideosOperation(ctx, &genai.GenerateVideosOperation{Name: name}, nil)
		if err != nil {
			return snapshot{}, classify(ctx, err)
		}
		switch {
		case !op.Done:
			return snapshot{found: true, state: VideoRunning}, nil
		case op.Error != nil:
			return snapshot{found: true, state: VideoFailed, err: operationError(op.Error)}, nil
		}
		out := snapshot{found: true, state: VideoSucceeded}
		if op.Response != nil {
			for _, v := range op.Response.GeneratedVideos {
				if v != nil && v.Video != nil && v.Video.URI != "" {
					out.output = v.Video.URI
					break
				}
			}
		}
		return out, nil
	case events.FamilyInteraction:
		id := strings.TrimPrefix(name, "interactions/")
		res, err := s.c.Interactions.Get(ctx, operations.GetInteractionByIDRequest{ID: id}, noRetries)
		if err != nil {
			return snapshot{}, classify(ctx, err)
		}
		ix := res.GetInteraction()
		if ix == nil {
			return snapshot{}, &apiError{class: classRetry, message: "the API answered without an interaction"}
		}
		out := snapshot{found: true, state: string(ix.Status)}
		if len(ix.Errors) > 0 {
			e := ix.Errors[0]
			out.err = &events.Error{}
			if e.Code != nil {
				out.err.Code = *e.Code
			}
			if e.Message != nil {
				out.err.Message = *e.Message
			}
		}
		return out, nil
	}
	return snapshot{}, &apiError{class: classFatal, message: "no API call for family " + string(f)}
}

// operationError reads a google.rpc.Status decoded into a map.
func operationError(m map[string]any) *events.Error {
	e := &events.Error{}
	switch c := m["code"].(type) {
	case float64:
		e.Code = strconv.FormatFloat(c, 'f', -1, 64)
	case string:
		e.Code = c
	}
	if msg, ok := m["message"].(string); ok {
		e.Message = msg
	}
	return e
}

// class is what a failed call means.
type class int

const (
	classRetry      class = iota // transport error, timeout, 408, 429, 5xx
	classNotFound                // 404: no such resource
	classRejected                // 400 for the name
	classKeyRefused              // 401, 403, 400 API_KEY_INVALID
	classFatal                   // anything else: not retried, not disputed
)

// apiError is a failed call, reduced to what is safe to report.
type apiError struct {
	class      class
	httpStatus int
	status     string
	message    string
}

// googleError is Google's JSON error envelope, decoded into the SDK's own
// error type.
type googleError struct {
	Error *genai.APIError `json:"error"`
}

// classify reduces an SDK error to an apiError. It reads the HTTP status
// from each error type the SDK returns; the Interactions client wraps the
// http.Response (and so the request and its key header) in its errors, so
// only the status and message are kept.
func classify(ctx context.Context, err error) *apiError {
	var (
		ge  genai.APIError
		ce  *apierrors.GetInteractionByIDClientError
		se  *apierrors.GetInteractionByIDServerError
		ae  *apierrors.APIError
		rve *apierrors.ResponseValidationError
	)
	var e apiError
	var reasons []string
	google := false // the answer is an error the API itself wrote
	switch {
	case errors.As(err, &ge):
		e.httpStatus, e.status, e.message = ge.Code, ge.Status, ge.Message
		reasons = detailReasons(ge.Details)
		// Without a JSON envelope the SDK puts the HTTP status line
		// ("404 Not Found") in Status; the envelope's is a code name.
		google = canonical().MatchString(ge.Status)
	case errors.As(err, &ce):
		e.httpStatus = statusOf(ce.HTTPMeta.Response)
		e.message = deref(ce.Error_.Message)
		e.status = deref(ce.Error_.Code)
		google = true // it matched the API's declared error schema
	case errors.As(err, &se):
		e.httpStatus = statusOf(se.HTTPMeta.Response)
		e.message = deref(se.Error_.Message)
		e.status = deref(se.Error_.Code)
	case errors.As(err, &rve):
		e.httpStatus = rve.StatusCode
		e.status, e.message, reasons = parseBody(rve.Body)
		google = e.status != ""
	case errors.As(err, &ae):
		e.httpStatus = ae.StatusCode
		e.status, e.message, reasons = parseBody(ae.Body)
		google = e.status != ""
	default:
		// Transport failure or timeout: no answer from the API. The
		// message names the URL, never the key (it travels in a header).
		e.class = classRetry
		e.message = err.Error()
		if ctx.Err() != nil {
			e.message = "no answer: " + ctx.Err().Error()
		}
		return &e
	}
	e.class = classOf(e.httpStatus, google, reasons)
	if len(e.message) > 512 {
		e.message = e.message[:512] + "…"
	}
	e.message = strings.ToValidUTF8(e.message, "?")
	return &e
}

// canonical matches a canonical status name such as NOT_FOUND.
// It is compiled on first use, not at init.
var canonical = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Z_]+$`) })

// classOf says what an answer means. A 404 or 400 disputes the event only
// when the API itself wrote it (Google's error envelope, or the
// Interactions API's declared error schema): a 404 page from a proxy or a
// wrong GEMINI_API_BASE_URL is a fault to retry and alert on, not a
// verdict on the delivery.
func classOf(httpStatus int, google bool, reasons []string) class {
	for _, r := range reasons {
		if r == "API_KEY_INVALID" || r == "API_KEY_SERVICE_BLOCKED" {
			return classKeyRefused
		}
	}
	switch {
	case httpStatus == http.StatusUnauthorized, httpStatus == http.StatusForbidden:
		return classKeyRefused
	case httpStatus == http.StatusNotFound && google:
		return classNotFound
	case httpStatus == http.StatusBadRequest && google:
		return classRejected
	case httpStatus == http.StatusRequestTimeout, httpStatus == http.StatusTooManyRequests, httpStatus >= 500:
		return classRetry
	}
	return classFatal
}

// parseBody reads Google's error envelope from a raw body.
func parseBody(body string) (status, message string, reasons []string) {
	var g googleError
	if json.Unmarshal([]byte(body), &g) != nil || g.Error == nil {
		return "", "", nil
	}
	return g.Error.Status, g.Error.Message, detailReasons(g.Error.Details)
}

// detailReasons returns the reason of each google.rpc.ErrorInfo detail.
func detailReasons(details []map[string]any) []string {
	var out []string
	for _, d := range details {
		if t, _ := d["@type"].(string); t != "type.googleapis.com/google.rpc.ErrorInfo" {
			continue
		}
		if r, ok := d["reason"].(string); ok {
			out = append(out, r)
		}
	}
	return out
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
