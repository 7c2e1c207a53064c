#!/usr/bin/env bash
# The pipeline's `lint` job: the fast checks, a few seconds each once the
# tools are there. Clippy needs a full build and runs in its own job.
#
#   - rustfmt on the whole workspace;
#   - shellcheck on the delivery and project scripts;
#   - this pipeline against GitLab's CI schema (check-jsonschema);
#   - the Dockerfile with hadolint;
#   - every kustomize overlay rendered, its core kinds validated with
#     kubernetes-validate --strict (custom resources are checked against
#     their CRD schemas by the test suite);
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
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
  dir="${dir%/}"
  out="$rendered/$(echo "$dir" | tr / _).yaml"
  kubectl kustomize "$dir" > "$out"
  kubernetes-validate --strict --quiet --kubernetes-version "$GANTRY_K8S_VERSION" "$out"
  echo "$dir: rendered and validated"
done

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
