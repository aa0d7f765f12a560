package idempotency

import (
	"strings"
	"testing"
	"time"

	"github.com/geminihook/geminihook/internal/testclock"
)

// memStep is one call on a Memory store, or a move of its clock.
type memStep struct {
	op  string // "claim", "publish", "release" or "wait"
	key string // claim: the key
	as  string // claim: name the returned Claim; publish, release: the Claim to use
	id  string // publish: the message id
	d   time.Duration

	// claim: what it must answer
	want      State
	wantID    string
	wantRetry time.Duration
}

func claimStep(key, as string, want State) memStep {
	return memStep{op: "claim", key: key, as: as, want: want}
}
func dupStep(key, id string) memStep {
	return memStep{op: "claim", key: key, want: Duplicate, wantID: id}
}
func busyStep(key string, retry time.Duration) memStep {
	return memStep{op: "claim", key: key, want: Busy, wantRetry: retry}
}
func publishStep(as, id string) memStep { return memStep{op: "publish", as: as, id: id} }
func releaseStep(as string) memStep     { return memStep{op: "release", as: as} }
func waitStep(d time.Duration) memStep  { return memStep{op: "wait", d: d} }

// checkMemory fails t unless m's representation is consistent: its
// record of published keys passes checkSettled, and no key is both claimed
// and published.
func checkMemory(t *testing.T, m *Memory) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	checkSettled(t, &m.settled)
	for h := range m.claims {
		if _, ok := m.published[h]; ok {
			t.Fatal("a key is both claimed and published")
		}
	}
}

