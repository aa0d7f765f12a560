#!/usr/bin/env bash
# Reliability and security checks that take longer than `go test ./...`:
# the hostile-input, fault and leak tests under the race detector, the
# duplicate-storm scenarios (pile-up on a stalled Pub/Sub, a 503'd publish
# that lands late, instances sharing the Firestore store), the
# graceful-shutdown tests of the real binary (with Pub/Sub stalled too),
# the HTTP server's limits against slow and idle clients on loopback, every
# root fuzz target for a bounded time, and a soak run of `geminihook serve`
# with accounting.
#
# usage: .ci/reliability.sh [--short]
#   --short (or RELIABILITY_SHORT=1): fuzz 10s per target, soak 5s, 300
#   clients stalling mid-headers and 2,000 idle connections; a few minutes
#   in all. This is what .ci/run uses.
#   Full mode: RELIABILITY_FUZZTIME (default 60s) per target,
#   RELIABILITY_SOAK (default 60s) of load at RELIABILITY_RATE (default 100)
#   deliveries a second, RELIABILITY_SLOW_CLIENTS (default 1500) stalled and
#   RELIABILITY_IDLE_CONNS (default 10000) idle connections (needs
#   `ulimit -n` above the latter; the script raises the soft limit).
set -euo pipefail

cd "$(dirname "$0")/.."
export GOFLAGS=-modcacherw

short=${RELIABILITY_SHORT:-0}
for arg in "$@"; do
	case "$arg" in
	--short) short=1 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "reliability.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done
if [[ $short == 1 ]]; then
	fuzztime=${RELIABILITY_FUZZTIME:-10s}
	soak=${RELIABILITY_SOAK:-5s}
	slow_clients=${RELIABILITY_SLOW_CLIENTS:-300}
	idle_conns=${RELIABILITY_IDLE_CONNS:-2000}
else
	fuzztime=${RELIABILITY_FUZZTIME:-60s}
	soak=${RELIABILITY_SOAK:-60s}
	slow_clients=${RELIABILITY_SLOW_CLIENTS:-1500}
	idle_conns=${RELIABILITY_IDLE_CONNS:-10000}
fi
rate=${RELIABILITY_RATE:-100}
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
summary=()

step() { printf '\n== %s\n' "$*"; }

step "vet"
go vet . ./internal/soak ./internal/httpserver ./cmd/geminihook

step "hostile input, faults and leaks (race detector)"
go test -race -count=1 -run 'TestHostileInput|TestForgedFloodIsCheap|TestPublishFaults|TestSecret|TestJWKSFaults|TestQuarantineAndOther|TestLogsHoldNoSecrets|TestMisconfiguredSecret|^FuzzHandler' .

step "duplicate storms: copies pile up on a stalled Pub/Sub, a 503'd publish lands late, two instances share one store (race detector)"
go test -race -count=1 -v -run 'TestPileUpWaitsOnePublish|TestLateLandingIsDuplicate|TestInstancesShareOneRecord|TestDeadInstanceLease|TestFirestoreOutage' . | tee "$logdir/storms.log" | grep -E '^(---|\s+idempotency_test|ok|FAIL)' || true
for t in TestPileUpWaitsOnePublish TestLateLandingIsDuplicate TestInstancesShareOneRecord TestDeadInstanceLease TestFirestoreOutage; do
	grep -q "^--- PASS: $t" "$logdir/storms.log" || { cat "$logdir/storms.log"; exit 1; }
done
while IFS= read -r line; do summary+=("pile-up: $line"); done < <(grep -oE '(memory|firestore): 10 copies answered within .*' "$logdir/storms.log")

step "HTTP server limits: timeouts, header cap, connection cap, refusals, shutdown (race detector)"
go test -race -count=1 ./internal/httpserver

step "graceful shutdown of the real binary, also with Pub/Sub stalled (race detector)"
go test -race -count=1 -v -run 'TestServeShutdownDrainsInFlight|TestServeShutdownWithPubSubStalled|TestServeAnswersEveryRequest' ./cmd/geminihook | tee "$logdir/shutdown.log" | grep -E '^(---|\s+(shutdown|serve)_test|ok|FAIL)' || true
for t in TestServeShutdownDrainsInFlight TestServeShutdownWithPubSubStalled TestServeAnswersEveryRequest; do
	grep -q "^--- PASS: $t" "$logdir/shutdown.log" || { cat "$logdir/shutdown.log"; exit 1; }
done
while IFS= read -r line; do summary+=("shutdown: $line"); done < <(grep -oE 'SIGTERM with.*' "$logdir/shutdown.log")

step "slow clients on loopback: $slow_clients stalled mid-headers, $idle_conns idle"
if (( $(ulimit -n) < idle_conns + 2048 )); then
	ulimit -n $((idle_conns + 2048)) 2>/dev/null || echo "reliability.sh: cannot raise ulimit -n to $((idle_conns + 2048)); idle connections may be refused" >&2
fi
GEMINIHOOK_SLOW_CLIENTS=$slow_clients GEMINIHOOK_IDLE_CONNS=$idle_conns go test -count=1 -v -run '^TestServeUnderSlowClients$' ./cmd/geminihook | tee "$logdir/slow.log" | grep -E '^(---|\s+slowclients_test|ok|FAIL)' || true
grep -q '^--- PASS: TestServeUnderSlowClients' "$logdir/slow.log" || { cat "$logdir/slow.log"; exit 1; }
while IFS= read -r line; do summary+=("$line"); done < <(grep -oE 'slow clients: .*' "$logdir/slow.log")

for target in $(go test -list '^Fuzz' . | grep '^Fuzz'); do
	step "fuzz $target for $fuzztime"
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" . >"$logdir/$target.log" 2>&1; then
		cat "$logdir/$target.log"
		echo "reliability.sh: $target failed; the failing input is under testdata/fuzz/$target/" >&2
		exit 1
	fi
	execs=$(grep -o 'execs: [0-9]*' "$logdir/$target.log" | tail -1 | grep -o '[0-9]*' || echo 0)
	tail -2 "$logdir/$target.log"
	summary+=("fuzz $target: $execs execs in $fuzztime")
done

step "soak: $soak at $rate/s through geminihook serve"
GEMINIHOOK_SOAK=$soak GEMINIHOOK_SOAK_RATE=$rate go test -count=1 -v -run '^TestSoak$' ./internal/soak | tee "$logdir/soak.log" | grep -E '^(---|\s+soak_test|ok|FAIL)' || true
grep -q '^--- PASS: TestSoak' "$logdir/soak.log" || { cat "$logdir/soak.log"; exit 1; }
while IFS= read -r line; do summary+=("$line"); done < <(grep -oE '(soak [0-9a-z.]+ at|serve RSS:).*' "$logdir/soak.log")

step "summary"
printf '%s\n' "${summary[@]}"
