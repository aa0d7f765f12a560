package main

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihook/geminihook/events"
)

func TestPingWaitsForTheDelivery(t *testing.T) {
	e := newMgmtEnv(t)
	id, _ := e.gemini.AddWebhook("one", testHookURL, []string{"batch.failed"})
	// The fake "delivers" the ping the way the function would publish it,
	// but only if a subscription already exists: it must be made first.
	e.gemini.OnPing = func(hook, uri string) {
		if len(e.subscriptions()) == 0 {
			t.Error("ping sent before the subscription existed")
		}
		e.publishEvent("msg_ping_1", `{"type":"webhook.ping","version":"v1","timestamp":"2026-05-04T10:00:00Z","data":{"id":"`+hook+`"}}`)
	}
	out := e.mustRun(append(append([]string{"ping"}, e.apiFlags()...), "--wait", "20s", id)...)
	if !strings.Contains(out, "delivered to projects/proj/topics/gemini-other:") || !strings.Contains(out, "webhook.ping") ||
		!strings.Contains(out, "id=msg_ping_1") || strings.Contains(out, "quarantined") {
		t.Fatalf("output:\n%s", out)
	}
	if e.gemini.Pings(id) != 1 {
		t.Fatal("no ping sent")
	}
	if subs := e.subscriptions(); len(subs) != 0 {
		t.Fatalf("temporary subscription left behind: %v", subs)
	}
}

// TestPingReportsAQuarantinedPing: the ping's body is undocumented, so a
// ping the function cannot parse lands on quarantine; ping must see it
// there and say what that means.
func TestPingReportsAQuarantinedPing(t *testing.T) {
	e := newMgmtEnv(t)
	id, _ := e.gemini.AddWebhook("one", testHookURL, []string{"batch.failed"})
	e.gemini.OnPing = func(hook, uri string) {
		if len(e.subscriptions()) != 2 {
			t.Error("ping sent before both subscriptions existed")
		}
		m := events.NewQuarantineMessage([]byte(`{}`), events.Meta{ID: "msg_ping_q", ReceivedAt: time.Now().UTC(), Scheme: events.SchemeHMAC}, errors.New("no type"))
		e.ps.Publish(topicFor(events.FamilyQuarantine), m.Data, m.Attributes)
	}
	out := e.mustRun(append(append([]string{"ping", id}, e.apiFlags()...), "--wait", "20s")...)
	if !strings.Contains(out, "delivered to projects/proj/topics/gemini-quarantine:") || !strings.Contains(out, "id=msg_ping_q") ||
		!strings.Contains(out, "quarantined it") {
		t.Fatalf("output:\n%s", out)
	}
	if subs := e.subscriptions(); len(subs) != 0 {
		t.Fatalf("temporary subscriptions left behind: %v", subs)
	}
}

func TestPingReportsMissingDelivery(t *testing.T) {
	e := newMgmtEnv(t)
	id, _ := e.gemini.AddWebhook("one", testHookURL, []string{"batch.failed"})
	code, _, errOut := e.run(append(append([]string{"ping"}, e.apiFlags()...), "--wait", "300ms", id)...)
	if code != 1 || !strings.Contains(errOut, "nothing reached projects/proj/topics/gemini-other or projects/proj/topics/gemini-quarantine within 300ms") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if subs := e.subscriptions(); len(subs) != 0 {
		t.Fatalf("temporary subscription left behind: %v", subs)
	}

	out := e.mustRun(append(append([]string{"ping"}, e.apiFlags()...), "--no-wait", "--project", "", id)...)
	if !strings.Contains(out, "accepted the ping") || e.gemini.Pings(id) != 2 {
		t.Fatalf("--no-wait:\n%s", out)
	}
	code, _, errOut = e.run(append(append([]string{"ping"}, e.apiFlags()...), "--project", "", id)...)
	if code != 1 || !strings.Contains(errOut, "no project") {
		t.Fatalf("no project: exit %d: %s", code, errOut)
	}
	code, _, errOut = e.run(append(append([]string{"ping"}, e.apiFlags()...), "--api-timeout", "300ms", "nope")...)
	if code != 1 || !strings.Contains(errOut, "ping webhook nope: 404 NOT_FOUND") {
		t.Fatalf("unknown webhook: exit %d: %s", code, errOut)
	}
}

