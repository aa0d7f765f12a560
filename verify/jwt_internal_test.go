package verify

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// uniqueMembersReference is uniqueMembers written plainly on
// json.Decoder's token stream: the scanner must agree with it.
func uniqueMembersReference(raw []byte) bool {
	if !json.Valid(raw) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // a number beyond float64 is valid JSON
	type frame struct {
		names   map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].wantKey {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
			} else {
				name := tok.(string)
				if stack[n-1].names[name] {
					return false
				}
				stack[n-1].names[name] = true
				stack[n-1].wantKey = false
				continue
			}
		} else {
			switch tok {
			case json.Delim('{'):
				stack = append(stack, &frame{names: map[string]bool{}, wantKey: true})
				continue
			case json.Delim('['):
				stack = append(stack, &frame{})
				continue
			case json.Delim(']'):
				stack = stack[:len(stack)-1]
			}
		}
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].wantKey = true
		}
	}
}

// FuzzUniqueMembers checks the duplicate-member scanner against the
// reference on any input.
func FuzzUniqueMembers(f *testing.F) {
	for _, s := range []string{
		`{"alg":"RS256","kid":"k"}`, `{"alg":"a","alg":"b"}`, `{"a\u006cg":1,"alg":2}`, `{"a":{"b":1,"b":2}}`,
		`{"a":[{"b":1},{"b":2}],"c":"{\"a\":1,\"a\":2}"}`, `[{"a":1,"a":2}]`, `{"a":"x","b":"a"}`, `{"\\":1,"\\\\":2}`,
		`{"k01":1,"k02":1,"k03":1,"k04":1,"k05":1,"k06":1,"k07":1,"k08":1,"k09":1,"k10":1,"k11":1,"k12":1,"k13":1,"k14":1,"k15":1,"k16":1,"k17":1,"k18":1,"k01":1}`,
		`{} {}`, `{"a":1`, ``, `"a"`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := uniqueMembers(raw) == nil, uniqueMembersReference(raw); got != want {
			t.Fatalf("uniqueMembers(%q) ok = %v, reference says %v", raw, got, want)
		}
	})
}
