#!/usr/bin/env bash
# Checks cloudbuild.yaml offline: strict decoding into the Cloud Build API's
# Build message, step ordering, substitutions and pinned images. The tests
# prove that broken copies of the file fail.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOFLAGS=-modcacherw
export GOWORK=off

cd "${root}/tools"
go test ./cloudbuildcheck/... ./cmd/cloudbuildcheck/...
go run ./cmd/cloudbuildcheck "${root}/cloudbuild.yaml"