// runAsync runs a command in the background and returns a wait func.
func (e *mgmtEnv) runAsync(args ...string) func() (int, string, string) {
	var (
		wg                sync.WaitGroup
		code              int
		stdout, stderrOut string
	)
	wg.Go(func() { code, stdout, stderrOut = e.run(args...) })
	return func() (int, string, string) { wg.Wait(); return code, stdout, stderrOut }
}

const (
	batchBody = `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/b1","output_file_uri":"gs://b/out.jsonl"}}`
	videoBody = `{"type":"video.generated","version":"v1","timestamp":"2026-01-22T12:01:00Z","data":{"id":"op-v1","file_name":"files/v"}}`
)

func (e *mgmtEnv) quarantine(id string, body string) {
	m := events.NewQuarantineMessage([]byte(body), events.Meta{ID: id, ReceivedAt: time.Now().UTC(), Scheme: events.SchemeHMAC}, &events.MalformedError{Reason: events.ReasonUnsupportedVersion})
	e.ps.Publish(topicFor(events.FamilyQuarantine), m.Data, m.Attributes)
}

func TestTailPrintsEveryFamily(t *testing.T) {
	e := newMgmtEnv(t)
	wait := e.runAsync("tail", "--max", "3", "--timeout", "30s")
	e.waitSubscriptions(5)
	e.publishEvent("msg_b1", batchBody)
	e.publishEvent("msg_v1", videoBody)
	e.quarantine("msg_q1", `{"type":"batch.succeeded","version":"v9"}`)
	code, out, errOut := wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, want := range []string{
		"2026-01-22T12:00:00Z  batch       batch.succeeded              succeeded       batches/b1",
		"id=msg_b1",
		"2026-01-22T12:01:00Z  video       video.generated",
		"quarantine",
		"unsupported_version",
		"id=msg_q1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if subs := e.subscriptions(); len(subs) != 0 {
		t.Fatalf("temporary subscriptions left behind: %v", subs)
	}
}

func TestTailJSONOneFamilyAndTimeout(t *testing.T) {
	e := newMgmtEnv(t)
	wait := e.runAsync("tail", "--family", "batch", "--json", "--max", "1", "--timeout", "30s")
	e.waitSubscriptions(1)
	e.publishEvent("msg_v1", videoBody) // not subscribed: never printed
	e.publishEvent("msg_b1", batchBody)
	code, out, errOut := wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var ev events.Event
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ev); err != nil {
		t.Fatalf("not one JSON event: %v\n%s", err, out)
	}
	if ev.ID != "msg_b1" || ev.Type != "batch.succeeded" || ev.OutputURI != "gs://b/out.jsonl" || string(ev.Payload) != batchBody {
		t.Fatalf("event %+v", ev)
	}

	// --timeout ends a quiet tail cleanly; a given subscription is used as is.
	sub := e.subscribe("standing-batch", events.FamilyBatch)
	code, out, errOut = e.run("tail", "--subscription", "standing-batch", "--timeout", "300ms")
	if code != 0 || out != "" {
		t.Fatalf("quiet tail: exit %d, %q, %s", code, out, errOut)
	}
	if subs := e.subscriptions(); len(subs) != 1 || subs[0] != sub {
		t.Fatalf("subscriptions %v", subs)
	}
	code, _, errOut = e.run("tail", "--subscription", "missing", "--timeout", "10s")
	if code != 1 || !strings.Contains(errOut, "receive from projects/proj/subscriptions/missing") {
		t.Fatalf("missing subscription: exit %d: %s", code, errOut)
	}
	code, _, errOut = e.run("tail", "--family", "jobs")
	if code != 1 || !strings.Contains(errOut, `unknown family "jobs"`) {
		t.Fatalf("bad family: exit %d: %s", code, errOut)
	}
}

