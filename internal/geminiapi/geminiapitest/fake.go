// Package geminiapitest runs an in-memory fake of the Gemini API's webhook
// service (the one google.golang.org/genai's client.Webhooks calls) on an
// httptest server.
//
// Its JSON comes from the SDK's own types: request bodies are decoded into
// webhooks.WebhookInput, webhooks.WebhookUpdate and
// webhooks.RotateSigningSecretRequest after a check that every key is one
// of the type's json names (so camelCase keys and output-only fields are
// refused, as the live API refuses them), and answers are encoded from
// webhooks.Webhook, webhooks.WebhookListResponse,
// webhooks.WebhookRotateSigningSecretResponse and
// webhooks.WebhookPingResponse. It refuses what the live API refuses, with
// Google's error JSON ({"error":{"code","message","status"}}):
//
//   - a missing x-goog-api-key (403 PERMISSION_DENIED) or a wrong one
//     (400 INVALID_ARGUMENT, "API key not valid");
//   - unknown body keys (400, `Unknown name "subscribedEvents"`);
//   - subscribed_events outside the seven subscribable types (400, listing
//     them), an empty list, a uri that is not https;
//   - an unknown revocation_behavior, state or update_mask path.
//
// The resource has the shape the API launched with: an output-only opaque
// id (no "webhooks/" prefix), an optional user name, new_signing_secret
// only in create's answer, signing_secrets of truncated_secret and
// expire_time. Unknown query parameters (such as the pre-launch
// webhook_id) are ignored, as the live API ignores them.
//
//	fake := geminiapitest.NewServer("test-key")
//	defer fake.Close()
//	api, _ := geminiapi.New(ctx, "test-key", geminiapi.Options{BaseURL: fake.URL})
package geminiapitest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai/interactions/models/webhooks"
)

// Operation names used by Fail, Delay and CallCount.
const (
	OpCreate = "create"
	OpList   = "list"
	OpGet    = "get"
	OpUpdate = "update"
	OpDelete = "delete"
	OpPing   = "ping"
	OpRotate = "rotate"
)

// SubscribableEvents are the subscribed_events values the API accepts, in
// the SDK's order.
var SubscribableEvents = []webhooks.WebhookSubscribedEvent{
	webhooks.WebhookSubscribedEventBatchSucceeded,
	webhooks.WebhookSubscribedEventBatchExpired,
	webhooks.WebhookSubscribedEventBatchFailed,
	webhooks.WebhookSubscribedEventInteractionRequiresAction,
	webhooks.WebhookSubscribedEventInteractionCompleted,
	webhooks.WebhookSubscribedEventInteractionFailed,
	webhooks.WebhookSubscribedEventVideoGenerated,
}

// Call is one request the fake received.
type Call struct {
	Op     string // one of the Op constants, or "" for an unknown route
	Method string
	Path   string
	Query  string
	// Body is the request body; requests carry no secrets.
	Body []byte
}

// Webhook is the fake's view of a webhook, including its active secrets.
type Webhook struct {
	ID               string
	Name             string // the user's optional name
	URI              string
	SubscribedEvents []string
	State            string
	CreateTime       time.Time
	UpdateTime       time.Time
	// Secrets are the secrets currently accepted, newest first, with the
	// time each expires (zero: no expiry).
	Secrets []FakeSecret
}

// FakeSecret is one issued signing secret.
type FakeSecret struct {
	Value  string
	Expire time.Time
}

type fault struct {
	status int
	msg    string
	left   int // calls still to fail; -1 = until Recover
}

// Server is the fake. Its exported fields may be set before the first call.
type Server struct {
	// URL is the base URL to give the client (no API version).
	URL string
	// APIKey is the key the fake accepts.
	APIKey string
	// APIVersion is the accepted path prefix; "v1beta" by default. Requests
	// under another version get 404.
	APIVersion string
	// PageSize is how many webhooks one List page holds when the request
	// gives no page_size (default 50).
	PageSize int
	// OnPing, if set, is called (outside the fake's lock) after a ping is
	// accepted, with the webhook's id and URI: tests use it to simulate the
	// delivery.
	OnPing func(id, uri string)
	// Now is the clock; time.Now if nil.
	Now func() time.Time

	srv *httptest.Server

	mu       sync.Mutex
	webhooks []*Webhook
	calls    []Call
	faults   map[string]fault
	delays   map[string]time.Duration
	pings    map[string]int
}

