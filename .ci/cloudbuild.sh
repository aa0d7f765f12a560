#!/usr/bin/env bash
# Checks the Cloud Build configurations offline: strict decoding into the
# Cloud Build API's Build message, step ordering, substitutions, images
# pinned by digest from Google-hosted registries, and tests kept out of the
# deploy build. The tests prove that broken copies of the files fail.
#
#   cloudbuild.yaml            tests, as an account that cannot change the project
#   terraform/cloudbuild.yaml  plan, and apply on request, as the deployer
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOFLAGS=-modcacherw
export GOWORK=off

cd "${root}/tools"
go test ./cloudbuildcheck/... ./cmd/cloudbuildcheck/...
go run ./cmd/cloudbuildcheck "${root}/cloudbuild.yaml" "${root}/terraform/cloudbuild.yaml"
