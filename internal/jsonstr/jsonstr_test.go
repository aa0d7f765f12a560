package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	inputs := []string{
		"", "plain", `"quoted" \back\`, "\x00\x01\x1f\x7f", "\n\r\t\b\f", "<>&", "\u2028\u2029",
		"é日本🎬", "bad\xffutf8\xc3", "\xed\xa0\x80", strings.Repeat("a", 100) + "\x00",
	}
	for _, s := range inputs {
		b := Append(nil, s)
		if !json.Valid(b) {
			t.Errorf("Append(%q) = %s: not JSON", s, b)
			continue
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte; so does Append.
			var ref string
			rb, _ := json.Marshal(s)
			_ = json.Unmarshal(rb, &ref)
			if got != ref {
				t.Errorf("Append(%q) decodes to %q, encoding/json to %q (ToValidUTF8 %q)", s, got, ref, want)
			}
		} else if got != s {
			t.Errorf("Append(%q) decodes to %q", s, got)
		}
		if strings.ContainsRune(string(b), '\u2028') || strings.ContainsRune(string(b), '\u2029') {
			t.Errorf("Append(%q) = %s keeps a raw line separator", s, b)
		}
	}
}
