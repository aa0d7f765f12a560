#!/usr/bin/env bash
# CI: run the benchmark in smoke mode (a few seconds of load, on loopback,
# bounded by the driver's 2-minute limit and run.sh's timeout) to prove the
# load generator, the baselines and the pipeline run end to end. It is a
# correctness gate between the minimal pipeline, the function as deployed
# (the Functions Framework's server) and serve, never a speed gate: it fails
# when any delivery to any of them (or to bare) is answered other than 200,
# when a phase sent nothing, or when Pub/Sub does not hold exactly one
# message with a distinct webhook id per 200 answer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$root/tools/bench/run.sh" --smoke
