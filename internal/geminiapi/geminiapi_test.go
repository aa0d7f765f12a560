package geminiapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/geminiapi"
	"github.com/geminihook/geminihook/internal/geminiapi/geminiapitest"
)

const key = "test-key"

func newClient(t *testing.T, fake *geminiapitest.Server, opts geminiapi.Options) *geminiapi.Client {
	t.Helper()
	opts.BaseURL = fake.URL
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Millisecond
	}
	c, err := geminiapi.New(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWebhookLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name             string
		omitID, camel    bool
		version, fakeVer string
	}{
		{name: "snake_case with id", version: "", fakeVer: "v1beta"},
		{name: "camelCase", camel: true, fakeVer: "v1beta"},
		{name: "name only", omitID: true, fakeVer: "v1beta"},
		{name: "v1", version: "v1", fakeVer: "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := geminiapitest.NewServer(key)
			defer fake.Close()
			fake.OmitID, fake.CamelCase, fake.APIVersion, fake.PageSize = tc.omitID, tc.camel, tc.fakeVer, 2
			c := newClient(t, fake, geminiapi.Options{APIVersion: tc.version})
			ctx := ctxT(t)

			w, err := c.Create(ctx, geminiapi.CreateRequest{Name: "prod", URI: "https://fn.example/hook", SubscribedEvents: []string{"batch.succeeded"}})
			if err != nil {
				t.Fatal(err)
			}
			stored, ok := fake.Webhook(w.ID)
			if !ok {
				t.Fatalf("created id %q unknown to the server", w.ID)
			}
			if w.NewSigningSecret.Reveal() != stored.Secrets[0].Value || !strings.HasPrefix(w.NewSigningSecret.Reveal(), "whsec_") {
				t.Fatal("new signing secret not decoded")
			}
			if w.URI != "https://fn.example/hook" || len(w.SubscribedEvents) != 1 || w.State != "enabled" || w.CreateTime == "" || len(w.Secrets) != 1 {
				t.Fatalf("decoded %+v", w)
			}
			for range 4 {
				fake.AddWebhook("x", "https://other.example/", []string{"video.generated"})
			}
			all, err := c.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 5 || all[0].ID != w.ID || !all[0].NewSigningSecret.IsZero() {
				t.Fatalf("List = %d webhooks, first %q", len(all), all[0].ID)
			}
			if fake.CallCount(geminiapitest.OpList) != 3 {
				t.Fatalf("List pages fetched = %d, want 3", fake.CallCount(geminiapitest.OpList))
			}
			got, err := c.Get(ctx, "webhooks/"+w.ID)
			if err != nil || got.ID != w.ID {
				t.Fatalf("Get = %v, %v", got, err)
			}
			if err := c.Ping(ctx, w.ID); err != nil {
				t.Fatal(err)
			}
			if fake.Pings(w.ID) != 1 {
				t.Fatal("ping not received")
			}
			sec, err := c.RotateSigningSecret(ctx, w.ID, geminiapi.RevokeAfter24h)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ = fake.Webhook(w.ID)
			if len(stored.Secrets) != 2 || stored.Secrets[0].Value != sec.Reveal() || stored.Secrets[1].Expire.IsZero() {
				t.Fatalf("after 24h rotation: %d secrets", len(stored.Secrets))
			}
			sec2, err := c.RotateSigningSecret(ctx, w.ID, geminiapi.RevokeImmediately)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ = fake.Webhook(w.ID)
			if len(stored.Secrets) != 1 || stored.Secrets[0].Value != sec2.Reveal() {
				t.Fatalf("after immediate rotation: %d secrets", len(stored.Secrets))
			}
			if err := c.Delete(ctx, w.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, w.ID); !geminiapi.IsNotFound(err) {
				t.Fatalf("Get after delete = %v, want 404", err)
			}
			for _, call := range fake.Calls() {
				if !strings.HasPrefix(call.Path, "/"+tc.fakeVer+"/") {
					t.Fatalf("call path %s", call.Path)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	if _, err := geminiapi.New(" ", geminiapi.Options{}); !errors.Is(err, geminiapi.ErrNoAPIKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := geminiapi.New("k", geminiapi.Options{BaseURL: "ftp://x"}); err == nil {
		t.Fatal("ftp base accepted")
	}
	c, err := geminiapi.New("k", geminiapi.Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "a/b", "x:ping"} {
		if _, err := c.Get(context.Background(), id); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
	if _, err := c.RotateSigningSecret(context.Background(), "x", "REVOKE_SOMETIMES"); err == nil {
		t.Error("unknown behaviour accepted")
	}
}

func TestAPIErrors(t *testing.T) {
	fake := geminiapitest.NewServer(key)
	defer fake.Close()
	ctx := ctxT(t)

	wrong, err := geminiapi.New("wrong", geminiapi.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.List(ctx)
	var ae *geminiapi.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "PERMISSION_DENIED" || !strings.Contains(ae.Message, "API Key") {
		t.Fatalf("wrong key: %v", err)
	}
	if !strings.Contains(err.Error(), "list webhooks: 403 PERMISSION_DENIED: ") {
		t.Fatalf("error text %q", err)
	}

	c := newClient(t, fake, geminiapi.Options{})
	fake.Fail(geminiapitest.OpCreate, 400, "uri must be reachable")
	_, err = c.Create(ctx, geminiapi.CreateRequest{URI: "https://x", SubscribedEvents: []string{"a"}})
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "INVALID_ARGUMENT" || ae.Message != "uri must be reachable" {
		t.Fatalf("create: %v", err)
	}

	// A body that is not Google's error JSON still yields status and text.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream\n  broke", http.StatusBadGateway)
	}))
	defer plain.Close()
	pc, _ := geminiapi.New(key, geminiapi.Options{BaseURL: plain.URL, MaxBackoff: time.Millisecond})
	err = pc.Ping(ctx, "x")
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Message != "upstream broke" {
		t.Fatalf("plain error: %#v", err)
	}
}

func TestRetries(t *testing.T) {
	ctx := ctxT(t)
	tests := []struct {
		name      string
		op        string
		fails     int
		status    int
		call      func(*geminiapi.Client, string) error
		wantCalls int
		wantErr   bool
	}{
		{"get recovers from 503", geminiapitest.OpGet, 2, 503, func(c *geminiapi.Client, id string) error { _, err := c.Get(ctx, id); return err }, 3, false},
		{"get gives up after 3 attempts", geminiapitest.OpGet, 5, 500, func(c *geminiapi.Client, id string) error { _, err := c.Get(ctx, id); return err }, 3, true},
		{"list recovers from 429", geminiapitest.OpList, 1, 429, func(c *geminiapi.Client, id string) error { _, err := c.List(ctx); return err }, 2, false},
		{"ping recovers from 503", geminiapitest.OpPing, 1, 503, func(c *geminiapi.Client, id string) error { return c.Ping(ctx, id) }, 2, false},
		{"create is not retried on 503", geminiapitest.OpCreate, 1, 503, func(c *geminiapi.Client, id string) error {
			_, err := c.Create(ctx, geminiapi.CreateRequest{URI: "https://x", SubscribedEvents: []string{"a"}})
			return err
		}, 1, true},
		{"create is retried on 429", geminiapitest.OpCreate, 1, 429, func(c *geminiapi.Client, id string) error {
			_, err := c.Create(ctx, geminiapi.CreateRequest{URI: "https://x", SubscribedEvents: []string{"a"}})
			return err
		}, 2, false},
		{"rotate is not retried on 500", geminiapitest.OpRotate, 1, 500, func(c *geminiapi.Client, id string) error {
			_, err := c.RotateSigningSecret(ctx, id, geminiapi.RevokeImmediately)
			return err
		}, 1, true},
		{"400 is not retried", geminiapitest.OpGet, 1, 400, func(c *geminiapi.Client, id string) error { _, err := c.Get(ctx, id); return err }, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := geminiapitest.NewServer(key)
			defer fake.Close()
			id, _ := fake.AddWebhook("a", "https://a", []string{"batch.failed"})
			c := newClient(t, fake, geminiapi.Options{})
			fake.FailTimes(tt.op, tt.fails, tt.status, "try later")
			err := tt.call(c, id)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got := fake.CallCount(tt.op); got != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestDeleteRetryThatFindsItGoneSucceeds(t *testing.T) {
	// The first DELETE is applied but its answer is lost as a 503: the
	// retry sees 404, which means the webhook is gone.
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := attempts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"code":503,"message":"lost","status":"UNAVAILABLE"}}`)
			return
		}
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":{"code":404,"message":"gone","status":"NOT_FOUND"}}`)
	}))
	defer srv.Close()
	c, _ := geminiapi.New(key, geminiapi.Options{BaseURL: srv.URL, MaxBackoff: time.Millisecond})
	if err := c.Delete(ctxT(t), "abc"); err != nil || attempts.Load() != 2 {
		t.Fatalf("Delete = %v after %d attempts", err, attempts.Load())
	}
	// A first-attempt 404 is an error.
	if err := c.Delete(ctxT(t), "abc"); !geminiapi.IsNotFound(err) {
		t.Fatalf("Delete of a missing webhook = %v", err)
	}
}

