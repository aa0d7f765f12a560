#!/usr/bin/env bash
# Profile the minimal pipeline, the contract's floor (minimal --contract),
# the function as deployed (tools/bench/deployed:
# the Functions Framework's server) and geminihook serve (internal/httpserver)
# under the same closed loop of HMAC deliveries, one after the other, on
# loopback, with the benchmark's emulator in its own process:
#
#   - CPU: `perf record` of the server process only (frame-pointer call
#     graphs; Go keeps frame pointers on amd64), symbolized by
#     tools/bench/perfreport and reported as the share of the server's
#     samples under each function (children included) and under each group
#     of functions the gap to minimal is ranked by (perf-<target>.md);
#   - CPU per delivery: the server's CPU time over the 200 answers;
#   - start-up: GODEBUG=inittrace=1 of one start of each binary, summed and
#     ranked by package.
#
#   tools/bench/profile.sh [seconds]     # default 10 s of load per target
#
# Allocation profiles come from the Go benchmark of the handler instead
# (see PERFORMANCE.md): go test -run '^$' -bench HandlerHMAC -memprofile.
# Output: $BENCH_WORK (default: a fresh temporary directory): perf data,
# reports (perf-<target>.md), init traces (init-<target>.txt, ms per
# package, largest first) and load reports with the server's CPU time
# (load-<target>.txt).
set -euo pipefail

