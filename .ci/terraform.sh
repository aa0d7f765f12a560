#!/usr/bin/env bash
# Checks terraform/ offline with OpenTofu: fmt, validate and `tofu test`
# (mocked providers), then proves that broken copies of the module fail.
#
# Nothing is downloaded but Go modules: OpenTofu is built from its Go module
# (tools/tofu/install.sh, cached), and the providers are a schema-only stand-in
# (tools/cmd/tfschemaprovider) serving the committed schema dump of
# hashicorp/google, hashicorp/google-beta, hashicorp/archive, hashicorp/random
# and hashicorp/time, installed through a dev_overrides CLI configuration. The
# stand-in also applies the real provider's IAM member validator, so mocked
# values that the real provider would refuse fail here too.
#
# TF_REAL_GOOGLE_PROVIDER=/dir (optional): a directory holding real
# terraform-provider-google and/or terraform-provider-google-beta binaries,
# built elsewhere; `tofu test` then runs a second time against them
# (terraform/README.md, "Testing against the real provider").
# Idempotent; safe to rerun.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOFLAGS=-modcacherw
export GOWORK=off

cache="${XDG_CACHE_HOME:-$HOME/.cache}/geminihook"
mkdir -p "${cache}"

step() { printf '\n== %s\n' "$*"; }

step "schema-only provider and module policy: unit tests"
(cd "${root}/tools" && go test ./tfschema/... ./cmd/tfschemaprovider/... ./tfinventory/...)

step "module policy: IAM grants and secret values"
(cd "${root}/tools" && go build -o "${cache}/tfinventory" ./cmd/tfinventory)
"${cache}/tfinventory" "${root}/terraform"