func TestReplayRepublishesWhatNowParses(t *testing.T) {
	e := newMgmtEnv(t)
	qsub := e.subscribe("quarantine-standing", events.FamilyQuarantine)
	bsub := e.subscribe("batch-watch", events.FamilyBatch)
	e.quarantine("msg_ok", batchBody)
	e.quarantine("msg_bad", `{"type":`)

	// Dry run: says what it would do, publishes and acknowledges nothing.
	code, out, errOut := e.run("replay", "--subscription", "quarantine-standing", "--dry-run", "--max", "2", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "would    id=msg_ok batch.succeeded succeeded -> projects/proj/topics/gemini-batch") ||
		!strings.Contains(out, "still    id=msg_bad") || !strings.Contains(out, "invalid_json") ||
		!strings.Contains(out, "would replay 1; still malformed 1;") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.pull(bsub, 1, 500*time.Millisecond, true); len(got) != 0 {
		t.Fatal("dry run published")
	}

	code, out, errOut = e.run("replay", "--subscription", qsub, "--max", "2", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "replayed id=msg_ok") || !strings.Contains(out, "replayed 1; still malformed 1") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	got := e.pull(bsub, 1, 10*time.Second, true)
	if len(got) != 1 {
		t.Fatal("nothing republished to the batch topic")
	}
	ev, err := events.Decode(events.Message{Data: got[0].Data, Attributes: got[0].Attributes})
	if err != nil || ev.ID != "msg_ok" || ev.Resource != "batches/b1" || got[0].Attributes[events.AttrEventType] != "batch.succeeded" {
		t.Fatalf("republished %+v, %v", ev, err)
	}
	// Only the malformed message is still in quarantine. (A nack that
	// races the end of a run can make a redelivery wait for the ack
	// deadline, hence the long bound.)
	e.assertQuarantine(qsub, "msg_ok", "msg_bad")
}

