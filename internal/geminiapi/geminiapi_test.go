package geminiapi

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/genai/interactions/models/apierrors"
)

func TestWrap(t *testing.T) {
	long := "<html>" + strings.Repeat("x", 1000) + "</html>"
	tests := []struct {
		name     string
		err      error
		want     string
		notFound bool
	}{
		{"google error json", apierrors.NewAPIError("API error occurred", 404, `{"error":{"code":404,"message":"Webhook not found.","status":"NOT_FOUND"}}`, nil),
			"get webhook: 404 NOT_FOUND: Webhook not found.", true},
		{"not json", apierrors.NewAPIError("API error occurred", 502, "Bad\n gateway", nil), "get webhook: 502 Bad Gateway: Bad gateway", false},
		{"long body", apierrors.NewAPIError("API error occurred", 500, long, nil), "get webhook: 500 Internal Server Error: <html>" + strings.Repeat("x", maxMessage-len("<html>")) + "…", false},
		{"empty body", apierrors.NewAPIError("API error occurred", 403, "", nil), "get webhook: 403 Forbidden", false},
		{"transport", context.DeadlineExceeded, "get webhook: context deadline exceeded", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Wrap("get webhook", tt.err)
			if got.Error() != tt.want || IsNotFound(got) != tt.notFound || !errors.Is(got, tt.err) && !errors.As(got, new(*APIError)) {
				t.Fatalf("got %q (not found %v), want %q", got, IsNotFound(got), tt.want)
			}
		})
	}
	if Wrap("x", nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
	if !errors.Is(Wrap("x", context.Canceled), context.Canceled) {
		t.Fatal("a transport error is not kept in the chain")
	}
}

func TestCheckAPIVersion(t *testing.T) {
	for _, v := range APIVersions {
		if err := CheckAPIVersion(v); err != nil {
			t.Errorf("%s refused: %v", v, err)
		}
	}
	for _, v := range []string{"", "v2", "V1", "v1beta/", "/v1"} {
		if err := CheckAPIVersion(v); !errors.Is(err, ErrAPIVersion) {
			t.Errorf("%q accepted: %v", v, err)
		}
	}
}
