package events

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestStrictReasons pins each rule of strictCheck through Parse: bodies
// that consumers would read differently are malformed with their reason,
// and the near misses pass.
func TestStrictReasons(t *testing.T) {
	digits := func(n int) string { return strings.Repeat("7", n) }
	tests := []struct {
		name, body, reason string // reason "": accepted
	}{
		{"repeated type", `{"type":"batch.failed","type":"batch.succeeded"}`, ReasonDuplicateKey},
		{"repeated data", `{"type":"batch.failed","data":{"id":"a"},"data":{"id":"b"}}`, ReasonDuplicateKey},
		{"repeated key deep in user_metadata", `{"type":"x.y","user_metadata":{"a":[{"b":1,"c":{"d":1,"d":2}}]}}`, ReasonDuplicateKey},
		{"repeated key in an array's object", `{"type":"x.y","extra":[{"k":1},{"k":1,"k":2}]}`, ReasonDuplicateKey},
		{"repeated key spelled with an escape", `{"type":"x.y","data":{"id":"a","\u0069d":"b"}}`, ReasonDuplicateKey},
		{"repeated key among many", `{"type":"x.y","m":{` + manyKeys(40) + `,"k07":0}}`, ReasonDuplicateKey},
		{"many distinct keys", `{"type":"x.y","m":{` + manyKeys(40) + `}}`, ""},
		{"same key in sibling objects", `{"type":"x.y","a":{"k":1},"b":{"k":1}}`, ""},
		{"TYPE beside type", `{"type":"batch.failed","TYPE":"batch.succeeded"}`, ReasonCaseVariantKey},
		{"TYPE alone", `{"TYPE":"batch.succeeded"}`, ReasonCaseVariantKey},
		{"Data alone", `{"type":"x.y","Data":{"id":"a"}}`, ReasonCaseVariantKey},
		{"case variant in data", `{"type":"x.y","data":{"id":"a","ID":"b"}}`, ReasonCaseVariantKey},
		{"case variant in data.error", `{"type":"x.y","data":{"error":{"Code":1}}}`, ReasonCaseVariantKey},
		{"case variant by Unicode folding", "{\"type\":\"x.y\",\"timeſtamp\":\"2026-01-01T00:00:00Z\"}", ReasonCaseVariantKey},
		{"userMetadata is its own field", `{"type":"x.y","userMetadata":{"a":1},"user_metadata":{"a":1}}`, ""},
		{"case variants inside user_metadata", `{"type":"x.y","user_metadata":{"Type":"a","type":"b"}}`, ""},
		{"case variants in data's user_metadata", `{"type":"x.y","data":{"user_metadata":{"ID":1,"id":2}}}`, ""},
		{"case variant of a read field one level down", `{"type":"x.y","extra":{"TYPE":"a","type":"b"}}`, ""},
		{"case variant of data's field at the top", `{"type":"x.y","ID":"a"}`, ""},
		{"4300-digit integer", `{"type":"x.y","data":{"id":` + digits(4301) + `}}`, ReasonNumberOutOfRange},
		{"1001-character number in range", `{"type":"x.y","n":0.` + digits(999) + `}`, ReasonNumberOutOfRange},
		{"1000-character number in range", `{"type":"x.y","n":0.` + digits(998) + `}`, ""},
		{"1000-digit integer beyond float64", `{"type":"x.y","n":` + digits(1000) + `}`, ReasonNumberOutOfRange},
		{"overflowing exponent", `{"type":"x.y","user_metadata":{"s":1e400}}`, ReasonNumberOutOfRange},
		{"negative overflow", `{"type":"x.y","n":[-1.8e308]}`, ReasonNumberOutOfRange},
		{"largest float64", `{"type":"x.y","n":1.7976931348623157e308}`, ""},
		{"underflow", `{"type":"x.y","n":1e-400}`, ""},
		{"300-digit integer", `{"type":"x.y","n":` + digits(300) + `}`, ""},
		{"long string of digits", `{"type":"x.y","s":"` + digits(5000) + `"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body), testMeta)
			var got string
			if me, ok := errors.AsType[*MalformedError](err); ok {
				got = me.Reason
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
			if want := referenceStrict([]byte(tc.body)); want != got {
				t.Errorf("the reference walk says %q", want)
			}
		})
	}
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = `"k` + strconv.Itoa(100 + i)[1:] + `":0`
	}
	return strings.Join(keys, ",")
}

// referenceStrict is strictCheck written independently on
// encoding/json's tokenizer, for the fuzz target to compare against.
func referenceStrict(body []byte) string {
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	type frame struct {
		obj   bool
		lvl   int
		keys  map[string]bool
		key   bool // the next string token is a key
		child int  // level of the value after the current key
	}
	var stack []*frame
	push := func(obj bool) {
		lvl := levelOther
		if len(stack) == 0 {
			lvl = levelBody
		} else if top := stack[len(stack)-1]; top.obj {
			lvl = top.child
		}
		stack = append(stack, &frame{obj: obj, lvl: lvl, keys: map[string]bool{}, key: obj})
	}
	value := func() { // a value ended: the enclosing object expects a key
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "syntax"
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				push(true)
			case '[':
				push(false)
			default:
				stack = stack[:len(stack)-1]
				value()
			}
		case string:
			if f := stack[len(stack)-1]; f.obj && f.key {
				if f.keys[v] {
					return ReasonDuplicateKey
				}
				f.keys[v] = true
				f.key = false
				f.child = levelOther
				if f.lvl != levelOther {
					for _, rf := range readFields[f.lvl] {
						if v != rf && strings.EqualFold(v, rf) {
							return ReasonCaseVariantKey
						}
					}
					if f.lvl == levelBody && v == "data" {
						f.child = levelData
					} else if f.lvl == levelData && v == "error" {
						f.child = levelError
					}
				}
				continue
			}
			value()
		case json.Number:
			if len(v) > MaxNumberLength {
				return ReasonNumberOutOfRange
			}
			if _, err := v.Float64(); err != nil && strings.Contains(err.Error(), "out of range") {
				return ReasonNumberOutOfRange
			}
			value()
		default:
			value()
		}
	}
}

// FuzzStrictCheck compares strictCheck with referenceStrict on every valid
// JSON object in valid UTF-8 within MaxDepth (Parse refuses the rest before
// strictCheck runs).
func FuzzStrictCheck(f *testing.F) {
	f.Add([]byte(`{"type":"a","TYPE":"b"}`))
	f.Add([]byte(`{"type":"a","data":{"error":{"code":1,"Code":2}}}`))
	f.Add([]byte(`{"type":"a","user_metadata":{"k":[1e400]}}`))
	f.Add([]byte(`{"a":{"b":1,"\u0062":2}}`))
	f.Add([]byte(`{"type":"x","data":{"id":-0.5e-999,"user_metadata":{"Id":1,"id":2}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || payloadStart(body) != '{' || !json.Valid(body) || tooDeep(body, MaxDepth) {
			return
		}
		if got, want := strictCheck(body), referenceStrict(body); got != want {
			t.Fatalf("strictCheck = %q, reference walk = %q", got, want)
		}
	})
}

// BenchmarkStrictCheck measures the walk behind the duplicate-key,
// case-variant and number rules on the typical body; BenchmarkJSONValid,
// encoding/json's own syntax check over the same bytes, is its baseline.
func BenchmarkStrictCheck(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if r := strictCheck(benchBody); r != "" {
			b.Fatal(r)
		}
	}
}

// BenchmarkJSONValid is the baseline of BenchmarkStrictCheck.
func BenchmarkJSONValid(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(benchBody) {
			b.Fatal("invalid")
		}
	}
}
