#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile with Buildah
# (no Docker daemon) and pushes it to $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA, plus
# :latest when the commit is on the default branch.
#
# The registry password goes to `buildah login` on stdin and into an auth
# file that only this job sees and that is removed at exit; it is never
# echoed and xtrace is never turned on. Runs in quay.io/buildah/stable with
# STORAGE_DRIVER=vfs and BUILDAH_ISOLATION=chroot, which need no privileges.
#
# Short image names in the Dockerfile (node:…, rust:…) resolve to docker.io,
# as with Docker. GANTRY_REGISTRY_INSECURE=true lets $CI_REGISTRY be a
# plain-HTTP registry (the local one of deploy/compose); nothing else is
# pulled without TLS.
set -euo pipefail

: "${CI_REGISTRY:?}" "${CI_REGISTRY_IMAGE:?}" "${CI_COMMIT_SHA:?}"
: "${CI_REGISTRY_USER:?}" "${CI_REGISTRY_PASSWORD:?}"

private="$(mktemp -d)"
trap 'rm -rf "$private"' EXIT
export REGISTRY_AUTH_FILE="$private/auth.json"
export CONTAINERS_REGISTRIES_CONF="$private/registries.conf"
echo 'unqualified-search-registries = ["docker.io"]' > "$CONTAINERS_REGISTRIES_CONF"
if [ "${GANTRY_REGISTRY_INSECURE:-false}" = "true" ]; then
  printf '\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$CI_REGISTRY" >> "$CONTAINERS_REGISTRIES_CONF"
fi
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
