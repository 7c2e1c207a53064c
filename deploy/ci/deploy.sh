#!/usr/bin/env bash
# Deploys this commit's image to one Kubernetes environment.
#
#   deploy/ci/deploy.sh render OVERLAY            print the manifests, image set
#   deploy/ci/deploy.sh apply OVERLAY NAMESPACE   kubectl apply -k, then wait for the rollouts
#
# OVERLAY is a kustomize overlay directory (deploy/k8s/overlays/staging or
# .../prod). The image is $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA: the manifests
# name their container image `gantry`, and a kustomization written to a
# temporary directory points at OVERLAY and replaces that name with an
# `images:` entry. kubectl has no `kustomize edit`, and kustomize refuses
# absolute paths and files outside its root but accepts a relative path to
# another kustomization directory, so the temporary one refers to OVERLAY
# relatively.
#
# `apply` talks to the cluster in $KUBECONFIG: in the pipeline, the path of a
# protected File-type variable holding either the kubeconfig itself or, so
# that GitLab can mask it, the kubeconfig base64-encoded on one line (it is
# then decoded into a private temporary file). This script never prints it,
# never turns on xtrace, and prints only object names.
set -euo pipefail

usage() {
  echo "usage: $0 render OVERLAY | apply OVERLAY NAMESPACE" >&2
  exit 2
}

[ $# -ge 2 ] || usage
action="$1"
overlay="$2"
case "$action" in
  render) [ $# -eq 2 ] || usage ;;
  apply) [ $# -eq 3 ] || usage; namespace="$3" ;;
  *) usage ;;
esac

: "${CI_REGISTRY_IMAGE:?CI_REGISTRY_IMAGE (the image repository) is not set}"
: "${CI_COMMIT_SHA:?CI_COMMIT_SHA (the image tag) is not set}"
[ -f "$overlay/kustomization.yaml" ] || [ -f "$overlay/kustomization.yml" ] || [ -f "$overlay/Kustomization" ] || {
  echo "$overlay is not a kustomization directory" >&2
  exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work" "$overlay")
images:
  - name: gantry
    newName: $CI_REGISTRY_IMAGE
    newTag: "$CI_COMMIT_SHA"
EOF

if [ "$action" = "render" ]; then
  kubectl kustomize "$work"
  exit 0
fi

: "${KUBECONFIG:?KUBECONFIG is not set: the deploy job sets it from its protected File-type variable}"
[ -s "$KUBECONFIG" ] || {
  echo "KUBECONFIG does not point at a non-empty file; is the variable of type File?" >&2
  exit 1
}
if ! grep -q '^apiVersion:' "$KUBECONFIG"; then
  if ! (umask 077 && base64 -d < "$KUBECONFIG" > "$work/kubeconfig" 2>/dev/null && grep -q '^apiVersion:' "$work/kubeconfig"); then
    echo "KUBECONFIG is neither a kubeconfig nor a base64-encoded one" >&2
    exit 1
  fi
  export KUBECONFIG="$work/kubeconfig"
fi

echo "Deploying $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA from $overlay to namespace $namespace"
kubectl apply -k "$work" -o name > "$work/applied"
cat "$work/applied"
# Wait for every workload this apply touched; a failed rollout fails the job.
workloads="$(grep -E '^(deployment|statefulset|daemonset)\.apps/' "$work/applied" || true)"
[ -n "$workloads" ] || {
  echo "$overlay has no Deployment, StatefulSet or DaemonSet to wait for" >&2
  exit 1
}
for workload in $workloads; do
  kubectl -n "$namespace" rollout status "$workload" --timeout="${GANTRY_ROLLOUT_TIMEOUT:-10m}"
done
