#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile with Buildah
# (no Docker daemon) and pushes it to $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA, plus
# :latest when the commit is on the default branch.
#
# The registry password goes to `buildah login` on stdin and into an auth
# file that only this job sees and that is removed at exit; it is never
# echoed and xtrace is never turned on. Runs in quay.io/buildah/stable with
# STORAGE_DRIVER=vfs and BUILDAH_ISOLATION=chroot, which need no privileges.
set -euo pipefail

: "${CI_REGISTRY:?}" "${CI_REGISTRY_IMAGE:?}" "${CI_COMMIT_SHA:?}"
: "${CI_REGISTRY_USER:?}" "${CI_REGISTRY_PASSWORD:?}"

auth_dir="$(mktemp -d)"
trap 'rm -rf "$auth_dir"' EXIT
export REGISTRY_AUTH_FILE="$auth_dir/auth.json"
buildah login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY" <<< "$CI_REGISTRY_PASSWORD"

image="$CI_REGISTRY_IMAGE:$CI_COMMIT_SHA"
# Layers are cached in the registry under .../cache, so unchanged dependency
# layers are not rebuilt by the next pipeline.
buildah build \
  --file Dockerfile \
  --format oci \
  --layers \
  --cache-from "$CI_REGISTRY_IMAGE/cache" \
  --cache-to "$CI_REGISTRY_IMAGE/cache" \
  --label "org.opencontainers.image.revision=$CI_COMMIT_SHA" \
  --label "org.opencontainers.image.source=${CI_PROJECT_URL:-}" \
  --tag "$image" \
  .
buildah push "$image"
echo "pushed $image"

if [ -n "${CI_COMMIT_BRANCH:-}" ] && [ "$CI_COMMIT_BRANCH" = "${CI_DEFAULT_BRANCH:-}" ]; then
  buildah tag "$image" "$CI_REGISTRY_IMAGE:latest"
  buildah push "$CI_REGISTRY_IMAGE:latest"
  echo "pushed $CI_REGISTRY_IMAGE:latest"
fi