// TestReplayHoldsDisputedDeliveries: a delivery the Gemini API disputed
// parses, so a plain replay would publish it as an ordinary event; it is
// held unless --include-unconfirmed says a person checked it.
func TestReplayHoldsDisputedDeliveries(t *testing.T) {
	e := newMgmtEnv(t)
	qsub := e.subscribe("quarantine-disputed", events.FamilyQuarantine)
	bsub := e.subscribe("batch-disputed", events.FamilyBatch)
	meta := events.Meta{ID: "msg_disputed", ReceivedAt: time.Now().UTC(), Scheme: events.SchemeJWT}
	ev, err := events.Parse([]byte(batchBody), meta)
	if err != nil {
		t.Fatal(err)
	}
	m := events.NewUnconfirmedMessage([]byte(batchBody), meta, ev, events.Dispute{Reason: "state_mismatch", Resource: "batches/b1", APIState: "JOB_STATE_RUNNING", CheckedAt: time.Now().UTC()})
	e.ps.Publish(topicFor(events.FamilyQuarantine), m.Data, m.Attributes)

	code, out, errOut := e.run("replay", "--subscription", qsub, "--max", "1", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "held     id=msg_disputed quarantined as unconfirmed") ||
		!strings.Contains(out, "replayed 0; still malformed 0; disputed by the Gemini API 1;") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.pull(bsub, 1, 500*time.Millisecond, true); len(got) != 0 {
		t.Fatal("a disputed delivery was published without --include-unconfirmed")
	}

	code, out, errOut = e.run("replay", "--subscription", qsub, "--include-unconfirmed", "--max", "1", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "replayed id=msg_disputed") || !strings.Contains(out, "replayed 1;") {
		t.Fatalf("replay --include-unconfirmed: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.pull(bsub, 1, 10*time.Second, true); len(got) != 1 {
		t.Fatal("--include-unconfirmed did not publish the disputed delivery")
	}
}

// assertQuarantine checks that acked's quarantine message was acknowledged
// and that left's is still delivered by sub.
func (e *mgmtEnv) assertQuarantine(sub, acked, left string) {
	e.t.Helper()
	found := false
	for _, m := range e.ps.Messages() {
		if m.Attributes[events.AttrEventFamily] == string(events.FamilyQuarantine) && m.Attributes[events.AttrWebhookID] == acked {
			found = m.Acks > 0
		}
	}
	if !found {
		e.t.Fatalf("quarantine message %s was not acknowledged", acked)
	}
	got := e.pull(sub, 1, 20*time.Second, false)
	if len(got) != 1 || got[0].Attributes[events.AttrWebhookID] != left {
		e.t.Fatalf("quarantine message %s is not delivered any more", left)
	}
}

func TestReplayTemporarySubscriptionAndErrors(t *testing.T) {
	e := newMgmtEnv(t)
	bsub := e.subscribe("batch-watch", events.FamilyBatch)
	wait := e.runAsync("replay", "--max", "1", "--timeout", "30s")
	e.waitSubscriptions(2)
	e.quarantine("msg_late", batchBody)
	code, out, errOut := wait()
	if code != 0 || !strings.Contains(out, "replayed id=msg_late") || !strings.Contains(errOut, "standing quarantine subscription") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.pull(bsub, 1, 10*time.Second, true); len(got) != 1 {
		t.Fatal("not republished")
	}
	if subs := e.subscriptions(); len(subs) != 1 {
		t.Fatalf("temporary subscription left behind: %v", subs)
	}

	// A publish failure leaves the message in quarantine and fails the run.
	qsub := e.subscribe("q", events.FamilyQuarantine)
	e.quarantine("msg_x", videoBody)
	code, out, _ = e.run("replay", "--subscription", qsub, "--prefix", "missing-", "--max", "1", "--timeout", "30s")
	if code != 1 || !strings.Contains(out, "failed   id=msg_x") || !strings.Contains(out, "publish failures 1") {
		t.Fatalf("publish failure: exit %d\n%s", code, out)
	}
	if left := e.pull(qsub, 1, 20*time.Second, false); len(left) != 1 {
		t.Fatal("message lost after a failed publish")
	}

	// A run ended by --timeout hands the messages it holds back.
	e.quarantine("msg_bad2", "not json")
	code, out, errOut = e.run("replay", "--subscription", qsub, "--timeout", "1s")
	if code != 0 || !strings.Contains(out, "replayed 1; still malformed 1") {
		t.Fatalf("timeout run: exit %d\n%s%s", code, out, errOut)
	}
	e.assertQuarantine(qsub, "msg_x", "msg_bad2")
}

func TestTailJSONQuarantineAndUndecodable(t *testing.T) {
	e := newMgmtEnv(t)
	wait := e.runAsync("tail", "--family", "quarantine,batch", "--json", "--max", "3", "--timeout", "30s")
	e.waitSubscriptions(2)
	e.quarantine("msg_q_text", `{"type":`)
	e.quarantine("msg_q_bin", "\xff\xfe")
	e.ps.Publish(topicFor(events.FamilyBatch), []byte("not an event"), map[string]string{events.AttrEventFamily: "batch"})
	code, out, errOut := wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var text, bin, junk map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line is not JSON: %q", line)
		}
		switch m["id"] {
		case "msg_q_text":
			text = m
		case "msg_q_bin":
			bin = m
		default:
			junk = m
		}
	}
	if text["payload"] != `{"type":` || text["quarantine_reason"] != "unsupported_version" || text["family"] != "quarantine" {
		t.Errorf("text quarantine %v", text)
	}
	if bin["payload_base64"] != "//4=" || bin["payload"] != nil {
		t.Errorf("binary quarantine %v", bin)
	}
	if junk["family"] != "unknown" || junk["error"] != "data is not JSON" {
		t.Errorf("undecodable %v", junk)
	}

	// The text form says a message is undecodable instead of failing.
	wait = e.runAsync("tail", "--family", "batch", "--max", "1", "--timeout", "30s")
	e.waitSubscriptions(1)
	e.ps.Publish(topicFor(events.FamilyBatch), []byte("{}"), map[string]string{events.AttrEventFamily: "batch"})
	code, out, _ = wait()
	if code != 0 || !strings.Contains(out, "batch       undecodable message") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