func TestMemoryProtocol(t *testing.T) {
	const lease, retention = 30 * time.Second, time.Hour
	for _, tc := range []struct {
		name     string
		capacity int
		steps    []memStep
		wantLen  int
	}{
		{
			name: "claim, busy while the lease lives, duplicate once published",
			steps: []memStep{
				claimStep("a", "a1", New),
				waitStep(10*time.Second + 500*time.Millisecond),
				busyStep("a", 20*time.Second),
				publishStep("a1", "12345678901234567"),
				dupStep("a", "12345678901234567"),
			},
			wantLen: 1,
		},
		{
			name: "release frees the key, release after published does nothing",
			steps: []memStep{
				claimStep("a", "a1", New),
				releaseStep("a1"),
				claimStep("a", "a2", New),
				publishStep("a2", "7"),
				releaseStep("a2"),
				dupStep("a", "7"),
			},
			wantLen: 1,
		},
		{
			name: "late landing after release is recorded",
			steps: []memStep{
				claimStep("a", "a1", New),
				releaseStep("a1"),
				publishStep("a1", "8"),
				dupStep("a", "8"),
			},
			wantLen: 1,
		},
		{
			name: "expired lease taken over; the old owner's release does nothing",
			steps: []memStep{
				claimStep("a", "old", New),
				waitStep(lease),
				claimStep("a", "new", New),
				releaseStep("old"),
				waitStep(5 * time.Second),
				busyStep("a", 25*time.Second),
				releaseStep("new"),
				claimStep("a", "", New),
			},
			wantLen: 1,
		},
		{
			name: "the old owner's late landing after a takeover wins until the new owner publishes",
			steps: []memStep{
				claimStep("a", "old", New),
				waitStep(lease + time.Second),
				claimStep("a", "new", New),
				publishStep("old", "5"),
				dupStep("a", "5"),
				releaseStep("new"),
				dupStep("a", "5"),
				publishStep("new", "6"),
				dupStep("a", "6"),
			},
			wantLen: 1,
		},
		{
			name:     "published again, then evicted by capacity: the newer record stays, oldest first",
			capacity: 2,
			steps: []memStep{
				claimStep("a", "a1", New),
				publishStep("a1", "1"),
				claimStep("b", "b1", New),
				publishStep("b1", "2"),
				publishStep("a1", "3"), // a late landing recorded again
				claimStep("c", "c1", New),
				publishStep("c1", "4"), // evicts b, the oldest; a's first entry is spent
				dupStep("a", "3"),
				claimStep("b", "", New),
				dupStep("c", "4"),
			},
			wantLen: 3, // a, c and the claim on b
		},
		{
			name:     "a key published twice counts once against capacity",
			capacity: 2,
			steps: []memStep{
				claimStep("a", "a1", New),
				publishStep("a1", "1"),
				claimStep("b", "b1", New),
				publishStep("b1", "2"),
				publishStep("b1", "3"),
				dupStep("a", "1"),
				dupStep("b", "3"),
			},
			wantLen: 2,
		},
		{
			name: "published again, then retention: the first record's expiry does not remove the second",
			steps: []memStep{
				claimStep("a", "a1", New),
				publishStep("a1", "1"),
				waitStep(30 * time.Minute),
				publishStep("a1", "2"),
				waitStep(31 * time.Minute), // past the first record's retention
				dupStep("a", "2"),
				waitStep(29 * time.Minute), // the second's retention ends now
				claimStep("a", "", New),
			},
			wantLen: 1,
		},
		{
			name: "retention counts from Published, not from the claim",
			steps: []memStep{
				claimStep("a", "a1", New),
				waitStep(20 * time.Second),
				publishStep("a1", "1"),
				waitStep(retention - time.Second),
				dupStep("a", "1"),
				waitStep(time.Second),
				claimStep("a", "", New),
			},
			wantLen: 1,
		},
		{
			name: "clock set back: a record waits behind the ones recorded before it",
			steps: []memStep{
				claimStep("a", "a1", New),
				publishStep("a1", "1"), // expires at T+1h
				waitStep(-30 * time.Minute),
				claimStep("b", "b1", New),
				publishStep("b1", "2"), // expires at T+30m, behind a
				waitStep(45 * time.Minute),
				dupStep("b", "2"), // T+15m: both live
				waitStep(30 * time.Minute),
				dupStep("b", "2"), // T+45m: past b's retention, still behind a
				waitStep(15 * time.Minute),
				claimStep("a", "", New), // T+1h: a expires, and b behind it
				claimStep("b", "", New),
			},
			wantLen: 2,
		},
		{
			name: "text and numeric message ids replace each other",
			steps: []memStep{
				claimStep("a", "a1", New),
				publishStep("a1", "m-1"),
				dupStep("a", "m-1"),
				publishStep("a1", "42"),
				dupStep("a", "42"),
				publishStep("a1", ""),
				dupStep("a", ""),
				publishStep("a1", "0042"),
				dupStep("a", "0042"),
			},
			wantLen: 1,
		},
		{
			name:     "abandoned claims are swept once the store holds twice its capacity",
			capacity: 1,
			steps: []memStep{
				claimStep("a", "", New),
				claimStep("b", "", New),
				waitStep(lease),
				claimStep("c", "", New), // a and b lapsed: swept
			},
			wantLen: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testclock.New(time.Unix(1_800_000_000, 0))
			m := NewMemory(MemoryOptions{Lease: lease, Retention: retention, Capacity: tc.capacity, Now: clk.Now})
			claims := map[string]Claim{}
			for i, s := range tc.steps {
				switch s.op {
				case "claim":
					out, c, err := m.Claim(bg, s.key)
					if err != nil {
						t.Fatalf("step %d: Claim(%q): %v", i, s.key, err)
					}
					want := Outcome{State: s.want, MessageID: s.wantID, RetryAfter: s.wantRetry}
					if out != want {
						t.Fatalf("step %d: Claim(%q) = %+v, want %+v", i, s.key, out, want)
					}
					if s.as != "" {
						claims[s.as] = c
					}
				case "publish":
					if err := m.Published(bg, claims[s.as], s.id); err != nil {
						t.Fatalf("step %d: Published: %v", i, err)
					}
				case "release":
					if err := m.Release(bg, claims[s.as]); err != nil {
						t.Fatalf("step %d: Release: %v", i, err)
					}
				case "wait":
					clk.Add(s.d)
				}
				checkMemory(t, m)
			}
			if got := m.Len(); got != tc.wantLen {
				t.Errorf("Len = %d, want %d", got, tc.wantLen)
			}
			calls := 0
			for _, s := range tc.steps {
				if s.op != "wait" {
					calls++
				}
			}
			if got := m.Calls(); got != calls {
				t.Errorf("Calls = %d, want %d", got, calls)
			}
		})
	}
}