// NewServer starts a fake that accepts apiKey.
func NewServer(apiKey string) *Server {
	s := &Server{APIKey: apiKey, APIVersion: "v1beta", faults: map[string]fault{}, delays: map[string]time.Duration{}, pings: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Fail makes every later call of op ("" = every operation) answer status
// with message in Google's error JSON, until Recover. 429 and 503 answers
// carry "Retry-After: 1".
func (s *Server) Fail(op string, status int, message string) {
	s.FailTimes(op, -1, status, message)
}

// FailTimes is Fail for the next n calls of op only.
func (s *Server) FailTimes(op string, n, status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = fault{status, message, n}
}

// Delay makes every later call of op ("" = every operation) wait d (or until
// the client gives up) before it is served, until Recover.
func (s *Server) Delay(op string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[op] = d
}

// Recover removes injected faults and delays.
func (s *Server) Recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
	clear(s.delays)
}

// Calls returns the calls received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount reports how many calls of op were received.
func (s *Server) CallCount(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Webhooks returns copies of the stored webhooks, oldest first.
func (s *Server) Webhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Webhook, 0, len(s.webhooks))
	for _, w := range s.webhooks {
		c := *w
		c.SubscribedEvents = slices.Clone(w.SubscribedEvents)
		c.Secrets = slices.Clone(w.Secrets)
		out = append(out, c)
	}
	return out
}

// Pings reports how many pings webhook id received.
func (s *Server) Pings(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings[id]
}

// AddWebhook stores a webhook directly, without checking its events, and
// returns its id and secret.
func (s *Server) AddWebhook(name, uri string, events []string) (id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.newWebhookLocked(name, uri, events)
	return w.ID, w.Secrets[0].Value
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) newWebhookLocked(name, uri string, events []string) *Webhook {
	now := s.now().UTC()
	w := &Webhook{
		ID:               randomID(),
		Name:             name,
		URI:              uri,
		SubscribedEvents: slices.Clone(events),
		State:            string(webhooks.WebhookStateEnabled),
		CreateTime:       now,
		UpdateTime:       now,
		Secrets:          []FakeSecret{{Value: newSecret()}},
	}
	s.webhooks = append(s.webhooks, w)
	return w
}

// randomID returns an opaque id like the ones the API issues
// (36 lowercase letters and digits).
func randomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// statusCodes maps HTTP statuses to Google's canonical codes.
var statusCodes = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

// ErrorBody is Google's error JSON.
type ErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// writeError answers with Google's error JSON.
func writeError(w http.ResponseWriter, status int, msg string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message, b.Error.Status = status, msg, statusCodes[status]
	if b.Error.Status == "" {
		b.Error.Status = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(raw)
}

// route classifies a request path (after the version) into an operation and id.
func route(method, rest string) (op, id string) {
	switch {
	case rest == "webhooks" && method == http.MethodPost:
		return OpCreate, ""
	case rest == "webhooks" && method == http.MethodGet:
		return OpList, ""
	case strings.HasPrefix(rest, "webhooks/"):
		tail := strings.TrimPrefix(rest, "webhooks/")
		if id, ok := strings.CutSuffix(tail, ":ping"); ok && method == http.MethodPost {
			return OpPing, id
		}
		if id, ok := strings.CutSuffix(tail, ":rotateSigningSecret"); ok && method == http.MethodPost {
			return OpRotate, id
		}
		if tail == "" || strings.ContainsAny(tail, "/:") {
			return "", ""
		}
		switch method {
		case http.MethodGet:
			return OpGet, tail
		case http.MethodPatch:
			return OpUpdate, tail
		case http.MethodDelete:
			return OpDelete, tail
		}
	}
	return "", ""
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+s.APIVersion+"/")
	op, id := "", ""
	if ok {
		op, id = route(r.Method, rest)
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Op: op, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
	d, ok := s.delays[op]
	if !ok {
		d = s.delays[""]
	}
	fkey := op
	f, ok := s.faults[fkey]
	if !ok {
		fkey = ""
		f = s.faults[fkey]
	}
	if f.left > 0 {
		if f.left--; f.left == 0 {
			delete(s.faults, fkey)
		} else {
			s.faults[fkey] = f
		}
	}
	s.mu.Unlock()

	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch key := r.Header.Get("x-goog-api-key"); {
	case key == "":
		writeError(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	case key != s.APIKey:
		writeError(w, http.StatusBadRequest, "API key not valid. Please pass a valid API key.")
		return
	}
	if op == "" {
		writeError(w, http.StatusNotFound, "The requested URL was not found on this server.")
		return
	}
	if f.status != 0 {
		if f.status == http.StatusTooManyRequests || f.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, f.status, f.msg)
		return
	}
	switch op {
	case OpCreate:
		s.create(w, body)
	case OpList:
		s.list(w, r)
	case OpGet:
		s.withWebhook(w, id, func(h *Webhook) (any, error) { return render(h, ""), nil })
	case OpUpdate:
		s.update(w, r, id, body)
	case OpDelete:
		s.mu.Lock()
		i := slices.IndexFunc(s.webhooks, func(h *Webhook) bool { return h.ID == id })
		if i >= 0 {
			s.webhooks = slices.Delete(s.webhooks, i, i+1)
		}
		s.mu.Unlock()
		if i < 0 {
			writeNotFound(w)
			return
		}
		writeJSON(w, struct{}{})
	case OpPing:
		if err := decodeStrict(body, &webhooks.PingWebhookRequest{}, true); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var uri string
		s.withWebhook(w, id, func(h *Webhook) (any, error) {
			s.pings[id]++
			uri = h.URI
			return webhooks.WebhookPingResponse{}, nil
		})
		if uri != "" && s.OnPing != nil {
			s.OnPing(id, uri)
		}
	case OpRotate:
		s.rotate(w, id, body)
	}
}

func writeNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Webhook not found.")
}

