package idempotency

import (
	"fmt"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/testclock"
)

// settledStep is one call on a settled record, or a move of its clock.
type settledStep struct {
	op   string // "put", "get" or "wait"
	key  string // put, get
	id   string // put: the message id; get: the one it must return
	held bool   // get: whether the key must be held
	d    time.Duration
}

func putStep(key, id string) settledStep { return settledStep{op: "put", key: key, id: id} }
func heldStep(key, id string) settledStep {
	return settledStep{op: "get", key: key, id: id, held: true}
}
func goneStep(key string) settledStep      { return settledStep{op: "get", key: key} }
func moveStep(d time.Duration) settledStep { return settledStep{op: "wait", d: d} }

// checkSettled fails t unless s's representation is consistent: every key
// held has exactly one current entry in fifo, at the position its record
// names; the superseded entries are counted; and texts holds exactly the
// message ids of held keys not kept as numbers.
func checkSettled(t *testing.T, s *settled) {
	t.Helper()
	if got, want := len(s.fifo)-s.head, len(s.published)+s.stale; got != want {
		t.Fatalf("fifo holds %d entries, want %d held + %d superseded", got, len(s.published), s.stale)
	}
	if len(s.published) > s.capacity {
		t.Fatalf("%d keys held, capacity %d", len(s.published), s.capacity)
	}
	current := 0
	for i := s.head; i < len(s.fifo); i++ {
		if s.current(i) {
			current++
		}
	}
	if current != len(s.published) {
		t.Fatalf("%d current fifo entries for %d keys held", current, len(s.published))
	}
	for h, p := range s.published {
		if i := int(p.pos - s.base); i < s.head || i >= len(s.fifo) || s.fifo[i].key != h {
			t.Fatalf("a record points at fifo position %d, outside [%d, %d) or at another key", i, s.head, len(s.fifo))
		}
		if _, ok := s.texts[h]; ok != (p.id == textID) {
			t.Fatalf("a record with id %#x has a text id: %v", p.id, ok)
		}
	}
	for h := range s.texts {
		if _, ok := s.published[h]; !ok {
			t.Fatal("a text id outlived its key")
		}
	}
}

