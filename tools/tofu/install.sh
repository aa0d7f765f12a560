#!/usr/bin/env bash
# Builds OpenTofu from its Go module and prints the path of the binary.
#
# No Terraform or OpenTofu release can be downloaded in CI, but the Go module
# proxy can be reached, so the binary is built from source. The module has a
# replace directive, which makes `go install module@version` refuse it: the
# module is downloaded and built inside its own directory instead.
#
# The binary is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/geminihook/,
# keyed by version, so a second run is instant.
#
# Usage: tools/tofu/install.sh [version]   (default: TOFU_VERSION or v1.12.6)
set -euo pipefail

version="${1:-${TOFU_VERSION:-v1.12.6}}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/geminihook/tofu-${version}"
bin="${cache}/tofu"

if [[ -x "${bin}" ]] && "${bin}" version >/dev/null 2>&1; then
  echo "${bin}"
  exit 0
fi

export GOFLAGS=-modcacherw
# The build must not pick up the calling module's settings.
export GOWORK=off
unset GOOS GOARCH

echo "building OpenTofu ${version} (a few minutes on a cold cache)" >&2
json="$(cd "$(mktemp -d)" && go mod download -json "github.com/opentofu/opentofu@${version}")"
dir="$(printf '%s\n' "${json}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "${dir}" || ! -d "${dir}" ]]; then
  echo "go mod download did not report a module directory:" >&2
  printf '%s\n' "${json}" >&2
  exit 1
fi

mkdir -p "${cache}"
tmp="$(mktemp "${cache}/tofu.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
(cd "${dir}" && CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
  -o "${tmp}" ./cmd/tofu)
chmod 0755 "${tmp}"
mv -f "${tmp}" "${bin}"
trap - EXIT
echo "${bin}"