// badRequest is an error answered with 400 INVALID_ARGUMENT.
type badRequest string

func (e badRequest) Error() string { return string(e) }

// withWebhook runs fn under the lock on webhook id and writes its result,
// 400 for a badRequest error, or 404 when there is no such webhook.
func (s *Server) withWebhook(w http.ResponseWriter, id string, fn func(*Webhook) (any, error)) {
	s.mu.Lock()
	var out any
	var err error
	for _, h := range s.webhooks {
		if h.ID == id {
			out, err = fn(h)
			break
		}
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	case out == nil:
		writeNotFound(w)
	default:
		writeJSON(w, out)
	}
}

// jsonNames returns the json key names of struct type t.
func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// decodeStrict decodes body into v (a pointer to one of the SDK's request
// types) after checking that every key is one of v's json names, exactly
// as spelled: encoding/json alone would match keys case-insensitively and
// the SDK's custom UnmarshalJSON methods skip DisallowUnknownFields. An
// empty body is allowed only when emptyOK.
func decodeStrict(body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("Invalid JSON payload received. Empty body.")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return badRequest("Invalid JSON payload received. " + err.Error())
	}
	known := jsonNames(reflect.TypeOf(v).Elem())
	for k := range keys {
		if !slices.Contains(known, k) {
			return badRequest(fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", k))
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("Invalid JSON payload received. " + err.Error())
	}
	return nil
}

// checkEvents refuses an empty list and values outside SubscribableEvents.
func checkEvents[E ~string](events []E) error {
	if len(events) == 0 {
		return badRequest("subscribed_events must not be empty.")
	}
	for _, e := range events {
		if !slices.Contains(SubscribableEvents, webhooks.WebhookSubscribedEvent(e)) {
			var want []string
			for _, s := range SubscribableEvents {
				want = append(want, string(s))
			}
			return badRequest(fmt.Sprintf("Invalid value at 'webhook.subscribed_events' (%q): must be one of %s.", string(e), strings.Join(want, ", ")))
		}
	}
	return nil
}

func checkURI(uri string) error {
	if !strings.HasPrefix(uri, "https://") || len(uri) == len("https://") {
		return badRequest("uri must be an https URL.")
	}
	return nil
}

// render builds the answer for h from the SDK's type; newSecret is set
// only on create.
func render(h *Webhook, newSecret string) webhooks.Webhook {
	id, state := h.ID, webhooks.WebhookState(h.State)
	created, updated := h.CreateTime, h.UpdateTime
	out := webhooks.Webhook{
		ID:         &id,
		URI:        h.URI,
		State:      &state,
		CreateTime: &created,
		UpdateTime: &updated,
	}
	for _, e := range h.SubscribedEvents {
		out.SubscribedEvents = append(out.SubscribedEvents, webhooks.WebhookSubscribedEvent(e))
	}
	if h.Name != "" {
		name := h.Name
		out.Name = &name
	}
	for _, sec := range h.Secrets {
		t := "whsec_..." + sec.Value[len(sec.Value)-4:]
		ss := webhooks.SigningSecret{TruncatedSecret: &t}
		if !sec.Expire.IsZero() {
			e := sec.Expire
			ss.ExpireTime = &e
		}
		out.SigningSecrets = append(out.SigningSecrets, ss)
	}
	if newSecret != "" {
		out.NewSigningSecret = &newSecret
	}
	return out
}

func (s *Server) create(w http.ResponseWriter, body []byte) {
	var req webhooks.WebhookInput
	err := decodeStrict(body, &req, false)
	if err == nil {
		err = checkURI(req.URI)
	}
	if err == nil {
		err = checkEvents(req.SubscribedEvents)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var events []string
	for _, e := range req.SubscribedEvents {
		events = append(events, string(e))
	}
	name := ""
	if req.Name != nil {
		name = *req.Name
	}
	s.mu.Lock()
	h := s.newWebhookLocked(name, req.URI, events)
	out := render(h, h.Secrets[0].Value)
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	size := s.PageSize
	if size <= 0 {
		size = 50
	}
	q := r.URL.Query()
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'page_size' (%q).", v))
			return
		}
		if n > 0 {
			size = n
		}
	}
	start := 0
	if tok := q.Get("page_token"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "Invalid page token.")
			return
		}
		start = n
	}
	s.mu.Lock()
	var out webhooks.WebhookListResponse
	end := min(start+size, len(s.webhooks))
	for i := start; i < end; i++ {
		out.Webhooks = append(out.Webhooks, render(s.webhooks[i], ""))
	}
	if end < len(s.webhooks) {
		tok := strconv.Itoa(end)
		out.NextPageToken = &tok
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

// update applies a PATCH with update_mask (comma-separated snake_case
// paths; empty means every field present in the body).
func (s *Server) update(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	var req webhooks.WebhookUpdate
	if err := decodeStrict(body, &req, false); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var paths []string
	if m := r.URL.Query().Get("update_mask"); m != "" {
		paths = strings.Split(m, ",")
	} else {
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(body, &keys)
		for k := range keys {
			paths = append(paths, k)
		}
	}
	for _, p := range paths {
		if !slices.Contains([]string{"name", "uri", "subscribed_events", "state"}, p) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid update_mask path %q.", p))
			return
		}
	}
	if slices.Contains(paths, "uri") {
		uri := ""
		if req.URI != nil {
			uri = *req.URI
		}
		if err := checkURI(uri); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if slices.Contains(paths, "subscribed_events") {
		if err := checkEvents(req.SubscribedEvents); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	s.withWebhook(w, id, func(h *Webhook) (any, error) {
		for _, p := range paths {
			switch p {
			case "name":
				h.Name = ""
				if req.Name != nil {
					h.Name = *req.Name
				}
			case "uri":
				h.URI = *req.URI
			case "subscribed_events":
				h.SubscribedEvents = nil
				for _, e := range req.SubscribedEvents {
					h.SubscribedEvents = append(h.SubscribedEvents, string(e))
				}
			case "state":
				if req.State == nil {
					return nil, badRequest("state must be set.")
				}
				h.State = string(*req.State)
			}
		}
		h.UpdateTime = s.now().UTC()
		return render(h, ""), nil
	})
}

func (s *Server) rotate(w http.ResponseWriter, id string, body []byte) {
	var req webhooks.RotateSigningSecretRequest
	if err := decodeStrict(body, &req, false); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The SDK's enum refuses unknown values while decoding; a missing one
	// is refused here rather than given a guessed default.
	if req.RevocationBehavior == nil {
		writeError(w, http.StatusBadRequest, "revocation_behavior is required.")
		return
	}
	behavior := *req.RevocationBehavior
	s.withWebhook(w, id, func(h *Webhook) (any, error) {
		now := s.now().UTC()
		var kept []FakeSecret
		if behavior == webhooks.RevocationBehaviorRevokePreviousSecretsAfterH24 {
			for _, old := range h.Secrets {
				if old.Expire.IsZero() {
					old.Expire = now.Add(24 * time.Hour)
				}
				if old.Expire.After(now) {
					kept = append(kept, old)
				}
			}
		}
		sec := newSecret()
		h.Secrets = append([]FakeSecret{{Value: sec}}, kept...)
		h.UpdateTime = now
		return webhooks.WebhookRotateSigningSecretResponse{Secret: &sec}, nil
	})
}