step "source archive: nothing left out is imported by the function"
# function.tf keeps test-support packages out of the archive by name; none
# of them may be a dependency of the function (root package, tests excluded).
skipped="$(sed -n '/source_skip_dirs = \[/,/\]/p' "${root}/terraform/function.tf" | grep -oE '"[^"]+"' | tr -d '"')"
test -n "${skipped}" || { echo "no source_skip_dirs found in terraform/function.tf" >&2; exit 1; }
deps="$(cd "${root}" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' .)"
for dir in ${skipped}; do
  if grep -qxF "github.com/geminihook/geminihook/${dir}" <<<"${deps}"; then
    echo "terraform/function.tf leaves ${dir} out of the source archive, but the function imports it" >&2
    exit 1
  fi
done
echo "ok: none of $(echo ${skipped}) is imported by the function"

step "schema-only provider: install"
plugins="${cache}/tfschema-provider"
mkdir -p "${plugins}"
staging="$(mktemp "${plugins}/build.XXXXXX")"
(cd "${root}/tools" && go build -o "${staging}" ./cmd/tfschemaprovider)
mv -f "${staging}" "${plugins}/terraform-provider-google"
for name in google-beta archive random time; do
  ln -f "${plugins}/terraform-provider-google" "${plugins}/terraform-provider-${name}"
done
"${plugins}/terraform-provider-google" -list

# A CLI configuration of our own, set explicitly: nothing from the user's
# ~/.tofurc or ~/.terraformrc takes part.
export TF_CLI_CONFIG_FILE="${cache}/offline.tofurc"
cat > "${TF_CLI_CONFIG_FILE}" <<TFRC
provider_installation {
  dev_overrides {
    "hashicorp/google"      = "${plugins}"
    "hashicorp/google-beta" = "${plugins}"
    "hashicorp/archive"     = "${plugins}"
    "hashicorp/random"      = "${plugins}"
    "hashicorp/time"        = "${plugins}"
  }
  direct {}
}
TFRC
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_PLUGIN_CACHE_DIR TF_WORKSPACE

step "OpenTofu"
tofu="$(bash "${root}/tools/tofu/install.sh")"
"${tofu}" version

tf="${root}/terraform"

step "tofu fmt -check"
"${tofu}" fmt -check -recursive -diff "${tf}"

step "tofu validate"
"${tofu}" -chdir="${tf}" validate -no-color

step "tofu test"
"${tofu}" -chdir="${tf}" test -no-color

if [[ -n "${TF_REAL_GOOGLE_PROVIDER:-}" ]]; then
  step "tofu test against the real provider in ${TF_REAL_GOOGLE_PROVIDER}"
  real="$(mktemp -d)"
  for name in google google-beta archive random time; do
    if [[ -x "${TF_REAL_GOOGLE_PROVIDER}/terraform-provider-${name}" ]]; then
      ln -sf "${TF_REAL_GOOGLE_PROVIDER}/terraform-provider-${name}" "${real}/terraform-provider-${name}"
    else
      ln -sf "${plugins}/terraform-provider-${name}" "${real}/terraform-provider-${name}"
    fi
  done
  sed "s|\"${plugins}\"|\"${real}\"|" "${TF_CLI_CONFIG_FILE}" > "${real}/real.tofurc"
  TF_CLI_CONFIG_FILE="${real}/real.tofurc" "${tofu}" -chdir="${tf}" test -no-color
  rm -rf "${real}"
fi

# ------------------------------------------------------------ broken copies
#
# Each copy of the module carries one deliberate mistake; the check passes
# only if OpenTofu rejects it with the expected message.

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# broken NAME FILE OLD NEW: copy the module to ${work}/NAME/terraform (beside
# a copy of go.mod and go.sum, which the source archive expects one level up)
# with the first OLD in FILE replaced by NEW, failing if OLD is not there;
# print the copy's directory.
broken() {
  local name="$1" file="$2" old="$3" new="$4" dir="${work}/$1/terraform"
  mkdir -p "${dir}/tests"
  cp "${root}/go.mod" "${root}/go.sum" "${work}/${name}/"
  cp "${tf}"/*.tf "${dir}/"
  cp "${tf}"/tests/*.tftest.hcl "${dir}/tests/"
  if ! grep -qF -- "${old}" "${dir}/${file}"; then
    echo "broken copy ${name}: ${file} no longer contains: ${old}" >&2
    return 1
  fi
  OLD="${old}" NEW="${new}" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "${dir}/${file}"
  echo "${dir}"
}

# expect_failure NAME PATTERN CMD...: CMD must fail and print PATTERN.
expect_failure() {
  local name="$1" pattern="$2"
  shift 2
  local out
  if out="$("$@" 2>&1)"; then
    printf '%s\n' "${out}" >&2
    echo "FAIL ${name}: the broken copy was accepted" >&2
    return 1
  fi
  if ! grep -qE -- "${pattern}" <<<"${out}"; then
    printf '%s\n' "${out}" >&2
    echo "FAIL ${name}: failed, but without /${pattern}/" >&2
    return 1
  fi
  echo "ok   ${name}: rejected (${pattern})"
}

step "broken copies are rejected"
dir="$(broken misspelt-argument function.tf 'runtime           = "go126"' 'runtim = "go126"')"
expect_failure misspelt-argument 'Unsupported argument' "${tofu}" -chdir="${dir}" validate -no-color

dir="$(broken unknown-block function.tf '  service_config {' '  service_confg {}
  service_config {')"
expect_failure unknown-block 'Unsupported block type' "${tofu}" -chdir="${dir}" validate -no-color

dir="$(broken wrong-type function.tf 'timeout_seconds                  = var.timeout_seconds' 'timeout_seconds                  = [var.timeout_seconds]')"
expect_failure wrong-type 'Incorrect attribute value type' "${tofu}" -chdir="${dir}" validate -no-color

dir="$(broken unknown-resource-type secret.tf 'resource "google_secret_manager_secret" "webhook"' 'resource "google_secret_manager_secrets" "webhook"')"
expect_failure unknown-resource-type 'Invalid resource type' "${tofu}" -chdir="${dir}" validate -no-color

# The tests themselves must catch a widened or misdirected grant.
dir="$(broken widened-grant iam.tf 'role    = "roles/logging.logWriter"' 'role    = "roles/editor"')"
expect_failure widened-grant 'only project-level role must be' "${tofu}" -chdir="${dir}" test -no-color -filter=tests/topics_iam.tftest.hcl

dir="$(broken misdirected-grant iam.tf '  topic   = each.value.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime.member' '  topic   = google_pubsub_topic.family["batch"].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime.member')"
expect_failure misdirected-grant "publisher on that family's topic" "${tofu}" -chdir="${dir}" test -no-color -filter=tests/topics_iam.tftest.hcl

dir="$(broken env-drift function.tf 'GEMINI_TOPIC_PREFIX        = var.topic_prefix' 'GEMINI_TOPIC_PREFIX        = "gemini-"')"
expect_failure env-drift 'must be told the topic prefix' "${tofu}" -chdir="${dir}" test -no-color -filter=tests/topics_iam.tftest.hcl

# A mocked computed value that is no principal is refused, as the real
# provider refuses it (the stand-in applies its IAM member validator).
dir="$(broken random-mock-member tests/topics_iam.tftest.hcl '      member = "serviceAccount:geminihook-run@test-project.iam.gserviceaccount.com"' '      member = "z0wyCNiLtl"')"
expect_failure random-mock-member 'invalid value "z0wyCNiLtl" for member' "${tofu}" -chdir="${dir}" test -no-color -filter=tests/topics_iam.tftest.hcl

dir="$(broken unconditioned-firestore-grant iam.tf 'expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\""' 'expression  = "true"')"
expect_failure unconditioned-firestore-grant "must be datastore.user on the store's Firestore" "${tofu}" -chdir="${dir}" test -no-color -filter=tests/topics_iam.tftest.hcl

dir="$(broken no-iam-wait function.tf 'depends_on = [time_sleep.iam_propagation]' 'depends_on = []')"
expect_failure no-iam-wait 'must wait for time_sleep.iam_propagation' "${cache}/tfinventory" "${dir}"


# An added grant or a secret version is caught by the policy check, which
# `tofu test` cannot do (it only sees resources it names).
dir="$(broken secret-in-state secret.tf 'resource "google_secret_manager_secret" "webhook" {' 'resource "google_secret_manager_secret_version" "webhook" {
  secret      = google_secret_manager_secret.webhook.id
  secret_data = "whsec_dGVzdA=="
}

resource "google_secret_manager_secret" "webhook" {')"
expect_failure secret-in-state 'would store the secret.s value in state' "${cache}/tfinventory" "${dir}"

echo
echo "terraform: all checks passed"
