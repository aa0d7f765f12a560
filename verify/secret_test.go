package verify_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/geminihook/geminihook/verify"
)

func TestParseSecret(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcde\xfb\xff") // base64 has '+' and '/' (or '-' and '_')
	ref, err := verify.NewSecret(raw)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(raw)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"prefixed std padded", "whsec_" + std, nil},
		{"bare std padded", std, nil},
		{"prefixed std unpadded", "whsec_" + strings.TrimRight(std, "="), nil},
		{"bare std unpadded", strings.TrimRight(std, "="), nil},
		{"url alphabet", "whsec_" + base64.URLEncoding.EncodeToString(raw), nil},
		{"surrounding whitespace", " whsec_" + std + "\n", nil},
		{"empty", "", verify.ErrEmptySecret},
		{"prefix only", "whsec_", verify.ErrEmptySecret},
		{"not base64", "whsec_not*base64!", verify.ErrInvalidSecret},
		{"mixed alphabets", "whsec_ab+c_d", verify.ErrInvalidSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := verify.ParseSecret(tc.in)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("ParseSecret = %v, want %v", err, tc.want)
				}
				if !s.IsZero() {
					t.Fatal("failed ParseSecret returned a usable secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret: %v", err)
			}
			if !s.Equal(ref) {
				t.Fatal("decoded key differs from the raw key")
			}
		})
	}
	// The known-answer secret with and without its prefix sign alike.
	a, b := verify.MustParseSecret(kaSecret), verify.MustParseSecret(strings.TrimPrefix(kaSecret, "whsec_"))
	if verify.Sign(a, kaID, kaTime, []byte(kaBody)) != verify.Sign(b, kaID, kaTime, []byte(kaBody)) {
		t.Fatal("prefix changes the signature")
	}
}

func TestSecretValues(t *testing.T) {
	if _, err := verify.NewSecret(nil); !errors.Is(err, verify.ErrEmptySecret) {
		t.Fatalf("NewSecret(nil) = %v", err)
	}
	raw := []byte("k")
	s, err := verify.NewSecret(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = 'x' // NewSecret keeps its own copy
	if !s.Equal(verify.MustParseSecret(base64.StdEncoding.EncodeToString([]byte("k")))) {
		t.Fatal("NewSecret did not copy the key")
	}
	var zero verify.Secret
	if !zero.IsZero() || s.IsZero() || !zero.Equal(verify.Secret{}) || zero.Equal(s) || s.Equal(zero) {
		t.Fatal("IsZero/Equal wrong for the zero Secret")
	}
	if s.Equal(verify.MustParseSecret(kaSecret)) {
		t.Fatal("different keys compare equal")
	}

	sec := verify.MustParseSecret(kaSecret)
	key := strings.TrimPrefix(kaSecret, "whsec_")
	decoded, _ := base64.StdEncoding.DecodeString(key)
	for _, format := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x"} {
		for _, arg := range []any{sec, struct{ S verify.Secret }{sec}, []verify.Secret{sec}} {
			out := fmt.Sprintf(format, arg)
			if strings.Contains(out, key) || strings.Contains(out, string(decoded)) || strings.Contains(out, fmt.Sprintf("%x", decoded)) {
				t.Fatalf("fmt %s of %T leaks the key: %s", format, arg, out)
			}
		}
	}
	if sec.String() != "whsec_…redacted" {
		t.Fatalf("String = %q", sec.String())
	}
}

func TestMustParseSecretPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParseSecret(\"\") did not panic")
		}
	}()
	verify.MustParseSecret("")
}

func TestGenerateSecret(t *testing.T) {
	a, err := verify.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := verify.GenerateSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("GenerateSecret = %q, %q", a, b)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("generated secret decodes to %d bytes, %v", len(raw), err)
	}
	if _, err := verify.ParseSecret(a); err != nil {
		t.Fatalf("ParseSecret(generated): %v", err)
	}
}