secs="${1:-10}"
case "$secs" in
  ''|*[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;;
esac
if [ "$secs" -gt 60 ]; then echo "profile: at most 60 seconds" >&2; exit 2; fi
command -v perf >/dev/null || { echo "profile: perf is not installed" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GOFLAGS="${GOFLAGS:--modcacherw}"
work="${BENCH_WORK:-$(mktemp -d -t geminihook-profile.XXXXXX)}"
mkdir -p "$work/bin"
echo "profile: building into $work/bin" >&2
(cd "$root" && go build -o "$work/bin/geminihook" ./cmd/geminihook)
(cd "$root/tools" && go build -o "$work/bin/" ./bench/minimal ./bench/deployed ./bench/emulator ./bench/perfreport ./load)

# Where the time goes, by group: a sample counts once in each group one of
# its frames matches.
groups=(
  --group 'whole handler=funcframework\.wrapFunction|geminihook\.\(\*function\)\.ServeHTTP$'
  --group 'internal/httpserver (wrapper, tracked body and connection)=geminihook/internal/httpserver\.'
  --group 'net/http connection, request read, answer=^net/http\.\(\*conn\)\.serve$'
  --group 'answer flush (write(2) per answer)=^net/http\.\(\*response\)\.Flush'
  --group 'verify: HMAC=geminihook/verify\.|^main\.\(\*pipeline\)\.(check|verify)$'
  --group 'dedupe=geminihook/internal/(dedupe|idempotency)\.'
  --group 'events.Normalize (Parse and NewMessage)=geminihook/events\.Normalize$'
  --group 'events.Parse=geminihook/events\.Parse$'
  --group '… strict body checks=geminihook/events\.strictCheck$'
  --group 'events.NewMessage (event JSON and attributes)=geminihook/events\.NewMessage$'
  --group 'floor: attribute map (router.message)=^main\.\(\*router\)\.message$'
  --group 'delivery log line=^log/slog\.|geminihook\.logDelivery$'
  --group 'publish call: hand-off and wait=^cloud\.google\.com/go/pubsub/v2\.\(\*Publisher\)\.Publish$|go\/internal\/pubsub\.\(\*PublishResult\)\.Get$'
  --group 'pubsub client: bundler, gRPC, proto=pubsub/v2\.\(\*Publisher\)\.publishMessageBundle'
  --group 'proto sizing+encoding of attribute maps=protobuf/internal/impl\.(sizeMap|appendMap)$'
  --group 'proto sizing+encoding, all=^google\.golang\.org/protobuf/proto\.MarshalOptions\.(size|marshal)$'
  --group 'malloc=^runtime\.mallocgc$'
  --group 'GC background marking=^runtime\.gcBgMarkWorker$'
  --group 'kernel (syscalls, network)=^\[kernel\]$'
)

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

state="$work/state.json"
rm -f "$state"
"$work/bin/emulator" --state "$state" --lifetime 10m >"$work/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q '^ready' "$work/emulator.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/emulator.log" || { echo "profile: emulator did not start" >&2; exit 1; }

# The function's environment, from the emulator's state file.
field() { sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$state"; }
project="$(field project)"
prefix="$(field prefix)"
env_vars=(
  "GOOGLE_CLOUD_PROJECT=$project"
  "PUBSUB_EMULATOR_HOST=$(field pubsub)"
  "GEMINI_WEBHOOK_SECRET=$(field secret)"
  "GEMINI_TOPIC_PREFIX=$prefix"
  "GEMINI_JWKS_URL=$(field jwks_url)"
)

port=18890
for target in minimal floor deployed serve; do
  port=$((port + 1))
  case "$target" in
    serve) cmd=("$work/bin/geminihook" serve --port "$port") ;;
    minimal) cmd=("$work/bin/minimal" --port "$port" --topic "${prefix}batch") ;;
    floor) cmd=("$work/bin/minimal" --port "$port" --contract "$prefix") ;;
    deployed) cmd=(env FUNCTION_TARGET=GeminiWebhook K_SERVICE=geminihook-bench "$work/bin/deployed" --port "$port") ;;
  esac
  # Start-up: which packages' init costs what.
  env -i PATH="$PATH" "${env_vars[@]}" GODEBUG=inittrace=1 "${cmd[@]}" >"$work/init-$target.log" 2>&1 &
  p=$!
  sleep 1
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  awk '/^init /{sum[$2]+=$5} END{for (k in sum) printf "%.3f %s\n", sum[k], k}' "$work/init-$target.log" |
    sort -k1,1 -gr >"$work/init-$target.tmp"
  awk '{s+=$1} END{printf "total %.2f ms\n", s}' "$work/init-$target.tmp" | cat - "$work/init-$target.tmp" >"$work/init-$target.txt"
  rm "$work/init-$target.tmp"

  env -i PATH="$PATH" "${env_vars[@]}" "${cmd[@]}" >"$work/$target.log" 2>&1 &
  p=$!
  pids+=("$p")
  for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  url="http://127.0.0.1:$port"
  # Warm up (connections, the lazy build), then profile a measured run.
  "$work/bin/load" --state "$state" --url "$url" --scheme hmac --concurrency 32 --duration 2s --run "warm$target" >/dev/null 2>&1
  cpu0="$(awk '{print $14+$15}' "/proc/$p/stat")"
  perf record -F 999 -g -p "$p" -o "$work/perf-$target.data" -- sleep "$secs" >/dev/null 2>&1 &
  rec=$!
  "$work/bin/load" --state "$state" --url "$url" --scheme hmac --concurrency 32 --duration "${secs}s" \
    --count $((secs * 10000)) --run "prof$target" >"$work/load-$target.txt" 2>&1
  cpu1="$(awk '{print $14+$15}' "/proc/$p/stat")"
  wait "$rec" || true
  ok="$(sed -n 's/^status *map\[200:\([0-9]*\)\]$/\1/p' "$work/load-$target.txt")"
  awk -v t="$((cpu1 - cpu0))" -v ok="${ok:-0}" 'BEGIN{printf "server CPU %.2f s for %d answers 200: %.1f us per delivery\n", t/100, ok, ok ? t/100/ok*1e6 : 0}' >>"$work/load-$target.txt"
  bin="$work/bin/$target"
  [ "$target" = serve ] && bin="$work/bin/geminihook"
  [ "$target" = floor ] && bin="$work/bin/minimal"
  perf script -i "$work/perf-$target.data" -F comm,ip 2>/dev/null |
    "$work/bin/perfreport" --bin "$bin" --top 60 "${groups[@]}" >"$work/perf-$target.md"
  kill -TERM "$p"
  wait "$p" 2>/dev/null || true
done
echo "profile: results in $work" >&2
