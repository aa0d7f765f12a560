#!/usr/bin/env bash
# Runs staticcheck over both Go modules (the function's and tools/).
#
# staticcheck is installed from the Go module proxy at a pinned version into
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
