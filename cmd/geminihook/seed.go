package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/geminihook/geminihook/events"
	"github.com/geminihook/geminihook/internal/confirm"
	"github.com/geminihook/geminihook/internal/devstack"
)

// seeder makes a running dev server's local Gemini API know the resource
// of each body send delivers, in the state the event claims (or, with
// --dispute, in one that contradicts it), so that the function's
// confirmation of JWT-signed deliveries (GEMINI_CONFIRM=dynamic, dev's
// default) finds what a real Gemini API would. A nil seeder does nothing:
// send targets something other than the dev server.
type seeder struct {
	apiURL, apiKey string
	dispute        bool
}

// devSeeder returns the seeder for deliveries to url: one when url is the
// running dev server's (its state file names a local Gemini API), else
// nil. --dispute without a dev server to seed is an error.
func devSeeder(url string, dispute bool) (*seeder, error) {
	st, err := loadDevState()
	if err == nil && st.GeminiAPIURL != "" && strings.TrimSuffix(st.URL, "/") == strings.TrimSuffix(url, "/") {
		return &seeder{apiURL: st.GeminiAPIURL, apiKey: st.GeminiAPIKey, dispute: dispute}, nil
	}
	if dispute {
		return nil, fmt.Errorf("--dispute seeds the local Gemini API of a running 'geminihook dev', and %s is not one: start dev, and leave out --url or give dev's", url)
	}
	return nil, nil
}

// seed stores body's resource in the local Gemini API. A body whose event
// cannot be confirmed (a ping, an unknown type, not JSON) is left alone,
// unless --dispute asked for a contradiction.
func (s *seeder) seed(ctx context.Context, client *http.Client, body []byte) error {
	if s == nil {
		return nil
	}
	e, err := events.Parse(body, events.Meta{ID: "seed", ReceivedAt: time.Now()})
	_, confirmable := confirm.ExpectedState(e.Type)
	if err != nil || !confirmable || e.Resource == "" {
		if s.dispute {
			return errors.New("--dispute: the body's event cannot be confirmed against the Gemini API (only batch, interaction and video completions can)")
		}
		return nil
	}
	err = devstack.SeedRemote(ctx, client, s.apiURL, s.apiKey,
		devstack.SeedRequest{EventType: e.Type, Resource: e.Resource, Agree: !s.dispute})
	if err != nil {
		return fmt.Errorf("seed dev's local Gemini API (is 'geminihook dev' still running?): %w", err)
	}
	return nil
}
