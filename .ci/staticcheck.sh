#!/usr/bin/env bash
# Runs staticcheck and deadcode over both Go modules (the function's and
# tools/): no lint findings, and no function that nothing reaches (tests
# included as roots).
#
# Both are installed from the Go module proxy at a pinned version into
# the project's cache directory, once per version; nothing else is fetched.
# Idempotent; safe to rerun.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOFLAGS=-modcacherw
export GOWORK=off

# Pinned (staticcheck 2026.2.2), so a new release cannot change the verdict.
version=v0.8.2
cache="${XDG_CACHE_HOME:-$HOME/.cache}/geminihook/staticcheck-${version}"
bin="${cache}/staticcheck"
if [ ! -x "${bin}" ]; then
  mkdir -p "${cache}"
  (cd "${root}" && GOBIN="${cache}" go install "honnef.co/go/tools/cmd/staticcheck@${version}")
fi
"${bin}" -version

(cd "${root}" && "${bin}" ./...)
(cd "${root}/tools" && "${bin}" ./...)

# deadcode (golang.org/x/tools, pinned): prints every unreachable function;
# any output fails the step.
dc_version=v0.52.0
dc_cache="${XDG_CACHE_HOME:-$HOME/.cache}/geminihook/deadcode-${dc_version}"
dc="${dc_cache}/deadcode"
if [ ! -x "${dc}" ]; then
  mkdir -p "${dc_cache}"
  (cd "${root}" && GOBIN="${dc_cache}" go install "golang.org/x/tools/cmd/deadcode@${dc_version}")
fi
for dir in "${root}" "${root}/tools"; do
  dead="$(cd "${dir}" && "${dc}" -test ./...)"
  if [ -n "${dead}" ]; then
    echo "deadcode: unreachable functions in ${dir}:"; echo "${dead}"; exit 1
  fi
done
echo "deadcode: nothing unreachable"
