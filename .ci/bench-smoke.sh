#!/usr/bin/env bash
# CI: run the benchmark in smoke mode (a few seconds of load) to prove the
# load generator, the baselines and the pipeline run end to end. It asserts
# no speed; it fails when any delivery is answered other than 200 or when
# Pub/Sub does not hold exactly one message per 200 answer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$root/tools/bench/run.sh" --smoke
