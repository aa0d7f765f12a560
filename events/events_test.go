package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus from the current output")

// receivedAt is the delivery time of every golden case.
var receivedAt = time.Date(2026, 5, 4, 12, 0, 5, 123456789, time.UTC)

// testCase is one body under testdata/cases with the Meta it is parsed with.
type testCase struct {
	name string
	body []byte
	meta Meta
}

// caseMeta is the optional <case>.meta.json beside a body.
type caseMeta struct {
	ID             string         `json:"id"`
	IdempotencyKey string         `json:"idempotency_key"`
	Scheme         string         `json:"scheme"`
	Claims         map[string]any `json:"claims"`
}

func loadCases(t testing.TB) []testCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []testCase
	for _, p := range paths {
		if strings.HasSuffix(p, ".meta.json") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := Meta{ID: "msg_" + strings.NewReplacer(".", "_", "-", "_").Replace(name), ReceivedAt: receivedAt, Scheme: SchemeHMAC}
		if raw, err := os.ReadFile(filepath.Join("testdata", "cases", name+".meta.json")); err == nil {
			var cm caseMeta
			if err := json.Unmarshal(raw, &cm); err != nil {
				t.Fatalf("%s.meta.json: %v", name, err)
			}
			if cm.ID != "" {
				m.ID = cm.ID
			}
			if cm.Scheme != "" {
				m.Scheme = cm.Scheme
			}
			if cm.IdempotencyKey != "" {
				m.IdempotencyKey = cm.IdempotencyKey
			}
			m.Claims = cm.Claims
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if m.IdempotencyKey == "" {
			m.IdempotencyKey = m.Scheme + ":" + m.ID
		}
		cases = append(cases, testCase{name: name, body: body, meta: m})
	}
	if len(cases) < 40 {
		t.Fatalf("found %d cases under testdata/cases, want at least 40", len(cases))
	}
	return cases
}

// goldenMessage is the stored form of a family message.
type goldenMessage struct {
	Attributes map[string]string `json:"attributes"`
	Data       string            `json:"data"`
}

// goldenQuarantine is the stored form of a quarantine message.
type goldenQuarantine struct {
	Error      string            `json:"error"`
	Attributes map[string]string `json:"attributes"`
	DataBase64 string            `json:"data_base64"`
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./events -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./events -update and review the diff)\n got: %s\nwant: %s", path, got, want)
	}
}

func marshalIndent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateSchema(sch *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestGolden parses every case, compares its event and message (or its
// quarantine message) with the golden files, checks the event against the
// JSON Schema and round-trips it through Decode or DecodeQuarantine.
func TestGolden(t *testing.T) {
	sch := compileSchema(t)
	for _, tc := range loadCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.body, tc.meta)
			malformedCase := strings.HasPrefix(tc.name, "malformed-")
			if malformedCase {
				checkMalformed(t, tc, e, err)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if gotOther, wantOther := e.Family == FamilyOther, strings.HasPrefix(tc.name, "unknown-"); gotOther != wantOther {
				t.Fatalf("family %q, outcome %q: case name says other=%v", e.Family, e.Outcome, wantOther)
			}
			m, err := NewMessage(e)
			if err != nil {
				t.Fatalf("NewMessage: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, m.Data, "", "  "); err != nil {
				t.Fatalf("message data is not JSON: %v", err)
			}
			pretty.WriteByte('\n')
			checkGolden(t, tc.name+".event.json", pretty.Bytes())
			checkGolden(t, tc.name+".message.json", marshalIndent(t, goldenMessage{Attributes: m.Attributes, Data: string(m.Data)}))

			if err := validateSchema(sch, m.Data); err != nil {
				t.Errorf("event does not match event.schema.json: %v", err)
			}
			checkAttributes(t, m.Attributes)

			back, err := Decode(m)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(back, e) {
				t.Errorf("Decode(NewMessage(e)) != e\n got: %#v\nwant: %#v", back, e)
			}
			mj, err := e.MarshalJSON()
			if err != nil || !bytes.Equal(mj, m.Data) {
				t.Errorf("MarshalJSON = %s, %v; want the message data", mj, err)
			}
		})
	}
}