func TestSettled(t *testing.T) {
	const ttl = time.Hour
	for _, tc := range []struct {
		name     string
		capacity int
		steps    []settledStep
		wantLen  int
	}{
		{
			name:     "held until the ttl, counted from the put",
			capacity: 10,
			steps: []settledStep{
				goneStep("a"),
				putStep("a", "12345678901234567"),
				heldStep("a", "12345678901234567"),
				moveStep(ttl - time.Nanosecond),
				heldStep("a", "12345678901234567"),
				moveStep(time.Nanosecond),
				goneStep("a"),
			},
			wantLen: 0,
		},
		{
			name:     "both message id forms, each replacing the other",
			capacity: 10,
			steps: []settledStep{
				putStep("n", "1234567890123456"), // a number
				putStep("t", "m-1"),              // text
				putStep("e", ""),
				putStep("z", "0042"),                  // a leading zero: text
				putStep("big", "9223372036854775808"), // 2^63: text
				heldStep("n", "1234567890123456"),
				heldStep("t", "m-1"),
				heldStep("e", ""),
				heldStep("z", "0042"),
				heldStep("big", "9223372036854775808"),
				putStep("t", "42"),
				heldStep("t", "42"),
				putStep("n", "m-2"),
				heldStep("n", "m-2"),
			},
			wantLen: 5,
		},
		{
			name:     "oldest evicted first beyond capacity, text ids with their keys",
			capacity: 2,
			steps: []settledStep{
				putStep("a", "m-a"),
				putStep("b", "2"),
				putStep("c", "m-c"),
				goneStep("a"),
				heldStep("b", "2"),
				heldStep("c", "m-c"),
				putStep("d", "4"),
				goneStep("b"),
				heldStep("c", "m-c"),
				heldStep("d", "4"),
			},
			wantLen: 2,
		},
		{
			name:     "recorded again, then evicted by capacity: it counts once, as the newest",
			capacity: 2,
			steps: []settledStep{
				putStep("a", "1"),
				putStep("b", "2"),
				putStep("a", "3"), // a is now newer than b
				heldStep("a", "3"),
				heldStep("b", "2"), // two keys, not three records
				putStep("c", "4"),  // evicts b; a's first entry is spent
				goneStep("b"),
				heldStep("a", "3"),
				heldStep("c", "4"),
				putStep("d", "5"), // evicts a
				goneStep("a"),
				heldStep("c", "4"),
				heldStep("d", "5"),
			},
			wantLen: 2,
		},
		{
			name:     "recorded again, then the ttl: the first record's expiry does not remove the second",
			capacity: 10,
			steps: []settledStep{
				putStep("a", "m-1"),
				putStep("b", "2"),
				moveStep(30 * time.Minute),
				putStep("a", "3"),
				moveStep(30 * time.Minute), // past the first records' ttl
				goneStep("b"),
				heldStep("a", "3"),
				moveStep(30*time.Minute - time.Nanosecond),
				heldStep("a", "3"),
				moveStep(time.Nanosecond), // the second record's ttl ends now
				goneStep("a"),
			},
			wantLen: 0,
		},
		{
			name:     "clock set back: a record waits behind the ones recorded before it",
			capacity: 10,
			steps: []settledStep{
				putStep("a", "1"), // expires at T+1h
				moveStep(-30 * time.Minute),
				putStep("b", "2"), // expires at T+30m, behind a
				moveStep(45 * time.Minute),
				heldStep("b", "2"), // T+15m: both live
				moveStep(30 * time.Minute),
				heldStep("b", "2"), // T+45m: past b's ttl, still behind a
				moveStep(15 * time.Minute),
				goneStep("a"), // T+1h: a expires, and b behind it
				goneStep("b"),
			},
			wantLen: 0,
		},
		{
			name:     "clock set back before the record was made",
			capacity: 10,
			steps: []settledStep{
				moveStep(-48 * time.Hour),
				putStep("a", "1"),
				moveStep(48 * time.Hour), // long past a's ttl
				goneStep("a"),
				putStep("b", "2"),
				moveStep(-48 * time.Hour), // before b was made: still held
				heldStep("b", "2"),
			},
			wantLen: 1,
		},
		{
			name:     "capacity 0 holds nothing",
			capacity: 0,
			steps: []settledStep{
				putStep("a", "1"),
				putStep("b", "m-b"),
				goneStep("a"),
				goneStep("b"),
			},
			wantLen: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testclock.New(time.Unix(1_800_000_000, 0))
			s := newSettled(tc.capacity, ttl, clk.Now())
			for i, st := range tc.steps {
				switch st.op {
				case "put":
					s.put(hashKey(st.key), st.id, clk.Now())
				case "get":
					id, ok := s.get(hashKey(st.key), clk.Now())
					if ok != st.held || id != st.id {
						t.Fatalf("step %d: get(%q) = %q, %v; want %q, %v", i, st.key, id, ok, st.id, st.held)
					}
				case "wait":
					clk.Add(st.d)
				}
				checkSettled(t, &s)
			}
			if got := s.len(); got != tc.wantLen {
				t.Errorf("len = %d, want %d", got, tc.wantLen)
			}
		})
	}
}

// TestSettledRecordedAgainBounded records a few keys again and again, as
// late landings would, among keys recorded once, and checks that fifo
// never holds more than twice the keys held, and that the keys leave in
// the order of their latest records.
func TestSettledRecordedAgainBounded(t *testing.T) {
	clk := testclock.New(time.Unix(1_800_000_000, 0))
	s := newSettled(50, time.Hour, clk.Now())
	again := []string{"a", "b", "c"}
	for i := range 10000 {
		if i%100 == 0 {
			s.put(hashKey(fmt.Sprint("once-", i)), fmt.Sprint(i), clk.Now())
		} else {
			s.put(hashKey(again[i%len(again)]), fmt.Sprint("m-", i), clk.Now())
		}
		if len(s.fifo)-s.head > 2*len(s.published) {
			t.Fatalf("after %d puts fifo holds %d live entries for %d keys", i+1, len(s.fifo)-s.head, len(s.published))
		}
		if len(s.fifo) > 2*(2*len(s.published)+1) {
			t.Fatalf("after %d puts fifo holds %d entries for %d keys", i+1, len(s.fifo), len(s.published))
		}
		clk.Add(time.Millisecond)
	}
	checkSettled(t, &s)
	// The last puts were i = 9997 (b), 9998 (c), 9999 (a); i = 9900 was
	// the last key recorded once. Each leaves an hour after its last put.
	clk.Add(time.Hour - 100*time.Millisecond) // 9900's hour has passed
	if _, ok := s.get(hashKey("once-9900"), clk.Now()); ok {
		t.Fatal("once-9900 held past its ttl")
	}
	clk.Add(97 * time.Millisecond) // b's hour has passed
	for k, want := range map[string]string{"a": "m-9999", "b": "", "c": "m-9998"} {
		if id, ok := s.get(hashKey(k), clk.Now()); id != want || ok != (want != "") {
			t.Errorf("get(%q) = %q, %v; want %q", k, id, ok, want)
		}
	}
	checkSettled(t, &s)
	if s.len() != 2 {
		t.Fatalf("len = %d, want 2 (a and c)", s.len())
	}
}
