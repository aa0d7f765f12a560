package events

import (
	"bytes"
	"strconv"
)

// MaxNumberLength is the longest number literal accepted in a body, in
// bytes. Python refuses integers of more than 4,300 digits and Jackson (the
// usual Java parser) numbers of more than 1,000 characters by default; the
// published event carries the body verbatim, so a longer number would make
// the event unreadable to such consumers ([ReasonNumberOutOfRange]).
const MaxNumberLength = 1000

// readFields are the members Parse reads, by object: the body, its "data",
// and data's "error". A key at one of these levels that differs from a read
// field only in case is a [ReasonCaseVariantKey]: encoding/json would match
// it where other parsers would not.
var readFields = [...][]string{
	levelBody:  {"type", "version", "timestamp", "data", "user_metadata", "userMetadata"},
	levelData:  {"id", "output_file_uri", "video_uri", "file_name", "error_code", "error_message", "error", "user_metadata", "userMetadata"},
	levelError: {"code", "message"},
}

// Object levels of the body for readFields; levelOther is any other object.
const (
	levelBody = iota
	levelData
	levelError
	levelOther
)

// strictCheck walks body, valid JSON no deeper than MaxDepth, and returns
// the reason of the first rule it breaks in document order, or "":
//   - a key repeated within one object ([ReasonDuplicateKey]), keys
//     compared after unescaping;
//   - a key that differs only in case (as encoding/json folds it) from a
//     field Parse reads at the same level ([ReasonCaseVariantKey]); keys
//     elsewhere, user_metadata's included, may differ only in case;
//   - a number longer than MaxNumberLength or beyond float64's range
//     ([ReasonNumberOutOfRange]).
//
// These are the bodies whose consumers would read them differently from
// Parse or from each other.
func strictCheck(body []byte) string {
	s := strictScanner{b: body}
	s.value(skipSpace(body, 0), levelBody)
	return s.reason
}

type strictScanner struct {
	b      []byte
	reason string
}

// value checks the value at b[i] and returns the index after it. lvl is
// the level the value has if it is an object.
func (s *strictScanner) value(i, lvl int) int {
	if i >= len(s.b) || s.reason != "" {
		return len(s.b)
	}
	switch c := s.b[i]; {
	case c == '{':
		return s.object(i, lvl)
	case c == '[':
		i = skipSpace(s.b, i+1)
		for i < len(s.b) && s.b[i] != ']' && s.reason == "" {
			i = skipSpace(s.b, s.value(i, levelOther))
			if i < len(s.b) && s.b[i] == ',' {
				i = skipSpace(s.b, i+1)
			}
		}
		return i + 1
	case c == '"':
		return skipValue(s.b, i)
	case c == '-' || c >= '0' && c <= '9':
		end := skipValue(s.b, i)
		if !numberOK(s.b[i:end]) {
			s.reason = ReasonNumberOutOfRange
		}
		return end
	default: // true, false, null
		return skipValue(s.b, i)
	}
}

// object checks the object at b[i] and returns the index after it.
func (s *strictScanner) object(i, lvl int) int {
	const linear = 16 // keys compared one by one up to this many
	var buf [linear][]byte
	keys := buf[:0]             // keys seen, while few: slices of the body
	var set map[string]struct{} // keys seen, once many
	i = skipSpace(s.b, i+1)
	for i < len(s.b) && s.b[i] == '"' && s.reason == "" {
		end := skipValue(s.b, i)
		key := keyBytes(s.b[i:end])
		if set == nil && len(keys) == linear {
			set = make(map[string]struct{}, 4*linear)
			for _, k := range keys {
				set[string(k)] = struct{}{}
			}
		}
		if set != nil {
			if _, dup := set[string(key)]; dup {
				s.reason = ReasonDuplicateKey
				return len(s.b)
			}
			set[string(key)] = struct{}{}
		} else {
			for _, k := range keys {
				if bytes.Equal(k, key) {
					s.reason = ReasonDuplicateKey
					return len(s.b)
				}
			}
			keys = append(keys, key)
		}
		child := levelOther
		if lvl != levelOther {
			for _, f := range readFields[lvl] {
				if string(key) != f && bytes.EqualFold(key, []byte(f)) {
					s.reason = ReasonCaseVariantKey
					return len(s.b)
				}
			}
			switch {
			case lvl == levelBody && string(key) == "data":
				child = levelData
			case lvl == levelData && string(key) == "error":
				child = levelError
			}
		}
		i = skipSpace(s.b, end)
		if i >= len(s.b) || s.b[i] != ':' {
			return len(s.b)
		}
		i = skipSpace(s.b, s.value(skipSpace(s.b, i+1), child))
		if i < len(s.b) && s.b[i] == ',' {
			i = skipSpace(s.b, i+1)
		}
	}
	return i + 1
}

// keyBytes returns the value of a quoted JSON key: a slice of raw when it
// has no escapes, else a decoded copy.
func keyBytes(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	s, _ := unescapeString(raw) // raw is a valid JSON string
	return []byte(s)
}

// numberOK reports whether the JSON number lit is one every common parser
// reads as a number: at most MaxNumberLength bytes and within float64's
// range (underflow to zero is accepted, as every parser does).
func numberOK(lit []byte) bool {
	if len(lit) > MaxNumberLength {
		return false
	}
	// Without an exponent, fewer than 309 digits cannot reach 1.8e308.
	if len(lit) < 300 && !bytes.ContainsAny(lit, "eE") {
		return true
	}
	_, err := strconv.ParseFloat(string(lit), 64)
	return err == nil || !isRange(err)
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
