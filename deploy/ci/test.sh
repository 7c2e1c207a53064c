#!/usr/bin/env bash
# The pipeline's `test:rust` job: every Rust test with CI=true (so nothing
# is skipped), against the job's PostgreSQL and MariaDB services.
#
# It installs what the suite needs the way scripts/test does (its helpers in
# scripts/lib.sh), plus kubectl and npm, which scripts/test expects to find.
# The test fleet (network namespaces, sshd, nginx), the debootstrap install
# test and Ansible's chroot connection need root with CAP_SYS_ADMIN and
# CAP_NET_ADMIN: run this job on a runner that allows privileged containers
# (or a shell runner as root). See docs/deploy/ci-cd.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
need_pkg promtool prometheus
need_pkg sshd openssh-server
need_pkg ssh openssh-client
need_pkg nginx nginx
need_pkg pebble pebble
need_pkg curl curl
need_pkg openssl openssl
need_pkg unshare util-linux
need_pkg ip iproute2
need_pkg sudo sudo
need_pkg ss iproute2
need_pkg npm npm
# shellcheck source=deploy/ci/tools.sh
source deploy/ci/tools.sh
need_kubectl
need_deploy_tools
need_moto
stop_host_services

: "${GANTRY_TEST_MYSQL_URL:?the job sets it to the MariaDB service}"
: "${GANTRY_TEST_POSTGRES_URL:?the job sets it to the PostgreSQL service}"
export GANTRY_TEST_MYSQL_URL GANTRY_TEST_POSTGRES_URL CI=true

# wait_for HOST PORT: the services start alongside the job; give them a minute.
wait_for() {
  local _
  for _ in $(seq 1 60); do
    if (echo > "/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 1
  done
  echo "$1:$2 is not listening" >&2
  return 1
}
wait_for "${GANTRY_TEST_MYSQL_HOST:-mariadb}" 3306
wait_for "${GANTRY_TEST_POSTGRES_HOST:-postgres}" 5432

step "building gantry, the test-fleet tool and the Proxmox simulator"
cargo build --locked -p gantry -p gantry-testfleet -p gantry-pvesim

step "Rust tests (SQLite, MariaDB, PostgreSQL, the test fleet, the delivery checks)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
