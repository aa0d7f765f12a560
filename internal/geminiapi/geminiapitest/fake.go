// Package geminiapitest runs an in-memory fake of the Gemini API's
// WebhookService on an httptest server.
//
// The fake enforces the x-goog-api-key header (403 with Google's error JSON
// otherwise), keeps webhooks in memory, issues whsec_ secrets on create and
// rotate (revoking old ones immediately or after 24 hours), pages List,
// records every call, and lets tests inject error answers and delays:
//
//	fake := geminiapitest.NewServer("test-key")
//	defer fake.Close()
//	client, _ := geminiapi.New("test-key", geminiapi.Options{BaseURL: fake.URL})
package geminiapitest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Operation names used by Fail, Delay and Call.
const (
	OpCreate = "create"
	OpList   = "list"
	OpGet    = "get"
	OpDelete = "delete"
	OpPing   = "ping"
	OpRotate = "rotate"
)

// Call is one request the fake received.
type Call struct {
	Op     string // one of the Op constants, or "" for an unknown route
	Method string
	Path   string
	// Body is the request body; requests carry no secrets.
	Body []byte
}

// Webhook is the fake's view of a webhook, including its active secrets.
type Webhook struct {
	ID               string
	DisplayName      string
	URI              string
	SubscribedEvents []string
	State            string
	CreateTime       time.Time
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
	// PageSize is how many webhooks one List page holds (default 50).
	PageSize int
	// OmitID makes answers carry only name = "webhooks/{id}", no id field.
	OmitID bool
	// CamelCase makes answers use camelCase field names.
	CamelCase bool
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

// Webhook returns a copy of the webhook with id, and whether it exists.
func (s *Server) Webhook(id string) (Webhook, bool) {
	for _, w := range s.Webhooks() {
		if w.ID == id {
			return w, true
		}
	}
	return Webhook{}, false
}

// Pings reports how many pings webhook id received.
func (s *Server) Pings(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings[id]
}

// AddWebhook stores a webhook directly and returns its id and secret.
func (s *Server) AddWebhook(displayName, uri string, events []string) (id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.newWebhookLocked(displayName, uri, events)
	return w.ID, w.Secrets[0].Value
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) newWebhookLocked(displayName, uri string, events []string) *Webhook {
	w := &Webhook{
		ID:               randomID(),
		DisplayName:      displayName,
		URI:              uri,
		SubscribedEvents: slices.Clone(events),
		State:            "enabled",
		CreateTime:       s.now().UTC(),
		Secrets:          []FakeSecret{{Value: newSecret()}},
	}
	s.webhooks = append(s.webhooks, w)
	return w
}

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

// writeError answers with Google's error JSON.
func writeError(w http.ResponseWriter, status int, msg string) {
	codes := map[int]string{
		400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
		409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
	}
	code, ok := codes[status]
	if !ok {
		code = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": code}})
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
		if strings.ContainsAny(tail, "/:") {
			return "", ""
		}
		switch method {
		case http.MethodGet:
			return OpGet, tail
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
	s.calls = append(s.calls, Call{Op: op, Method: r.Method, Path: r.URL.Path, Body: body})
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
	if r.Header.Get("x-goog-api-key") != s.APIKey || s.APIKey == "" {
		writeError(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
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
		s.create(w, r, body)
	case OpList:
		s.list(w, r)
	case OpGet:
		s.withWebhook(w, id, func(h *Webhook) any { return s.render(h, "") })
	case OpDelete:
		s.mu.Lock()
		i := slices.IndexFunc(s.webhooks, func(h *Webhook) bool { return h.ID == id })
		if i >= 0 {
			s.webhooks = slices.Delete(s.webhooks, i, i+1)
		}
		s.mu.Unlock()
		if i < 0 {
			writeError(w, http.StatusNotFound, "Webhook not found.")
			return
		}
		writeJSON(w, map[string]any{})
	case OpPing:
		var uri string
		s.withWebhook(w, id, func(h *Webhook) any {
			s.pings[id]++
			uri = h.URI
			return map[string]any{}
		})
		if uri != "" && s.OnPing != nil {
			s.OnPing(id, uri)
		}
	case OpRotate:
		s.rotate(w, id, body)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

// withWebhook runs fn under the lock on webhook id and writes its result,
// or 404.
func (s *Server) withWebhook(w http.ResponseWriter, id string, fn func(*Webhook) any) {
	s.mu.Lock()
	var out any
	for _, h := range s.webhooks {
		if h.ID == id {
			out = fn(h)
			break
		}
	}
	s.mu.Unlock()
	if out == nil {
		writeError(w, http.StatusNotFound, "Webhook not found.")
		return
	}
	writeJSON(w, out)
}

func (s *Server) key(snake string) string {
	if !s.CamelCase {
		return snake
	}
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// render builds the JSON answer for h; newSecret is included only on create.
func (s *Server) render(h *Webhook, newSecret string) map[string]any {
	m := map[string]any{
		"name":                     "webhooks/" + h.ID,
		"uri":                      h.URI,
		s.key("subscribed_events"): h.SubscribedEvents,
		"state":                    h.State,
		s.key("create_time"):       h.CreateTime.Format(time.RFC3339),
		s.key("update_time"):       h.CreateTime.Format(time.RFC3339),
		s.key("display_name"):      h.DisplayName,
		s.key("signing_secrets"):   s.truncated(h),
	}
	if !s.OmitID {
		m["id"] = h.ID
	}
	if newSecret != "" {
		m[s.key("new_signing_secret")] = newSecret
	}
	return m
}

func (s *Server) truncated(h *Webhook) []map[string]any {
	var out []map[string]any
	for _, sec := range h.Secrets {
		e := map[string]any{s.key("truncated_secret"): "whsec_..." + sec.Value[len(sec.Value)-4:]}
		if !sec.Expire.IsZero() {
			e[s.key("expire_time")] = sec.Expire.Format(time.RFC3339)
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Name             string   `json:"name"`
		URI              string   `json:"uri"`
		SubscribedEvents []string `json:"subscribed_events"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	}
	if !strings.HasPrefix(req.URI, "https://") {
		writeError(w, http.StatusBadRequest, "uri must be an https URL.")
		return
	}
	if len(req.SubscribedEvents) == 0 {
		writeError(w, http.StatusBadRequest, "subscribed_events must not be empty.")
		return
	}
	s.mu.Lock()
	id := r.URL.Query().Get("webhook_id")
	if id != "" && slices.ContainsFunc(s.webhooks, func(h *Webhook) bool { return h.ID == id }) {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "Webhook already exists.")
		return
	}
	h := s.newWebhookLocked(req.Name, req.URI, req.SubscribedEvents)
	if id != "" {
		h.ID = id
	}
	out := s.render(h, h.Secrets[0].Value)
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	size := s.PageSize
	if size <= 0 {
		size = 50
	}
	start := 0
	if tok := r.URL.Query().Get("page_token"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "Invalid page token.")
			return
		}
		start = n
	}
	s.mu.Lock()
	var page []map[string]any
	end := min(start+size, len(s.webhooks))
	for i := start; i < end; i++ {
		page = append(page, s.render(s.webhooks[i], ""))
	}
	out := map[string]any{"webhooks": page}
	if end < len(s.webhooks) {
		out[s.key("next_page_token")] = strconv.Itoa(end)
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) rotate(w http.ResponseWriter, id string, body []byte) {
	var req struct {
		Behavior string `json:"revocation_behavior"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	}
	if req.Behavior != "revoke_previous_secrets_after_h24" && req.Behavior != "revoke_previous_secrets_immediately" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'revocation_behavior' (%q).", req.Behavior))
		return
	}
	s.withWebhook(w, id, func(h *Webhook) any {
		now := s.now().UTC()
		var kept []FakeSecret
		if req.Behavior == "revoke_previous_secrets_after_h24" {
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
		return map[string]any{"secret": sec}
	})
}