func TestTimeoutBoundsTheCall(t *testing.T) {
	fake := geminiapitest.NewServer(key)
	defer fake.Close()
	fake.Delay(geminiapitest.OpList, time.Minute)
	c := newClient(t, fake, geminiapi.Options{Timeout: 100 * time.Millisecond})
	_, err := c.List(ctxT(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if n := fake.CallCount(geminiapitest.OpList); n != 1 {
		t.Fatalf("attempts after the deadline: %d", n)
	}
}

type holder struct {
	w geminiapi.Webhook
	s geminiapi.Secret
}

func TestSecretsNeverFormatted(t *testing.T) {
	fake := geminiapitest.NewServer(key)
	defer fake.Close()
	c := newClient(t, fake, geminiapi.Options{})
	ctx := ctxT(t)
	w, err := c.Create(ctx, geminiapi.CreateRequest{URI: "https://x", SubscribedEvents: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := c.RotateSigningSecret(ctx, w.ID, geminiapi.RevokeAfter24h)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v %s %q %x\n", w, w, w, w, w, w)
	fmt.Fprintf(&buf, "%v %+v %#v %s %q %x\n", *w, *w, *w, *w, *w, *w)
	fmt.Fprintf(&buf, "%v %+v %#v %s %v\n", rot, rot, rot, rot, []geminiapi.Secret{rot})
	fmt.Fprintf(&buf, "%v %+v %#v\n", holder{*w, rot}, holder{*w, rot}, &holder{*w, rot})
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "webhook", w, "secret", rot, "h", holder{*w, rot})
	b, _ := json.Marshal(w)
	buf.Write(b)
	b, _ = json.Marshal(map[string]any{"s": rot})
	buf.Write(b)
	for _, s := range []string{w.NewSigningSecret.Reveal(), rot.Reveal()} {
		if s == "" {
			t.Fatal("no secret to look for")
		}
		for _, form := range []string{s, strings.TrimPrefix(s, "whsec_"), fmt.Sprintf("%x", s)} {
			if strings.Contains(buf.String(), form) {
				t.Fatalf("secret leaked in formatted output:\n%s", buf.String())
			}
		}
	}
	if !strings.Contains(buf.String(), "[redacted]") {
		t.Fatal("redaction marker missing")
	}
}