func checkMalformed(t *testing.T, tc testCase, e Event, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse error = %v, want ErrMalformed", err)
	}
	me, ok := errors.AsType[*MalformedError](err)
	if !ok || me.Reason == "" {
		t.Fatalf("Parse error %v is not a *MalformedError with a reason", err)
	}
	if want := "events: malformed payload: " + me.Reason; err.Error() != want {
		t.Errorf("error text %q, want %q (it must never quote the body)", err.Error(), want)
	}
	if !reflect.DeepEqual(e, Event{}) {
		t.Errorf("a malformed body gave a non-zero Event: %#v", e)
	}
	q := NewQuarantineMessage(tc.body, tc.meta, err)
	checkGolden(t, tc.name+".quarantine.json", marshalIndent(t, goldenQuarantine{
		Error:      err.Error(),
		Attributes: q.Attributes,
		DataBase64: base64.StdEncoding.EncodeToString(q.Data),
	}))
	checkAttributes(t, q.Attributes)
	if !bytes.Equal(q.Data, tc.body) {
		t.Errorf("quarantine data is not the body verbatim")
	}
	if _, derr := Decode(q); !errors.Is(derr, ErrInvalidMessage) {
		t.Errorf("Decode(quarantine message) error = %v, want ErrInvalidMessage", derr)
	}
	body, meta, reason, derr := DecodeQuarantine(q)
	if derr != nil {
		t.Fatalf("DecodeQuarantine: %v", derr)
	}
	wantMeta := tc.meta
	wantMeta.Claims = nil // claims are not carried
	if !bytes.Equal(body, tc.body) || !reflect.DeepEqual(meta, wantMeta) || reason != me.Reason {
		t.Errorf("DecodeQuarantine = %q, %#v, %q; want the body, %#v, %q", body, meta, reason, wantMeta, me.Reason)
	}
	// Replay: the same body fails the same way again.
	if _, err2 := Parse(body, meta); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Parse on replay = %v, want %v", err2, err)
	}
}

// checkAttributes asserts Pub/Sub's attribute limits.
func checkAttributes(t *testing.T, a map[string]string) {
	t.Helper()
	if len(a) > MaxAttributes {
		t.Errorf("%d attributes, Pub/Sub allows %d", len(a), MaxAttributes)
	}
	for k, v := range a {
		if k == "" || len(k) > MaxAttributeKeyBytes || strings.HasPrefix(strings.ToLower(k), "goog") {
			t.Errorf("attribute key %q not accepted by Pub/Sub", k)
		}
		if v == "" || len(v) > MaxAttributeValueBytes || !utf8.ValidString(v) || !utf8.ValidString(k) {
			t.Errorf("attribute %q: value of %d bytes (valid UTF-8: %v) is empty, too long or invalid", k, len(v), utf8.ValidString(v))
		}
	}
}

// TestEveryTypeHasACase proves each registered type maps to a family and an
// outcome and has a golden case whose event carries it.
func TestEveryTypeHasACase(t *testing.T) {
	cases := loadCases(t)
	seen := map[string]bool{}
	for _, tc := range cases {
		if e, err := Parse(tc.body, tc.meta); err == nil {
			seen[e.Type] = true
		}
	}
	types := Types()
	if len(types) != 9 {
		t.Errorf("Types() has %d entries, Gemini's catalog has 9", len(types))
	}
	families := map[Family]bool{FamilyBatch: true, FamilyInteraction: true, FamilyVideo: true}
	for _, ti := range types {
		if !families[ti.Family] || ti.Outcome == "" || ti.Outcome == OutcomeUnknown {
			t.Errorf("%s: family %q outcome %q", ti.Type, ti.Family, ti.Outcome)
		}
		if !strings.HasPrefix(ti.Type, string(ti.Family)+".") {
			t.Errorf("%s is registered under family %q", ti.Type, ti.Family)
		}
		if got, ok := Lookup(ti.Type); !ok || got != ti {
			t.Errorf("Lookup(%q) = %v, %v", ti.Type, got, ok)
		}
		if !seen[ti.Type] {
			t.Errorf("%s has no golden case under testdata/cases", ti.Type)
		}
		if _, err := os.Stat(filepath.Join("testdata", "golden", ti.Type+".event.json")); err != nil {
			t.Errorf("%s: %v", ti.Type, err)
		}
	}
	for alias, canonical := range aliases {
		got, ok := Lookup(alias)
		if !ok || got.Type != canonical {
			t.Errorf("Lookup(%q) = %v, %v; want %s", alias, got, ok, canonical)
		}
		if !seen[alias] {
			t.Errorf("alias %s has no golden case", alias)
		}
	}
	if ti, ok := Lookup("webhook.ping"); ok || ti != (TypeInfo{Type: "webhook.ping", Family: FamilyOther, Outcome: OutcomeUnknown}) {
		t.Errorf("Lookup(unknown) = %v, %v", ti, ok)
	}
	// Types returns a copy: changing it must not change the registry.
	types[0].Family = FamilyOther
	if Types()[0].Family == FamilyOther {
		t.Error("Types() exposes the registry")
	}
}

