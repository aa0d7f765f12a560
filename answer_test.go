package geminihook

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The hand-written answer must be byte for byte what encoding/json's
// Encoder wrote before, for every id a delivery may carry.
func TestAnswerJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	ids := []string{"", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", `a"b\c`, "<script>&", "tab\there", "nul\x00", "é", "\u2028", "bad\xffutf8", "~!@#$%^*()_+{}|:?"}
	for _, id := range ids {
		for _, a := range []answer{
			{Result: resultPublished, ID: id, Family: "batch"},
			{Result: resultRejected, Reason: "no_matching_signature"},
			{Result: resultDuplicate, ID: id},
			{Result: id},
		} {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(a); err != nil {
				t.Fatal(err)
			}
			if got := a.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("appendJSON(%+q) = %q, want %q", a, got, want.Bytes())
			}
		}
	}
}
