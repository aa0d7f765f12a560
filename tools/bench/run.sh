#!/usr/bin/env bash
# Benchmark geminihook on this machine, in one run, against two baselines:
# the minimal verify-and-publish pipeline (tools/bench/minimal: one HMAC
# check, one publisher, 200 after the ack; the honest limit) and a bare
# Functions Framework handler (the framework's ceiling). Max throughput and
# p99 at half the minimal's max for bare, minimal, the function as deployed
# (tools/bench/deployed: the root package behind the Functions Framework's
# server, what Cloud Run runs) with HMAC deliveries, and geminihook serve
# with HMAC and with JWT deliveries; cold start to the first 200; peak RSS
# under load.
# The Pub/Sub emulator runs in its own process and its CPU is reported.
#
#   tools/bench/run.sh            # full run, about four minutes
#   tools/bench/run.sh --smoke    # a few seconds: proves it works, fails when
#                                 # minimal, deployed or serve answers other
#                                 # than 200 or Pub/Sub does not hold one
#                                 # message per 200
#   tools/bench/run.sh --cold-only [N]  # cold starts only, N (default 21)
#                                 # interleaved starts of each target
#
# Results: a Markdown table on stdout, and results.json plus every server's
# log in $BENCH_WORK (default: a fresh temporary directory).
set -euo pipefail

mode=()
case "${1:-}" in
  "") ;;
  --smoke) mode=(--smoke) ;;
  --cold-only)
    n="${2:-21}"
    case "$n" in ''|*[!0-9]*) echo "usage: $0 [--smoke | --cold-only [N]]" >&2; exit 2 ;; esac
    mode=(--cold-only --cold-starts "$n") ;;
  *) echo "usage: $0 [--smoke | --cold-only [N]]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export GOFLAGS="${GOFLAGS:--modcacherw}"
work="${BENCH_WORK:-$(mktemp -d -t geminihook-bench.XXXXXX)}"
mkdir -p "$work/bin"

echo "bench: building into $work/bin" >&2
(cd "$root" && go build -o "$work/bin/geminihook" ./cmd/geminihook)
(cd "$root/tools" && go build -o "$work/bin/" ./bench/bare ./bench/minimal ./bench/deployed ./bench/emulator ./bench/driver)

timeout --signal=TERM --kill-after=15s 12m \
  "$work/bin/driver" --bin "$work/bin" --work "$work" "${mode[@]}"
echo "bench: results and logs in $work" >&2