func TestFamiliesAndTopics(t *testing.T) {
	want := []Family{"batch", "interaction", "video", "other", "quarantine"}
	if got := Families(); !slices.Equal(got, want) {
		t.Errorf("Families() = %v, want %v", got, want)
	}
	var topics []string
	for _, f := range Families() {
		topics = append(topics, Topic("gemini-", f))
	}
	if got := strings.Join(topics, " "); got != "gemini-batch gemini-interaction gemini-video gemini-other gemini-quarantine" {
		t.Errorf("topics = %s", got)
	}
}

// TestSchemaRejects proves the schema check can fail: mutations of a valid
// event must not validate.
func TestSchemaRejects(t *testing.T) {
	sch := compileSchema(t)
	body := []byte(`{"type":"batch.failed","version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":"batches/x","error_code":3,"error_message":"bad"}}`)
	e, err := Parse(body, Meta{ID: "msg_1", ReceivedAt: receivedAt, Scheme: SchemeHMAC})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateSchema(sch, m.Data); err != nil {
		t.Fatalf("the unmutated event must validate: %v", err)
	}
	mutations := map[string]func(map[string]any){
		"missing id":             func(o map[string]any) { delete(o, "id") },
		"empty id":               func(o map[string]any) { o["id"] = "" },
		"wrong outcome enum":     func(o map[string]any) { o["outcome"] = "done" },
		"wrong family enum":      func(o map[string]any) { o["family"] = "quarantine" },
		"other with an outcome":  func(o map[string]any) { o["family"] = "other" },
		"known with unknown":     func(o map[string]any) { o["outcome"] = "unknown" },
		"schema version 2":       func(o map[string]any) { o["schema_version"] = "2" },
		"received_at not a time": func(o map[string]any) { o["received_at"] = "yesterday" },
		"payload not an object":  func(o map[string]any) { o["payload"] = "{}" },
		"error code a number":    func(o map[string]any) { o["error"] = map[string]any{"code": 3, "message": "bad"} },
		"missing payload":        func(o map[string]any) { delete(o, "payload") },
		"unknown scheme":         func(o map[string]any) { o["signature_scheme"] = "none" },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			var o map[string]any
			if err := json.Unmarshal(m.Data, &o); err != nil {
				t.Fatal(err)
			}
			mutate(o)
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateSchema(sch, b); err == nil {
				t.Errorf("mutated event validated: %s", b)
			}
		})
	}
}

// TestSchemaListsEveryField keeps the schema and the encoder in step: every
// key the encoder can write is a schema property and vice versa.
func TestSchemaListsEveryField(t *testing.T) {
	raw, err := os.ReadFile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	e := Event{
		SchemaVersion: SchemaVersion, ID: "i", Type: "batch.failed", Family: FamilyBatch, Outcome: OutcomeFailed,
		Resource: "batches/r", ResourceID: "r", OccurredAt: receivedAt, ReceivedAt: receivedAt,
		OutputURI: "gs://o", FileName: "files/f", Error: &Error{Code: "1", Message: "m"},
		UserMetadata: json.RawMessage(`{"a":"b"}`), SignatureScheme: SchemeJWT, IdempotencyKey: "jwt:0:j", PayloadVersion: "v1",
		Payload: json.RawMessage(`{}`),
	}
	e = e.WithConfirmation(Confirmation{At: receivedAt, APIState: "JOB_STATE_FAILED", OutputURI: "files/o",
		Error: &Error{Code: "2", Message: "api"}})
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	var written, listed []string
	for k := range o {
		written = append(written, k)
	}
	for k := range s.Properties {
		listed = append(listed, k)
	}
	slices.Sort(written)
	slices.Sort(listed)
	if !slices.Equal(written, listed) {
		t.Errorf("encoder writes %v; schema lists %v", written, listed)
	}
	// The struct tags agree with the encoder: encoding/json's view of a
	// decoded event re-encodes to the same keys.
	rt := reflect.TypeFor[Event]()
	var tagged []string
	for i := range rt.NumField() {
		tagged = append(tagged, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	slices.Sort(tagged)
	if !slices.Equal(tagged, listed) {
		t.Errorf("struct tags %v; schema lists %v", tagged, listed)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if *update {
		if err := writeFuzzSeeds(); err != nil {
			fmt.Fprintln(os.Stderr, "write fuzz seeds:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// writeFuzzSeeds stores every case body, and a few edge bodies, in the
// committed seed corpus of FuzzParse, in the go test fuzz v1 format.
func writeFuzzSeeds() error {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "cases", "*.json"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		if strings.HasSuffix(p, ".meta.json") {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(body) > 4096 { // the deep-nesting cases are covered by unit tests
			continue
		}
		name := "case-" + strings.TrimSuffix(filepath.Base(p), ".json")
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", body)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