func TestMemoryMessageIDs(t *testing.T) {
	for _, tc := range []struct {
		id     string
		number bool // kept as a number
	}{
		{"12345678901234567", true}, // Pub/Sub: 16 or 17 digits
		{"1234567890123456", true},
		{"1", true}, // pstest
		{"0", true},
		{"9223372036854775807", true}, // 2^63 - 1
		{"9223372036854775808", false},
		{"9999999999999999999", false},
		{"18446744073709551615", false}, // 2^64 - 1: 20 digits
		{"99999999999999999999", false},
		{"012", false},
		{"00", false},
		{"", false},
		{"m", false},
		{"12a", false},
		{"-1", false},
		{"+1", false},
		{" 1", false},
		{"1.0", false},
		{"１", false}, // a full-width digit
	} {
		t.Run(tc.id, func(t *testing.T) {
			if _, ok := packID(tc.id); ok != tc.number {
				t.Fatalf("packID(%q) kept as a number: %v, want %v", tc.id, ok, tc.number)
			}
			clk := testclock.New(time.Unix(1_800_000_000, 0))
			m := NewMemory(MemoryOptions{Capacity: 1, Retention: time.Hour, Now: clk.Now})
			_, c, _ := m.Claim(bg, "k")
			if err := m.Published(bg, c, tc.id); err != nil {
				t.Fatal(err)
			}
			if out, _, _ := m.Claim(bg, "k"); out.State != Duplicate || out.MessageID != tc.id {
				t.Fatalf("Claim = %+v, want Duplicate %q", out, tc.id)
			}
			checkMemory(t, m)
			// Evicted by capacity, then by retention: no text id stays behind.
			_, c2, _ := m.Claim(bg, "k2")
			_ = m.Published(bg, c2, tc.id)
			if out, _, _ := m.Claim(bg, "k"); out.State != New {
				t.Fatalf("evicted key = %v, want New", out.State)
			}
			clk.Add(time.Hour)
			if out, _, _ := m.Claim(bg, "k3"); out.State != New {
				t.Fatalf("fresh key = %v, want New", out.State)
			}
			checkMemory(t, m)
			if len(m.published) != 0 || len(m.texts) != 0 || m.Len() != 2 {
				t.Fatalf("after retention: %d published, %d text ids, Len %d; want 0, 0, 2 (the claims on k and k3)", len(m.published), len(m.texts), m.Len())
			}
		})
	}
}

// TestMemoryRepublishBounded publishes a few keys again and again, as late
// landings would, and checks that the superseded entries never make fifo
// more than twice the keys held, and that the keys stay in order.
func TestMemoryRepublishBounded(t *testing.T) {
	clk := testclock.New(time.Unix(1_800_000_000, 0))
	m := NewMemory(MemoryOptions{Capacity: 100, Retention: time.Hour, Now: clk.Now})
	keys := []string{"a", "b", "c"}
	claims := map[string]Claim{}
	for _, k := range keys {
		_, claims[k], _ = m.Claim(bg, k)
	}
	for i := range 10000 {
		_ = m.Published(bg, claims[keys[i%len(keys)]], "1")
		if len(m.fifo) > 2*len(m.published)+1 {
			t.Fatalf("after %d publishes fifo holds %d entries for %d keys", i+1, len(m.fifo), len(m.published))
		}
		clk.Add(time.Millisecond)
	}
	checkMemory(t, m)
	// The last publishes were b, c, a (i = 9997, 9998, 9999): b expires first.
	clk.Add(time.Hour - 3*time.Millisecond)
	for k, want := range map[string]State{"a": Duplicate, "b": New, "c": Duplicate} {
		if out, _, _ := m.Claim(bg, k); out.State != want {
			t.Errorf("Claim(%q) = %v, want %v", k, out.State, want)
		}
	}
	checkMemory(t, m)
}

func TestMemoryKeys(t *testing.T) {
	long := strings.Repeat("x", 300) // longer than hashKey's buffer
	keys := []string{"", "hmac:a", "jwt:a", long, long[:256], long[:299] + "y"}
	m := NewMemory(MemoryOptions{})
	for i, k := range keys {
		_, c, err := m.Claim(bg, k)
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Published(bg, c, string(rune('a'+i)))
	}
	for i, k := range keys {
		if out, _, _ := m.Claim(bg, k); out.State != Duplicate || out.MessageID != string(rune('a'+i)) {
			t.Errorf("key %d (%d bytes) = %+v, want Duplicate %q", i, len(k), out, string(rune('a'+i)))
		}
	}
	if n := testing.AllocsPerRun(100, func() { hashKey(long[:256]) }); n != 0 {
		t.Errorf("hashKey of a 256-byte key allocates %v times, want 0", n)
	}
}
