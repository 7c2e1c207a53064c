#!/usr/bin/env bash
# The pipeline's `lint` job: the fast checks, a few seconds each once the
# tools are there. Clippy needs a full build and runs in its own job.
#
#   - rustfmt on the whole workspace;
#   - shellcheck on the delivery and project scripts;
#   - this pipeline against GitLab's CI schema (check-jsonschema);
#   - the Dockerfile with hadolint;
#   - every kustomize overlay rendered, its core kinds validated with
#     kubernetes-validate --strict and its custom resources (ServiceMonitor,
#     PrometheusRule, MetalLB, VPA) with check-jsonschema against the CRD
#     schemas in deploy/k8s/schemas;
#   - the deploy job's kustomization rendered for staging and production,
#     to prove the image override reaches every container.
#
# Installs missing tools at pinned versions (deploy/ci/tools.sh) unless
# GANTRY_CI_OFFLINE=1. Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/ci/tools.sh
source deploy/ci/tools.sh

# The Kubernetes version the manifests are validated against: the one
# deploy/kubespray installs.
: "${GANTRY_K8S_VERSION:=1.34.0}"

need_rust_component rustfmt
need_apt shellcheck shellcheck
need_py_tools
need_kubectl

step "rustfmt"
cargo fmt --all --check

step "shellcheck"
mapfile -t scripts < <(git ls-files -- 'deploy/*.sh' 'scripts/*' | while read -r f; do
  [ -f "$f" ] && head -n1 "$f" | grep -Eq '^#!.*\b(ba)?sh\b' && echo "$f"
done)
shellcheck -x "${scripts[@]}"
echo "${#scripts[@]} scripts"

step "pipeline schema"
check-jsonschema --builtin-schema vendor.gitlab-ci .gitlab-ci.yml

step "Dockerfile"
hadolint Dockerfile
echo "hadolint: no findings"

step "Kubernetes manifests"
rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
for required in deploy/k8s/base deploy/k8s/overlays/staging deploy/k8s/overlays/prod; do
  [ -d "$required" ] || { echo "missing: $required (the deploy jobs need it)" >&2; exit 1; }
done
declare -A by_schema=()
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
  dir="${dir%/}"
  name="$(echo "$dir" | tr / _)"
  out="$rendered/$name.yaml"
  kubectl kustomize "$dir" > "$out"
  kubernetes-validate --strict --quiet --kubernetes-version "$GANTRY_K8S_VERSION" "$out"
  # One file per document; custom resources go to their CRD schema.
  mkdir -p "$rendered/$name"
  awk -v dir="$rendered/$name" 'BEGIN { f = dir "/0.yaml" } /^---$/ { n++; f = dir "/" n ".yaml"; next } { print > f }' "$out"
  for doc in "$rendered/$name"/*.yaml; do
    api="$(sed -n 's/^apiVersion: *//p' "$doc" | head -n1)"
    kind="$(sed -n 's/^kind: *//p' "$doc" | head -n1)"
    schema="deploy/k8s/schemas/$(echo "$kind" | tr '[:upper:]' '[:lower:]').${api%/*}_${api#*/}.json"
    if [[ "$api" == */* ]] && [ -f "$schema" ]; then by_schema["$schema"]+="$doc "; fi
  done
  echo "$dir: rendered and validated"
done
for schema in "${!by_schema[@]}"; do
  # shellcheck disable=SC2086 # the list is space-separated on purpose (paths without spaces)
  check-jsonschema --schemafile "$schema" ${by_schema[$schema]}
done
echo "${#by_schema[@]} custom resource kinds checked against deploy/k8s/schemas"

step "deploy kustomization"
for overlay in deploy/k8s/overlays/staging deploy/k8s/overlays/prod; do
  CI_REGISTRY_IMAGE=lint.invalid/gantry CI_COMMIT_SHA=0123456789abcdef deploy/ci/deploy.sh render "$overlay" > "$rendered/deploy.yaml"
  # Every container image must be the pipeline's; none may stay `gantry`.
  if grep -Eq '^[[:space:]]*(- )?image: *"?gantry(:[^/]*)?"?$' "$rendered/deploy.yaml"; then
    echo "$overlay: a container still uses the bare image name after the override" >&2
    exit 1
  fi
  grep -q 'image: lint.invalid/gantry:0123456789abcdef' "$rendered/deploy.yaml" || {
    echo "$overlay: no container uses the image the deploy job sets (is the image named 'gantry'?)" >&2
    exit 1
  }
  echo "$overlay: the deploy job sets the image"
done
