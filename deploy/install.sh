#!/usr/bin/env bash
# Installs (or upgrades, or removes) Gantry on one Ubuntu 22.04/24.04 or
# Debian 12 server, as root. Run from a Gantry checkout:
#
#   sudo deploy/install.sh --binary ./gantry        # a binary you built or downloaded
#   sudo deploy/install.sh                          # builds from this checkout when cargo is present
#
# It installs MariaDB (unless --database-url names an existing database),
# creates the database and a dedicated user with a random password, the
# gantry system user, /etc/gantry/gantry.toml, /etc/gantry/gantry.env (mode
# 0600: database URL and master key) and /var/lib/gantry, installs and starts
# a hardened systemd unit, waits for /readyz and prints the panel URL and the
# initial admin password once.
#
# Re-running it is safe: what exists is kept (your edits to gantry.toml,
# every secret), a changed binary is installed and the service restarted,
# and nothing else changes. See docs/deploy/ubuntu.md.
set -euo pipefail

PREFIX_BIN=/usr/local/bin/gantry
ETC=/etc/gantry
CONFIG=$ETC/gantry.toml
ENVFILE=$ETC/gantry.env
DATA=/var/lib/gantry
LOGDIR=/var/log/gantry
UNIT=/etc/systemd/system/gantry.service
PIDFILE=/run/gantry.pid
DB_NAME=gantry
DB_USER=gantry
MYSQL_SOCKET=/run/mysqld/mysqld.sock
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKOUT="$(cd "$HERE/.." && pwd)"

binary=""
database_url=""
listen="0.0.0.0:8080"
listen_given=""
public_url=""
mode="auto"
action="install"
ready_timeout=90

usage() {
  cat <<'EOF'
Usage: install.sh [options]

  --binary PATH         install this gantry binary (otherwise: build this checkout with cargo)
  --database-url URL    use an existing database (mysql://… or postgres://…); no local MariaDB
  --listen ADDR:PORT    where Gantry listens (default 0.0.0.0:8080; first install only)
  --public-url URL      the URL users reach Gantry at (first install only)
  --no-systemd          start MariaDB and Gantry directly, without systemd (chroots and
                        containers); chosen automatically when systemd is not running
  --ready-timeout SECS  how long to wait for /readyz (default 90)
  --uninstall           stop and remove the service and binary; keep config, data and database
  --purge               --uninstall, then delete config, data, the local database and the user
  -h, --help            this text
EOF
}

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
changed=()
note_change() { changed+=("$1"); say "$1"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift 2 ;;
    --database-url) [ $# -ge 2 ] || die "--database-url needs a URL"; database_url="$2"; shift 2 ;;
    --listen) [ $# -ge 2 ] || die "--listen needs ADDR:PORT"; listen="$2"; listen_given=1; shift 2 ;;
    --public-url) [ $# -ge 2 ] || die "--public-url needs a URL"; public_url="$2"; shift 2 ;;
    --no-systemd) mode="direct"; shift ;;
    --ready-timeout) [ $# -ge 2 ] || die "--ready-timeout needs seconds"; ready_timeout="$2"; shift 2 ;;
    --uninstall) action="uninstall"; shift ;;
    --purge) action="purge"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 …)"
case "$listen" in
  *:[0-9]*) ;;
  *) die "--listen must be ADDR:PORT, for example 0.0.0.0:8080 (got '$listen')" ;;
esac
case "$ready_timeout" in ''|*[!0-9]*) die "--ready-timeout must be a whole number of seconds" ;; esac
case "$database_url" in
  ''|mysql://*|postgres://*|postgresql://*) ;;
  sqlite://*) die "--database-url: this installer sets up a server database; for SQLite run 'gantry serve' directly (see docs/deploy/ubuntu.md)" ;;
  *) die "--database-url must start with mysql:// or postgres://" ;;
esac
case "$database_url" in *\'*|*\"*|*' '*|*\\*) die "--database-url must not contain quotes, spaces or backslashes (percent-encode them)" ;; esac
if [ "$mode" = auto ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then mode=systemd; else mode=direct; fi
fi

# ---------------------------------------------------------------- helpers

check_os() {
  [ -r /etc/os-release ] || die "cannot read /etc/os-release; this installer supports Ubuntu 22.04/24.04 and Debian 12"
  # shellcheck disable=SC1091
  . /etc/os-release
  case "${ID:-}:${VERSION_ID:-}" in
    ubuntu:22.04|ubuntu:24.04|debian:12|debian:13) ;;
    ubuntu:*|debian:*) say "warning: ${PRETTY_NAME:-this system} is not a tested release (Ubuntu 22.04/24.04, Debian 12); continuing" ;;
    *) die "unsupported system '${PRETTY_NAME:-unknown}': this installer supports Ubuntu 22.04/24.04 and Debian 12 (use the container image or build from source elsewhere)" ;;
  esac
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_install() {
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  note_change "installing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A random value made only of [0-9a-f], safe in URLs and config files.
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# Runs a command as the gantry user with the settings and secrets loaded.
as_gantry() {
  (
    set -a
    # shellcheck disable=SC1090
    . "$ENVFILE"
    set +a
    cd "$DATA"
    exec setpriv --reuid=gantry --regid=gantry --init-groups -- "$@"
  )
}

http_ok() {
  local url="$1"
  curl -fsS --max-time 3 -o /dev/null "$url" 2>/dev/null
}

# The listen address Gantry actually uses: gantry.toml's once it exists.
effective_listen() {
  local configured
  configured="$(sed -n 's/^listen *= *"\(.*\)"/\1/p' "$CONFIG" 2>/dev/null | head -n1)"
  printf '%s' "${configured:-$listen}"
}

local_url() {
  local listen
  listen="$(effective_listen)"
  local port="${listen##*:}" host="${listen%:*}"
  case "$host" in 0.0.0.0|'[::]'|'::') host=127.0.0.1 ;; esac
  printf 'http://%s:%s' "$host" "$port"
}

panel_url() {
  if [ -n "$public_url" ]; then printf '%s' "$public_url"; return; fi
  local configured
  configured="$(sed -n 's/^public_url *= *"\(.*\)"/\1/p' "$CONFIG" 2>/dev/null | head -n1)"
  if [ -n "$configured" ]; then printf '%s' "$configured"; return; fi
  local listen
  listen="$(effective_listen)"
  local port="${listen##*:}" host="${listen%:*}" ip
  case "$host" in
    0.0.0.0|'[::]'|'::') ip="$(hostname -I 2>/dev/null | awk '{print $1}')"; host="${ip:-127.0.0.1}" ;;
  esac
  printf 'http://%s:%s/' "$host" "$port"
}

# ---------------------------------------------------------------- database

mariadb_start_direct() {
  if [ -S "$MYSQL_SOCKET" ] && mariadb -e 'SELECT 1' >/dev/null 2>&1; then return 0; fi
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  say "starting MariaDB (no systemd)"
  # A pidfile, not --exec alone: in a chroot /proc also shows the host's mariadbd.
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /run/mysqld/gantry-started.pid \
    --exec /usr/sbin/mariadbd -- --user=mysql
  local _
  for _ in $(seq 1 60); do
    mariadb -e 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "MariaDB did not start within 60 s (see /var/log/mysql/ or run /usr/sbin/mariadbd --user=mysql by hand)"
}

ensure_local_database() {
  apt_install mariadb-server
  if [ "$mode" = systemd ]; then
    systemctl enable --now mariadb >/dev/null 2>&1 || systemctl enable --now mysql >/dev/null
  else
    mariadb_start_direct
  fi
  local password="$1"
  # Idempotent: an existing database and user are kept; the password is the
  # one recorded in gantry.env, so a re-run never changes it.
  mariadb --protocol=socket <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
SQL
}

# ---------------------------------------------------------------- binary

# Finds or builds the binary to install, before anything on the system is
# touched, so a bad --binary leaves no half-done install behind.
resolve_binary() {
  if [ -z "$binary" ]; then
    if [ -x "$PREFIX_BIN" ] && ! command -v cargo >/dev/null; then
      say "keeping the installed $PREFIX_BIN (no --binary given and no cargo to build one)"
      return 0
    fi
    command -v cargo >/dev/null || die "no gantry binary: pass --binary PATH (built with 'cargo build --release -p gantry', or a release download), or install Rust (https://rustup.rs) and run this script from a Gantry checkout"
    if [ ! -f "$CHECKOUT/Cargo.toml" ] || [ ! -d "$CHECKOUT/crates/gantry" ]; then die "cargo is present but $CHECKOUT is not a Gantry checkout; pass --binary PATH"; fi
    if [ -f "$CHECKOUT/web/package.json" ]; then
      if command -v npm >/dev/null; then
        say "building the admin panel (npm ci && npm run build)"
        (cd "$CHECKOUT/web" && npm ci --no-audit --no-fund --loglevel=error && npm run build)
      else
        say "warning: npm not found, so the admin panel is not built into this binary (install Node.js 20+ and re-run; the API works without it)"
      fi
    fi
    say "building gantry (cargo build --release -p gantry)"
    (cd "$CHECKOUT" && cargo build --release --locked -p gantry)
    binary="${CARGO_TARGET_DIR:-$CHECKOUT/target}/release/gantry"
  fi
  [ -f "$binary" ] || die "--binary $binary: no such file"
  "$binary" --version >/dev/null 2>&1 || die "--binary $binary does not run here ('$binary --version' failed; is it built for this CPU and glibc?)"
}

install_binary() {
  [ -n "$binary" ] || return 0
  if [ -f "$PREFIX_BIN" ] && cmp -s "$binary" "$PREFIX_BIN"; then return 0; fi
  # Replace atomically: a running service keeps its old inode.
  install -m 0755 -o root -g root "$binary" "$PREFIX_BIN.new"
  mv -f "$PREFIX_BIN.new" "$PREFIX_BIN"
  note_change "installed $("$PREFIX_BIN" --version) to $PREFIX_BIN"
}

# ---------------------------------------------------------------- files

ensure_user_and_dirs() {
  if ! getent passwd gantry >/dev/null; then
    useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin gantry
    note_change "created the gantry system user"
  fi
  [ -d "$ETC" ] || note_change "created $ETC"
  install -d -o root -g gantry -m 0750 "$ETC"
  [ -d "$DATA" ] || note_change "created $DATA"
  install -d -o gantry -g gantry -m 0750 "$DATA"
  if [ "$mode" = direct ]; then install -d -o gantry -g gantry -m 0750 "$LOGDIR"; fi
}

write_config() {
  [ -f "$CONFIG" ] && return 0
  local tmp
  tmp="$(mktemp "$ETC/.gantry.toml.XXXXXX")"
  {
    echo "# Gantry settings (docs/configuration.md). Secrets are in gantry.env, not here."
    echo "# install.sh wrote this once; re-running it never overwrites your edits."
    echo "listen = \"$listen\""
    echo "data_dir = \"$DATA\""
    echo "log_format = \"json\""
    echo "log_level = \"info\""
    if [ -n "$public_url" ]; then echo "public_url = \"$public_url\""; fi
  } > "$tmp"
  chown root:gantry "$tmp"
  chmod 0640 "$tmp"
  mv -f "$tmp" "$CONFIG"
  note_change "wrote $CONFIG"
}

# Reads one KEY=value line from gantry.env.
# Values are written single-quoted (systemd and sh read them the same way).
env_value() { sed -n "s/^$1='\(.*\)'\$/\1/p" "$ENVFILE" 2>/dev/null | head -n1; }

write_env() {
  if [ -f "$ENVFILE" ]; then
    if [ -n "$database_url" ] && [ "$(env_value GANTRY_DATABASE_URL)" != "$database_url" ]; then
      die "$ENVFILE already names a different database; to move Gantry to another database, edit GANTRY_DATABASE_URL there yourself and re-run without --database-url"
    fi
    return 0
  fi
  local url="$database_url" managed="external"
  if [ -z "$url" ]; then
    url="mysql://$DB_USER:$(random_hex 24)@localhost/$DB_NAME?socket=$MYSQL_SOCKET"
    managed="local"
  fi
  local tmp
  tmp="$(mktemp "$ETC/.gantry.env.XXXXXX")"
  {
    echo "# Gantry's secrets, read by systemd before it drops to the gantry user."
    echo "# Keep a copy of GANTRY_MASTER_KEY: without it the secrets Gantry stores cannot be read."
    echo "# database: $managed"
    echo "GANTRY_DATABASE_URL='$url'"
    echo "GANTRY_MASTER_KEY='$(head -c 32 /dev/urandom | base64 -w0)'"
  } > "$tmp"
  chmod 0600 "$tmp"
  chown root:root "$tmp"
  mv -f "$tmp" "$ENVFILE"
  note_change "wrote $ENVFILE (mode 0600: database URL and master key)"
}

database_is_local() { grep -q '^# database: local' "$ENVFILE" 2>/dev/null; }

local_db_password() {
  env_value GANTRY_DATABASE_URL | sed -n "s|^mysql://$DB_USER:\([0-9a-f]*\)@localhost/.*|\1|p"
}

# ---------------------------------------------------------------- service

direct_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s' "$pid"
}

stop_direct() {
  local pid _
  pid="$(direct_pid || true)"
  [ -n "$pid" ] || { rm -f "$PIDFILE"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 45); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDFILE"
}

start_direct() {
  (
    set -a
    # shellcheck disable=SC1090
    . "$ENVFILE"
    set +a
    start-stop-daemon --start --background --make-pidfile --pidfile "$PIDFILE" \
      --chuid gantry:gantry --chdir "$DATA" --output "$LOGDIR/gantry.log" \
      --exec "$PREFIX_BIN" -- serve --config "$CONFIG"
  )
}

install_unit() {
  local src="$HERE/systemd/gantry.service"
  [ -f "$src" ] || die "missing $src (run this script from a Gantry checkout)"
  if [ -f "$UNIT" ] && cmp -s "$src" "$UNIT"; then return 0; fi
  install -m 0644 -o root -g root "$src" "$UNIT"
  note_change "installed $UNIT"
}

run_service() {
  local restart="$1"
  if [ "$mode" = systemd ]; then
    systemctl daemon-reload
    systemctl enable gantry.service >/dev/null 2>&1
    if [ "$restart" = yes ]; then systemctl restart gantry.service; else systemctl start gantry.service; fi
  else
    if [ "$restart" = yes ] || [ -z "$(direct_pid || true)" ]; then
      stop_direct
      start_direct
      [ "$restart" = yes ] || note_change "started gantry"
    fi
  fi
}

wait_ready() {
  local url _
  url="$(local_url)/readyz"
  for _ in $(seq 1 "$ready_timeout"); do
    http_ok "$url" && return 0
    sleep 1
  done
  echo "install.sh: Gantry did not become ready at $url within ${ready_timeout} s. Last log lines:" >&2
  if [ "$mode" = systemd ]; then journalctl -u gantry.service -n 40 --no-pager >&2 || true; else tail -n 40 "$LOGDIR/gantry.log" >&2 || true; fi
  exit 1
}

# ---------------------------------------------------------------- actions

do_install() {
  check_os
  resolve_binary
  if [ -n "$listen_given" ] && [ -f "$CONFIG" ] && [ "$(effective_listen)" != "$listen" ]; then
    say "warning: --listen $listen ignored: $CONFIG sets listen = \"$(effective_listen)\" (edit it there and re-run)"
  fi
  apt_install ca-certificates curl
  ensure_user_and_dirs
  write_config
  write_env
  if database_is_local; then
    ensure_local_database "$(local_db_password)"
  fi
  local before=${#changed[@]}
  install_binary
  install_unit
  local restart=no
  [ ${#changed[@]} -gt "$before" ] && restart=yes

  # Migrations before the first start, so the admin account can be created
  # with a password this script prints (the server would log its own).
  as_gantry "$PREFIX_BIN" migrate --config "$CONFIG" >/dev/null
  local admin_password=""
  if ! as_gantry "$PREFIX_BIN" user list --config "$CONFIG" | awk 'NR>1 {found=1} END {exit !found}'; then
    admin_password="$(random_hex 12)"
    printf '%s' "$admin_password" | as_gantry "$PREFIX_BIN" user create admin --role admin --display-name Administrator --password-stdin --config "$CONFIG" >/dev/null
    note_change "created the admin user"
  fi

  [ "$mode" = systemd ] && [ "$restart" = no ] && ! systemctl is-active --quiet gantry.service && restart=yes
  run_service "$restart"
  wait_ready

  echo
  if [ ${#changed[@]} -eq 0 ]; then
    echo "Gantry is installed and running; nothing changed."
  else
    echo "Gantry is running ($("$PREFIX_BIN" --version))."
  fi
  echo "  Panel:  $(panel_url)"
  if [ -n "$admin_password" ]; then
    echo "  Login:  admin / $admin_password"
    echo "          (shown once: change it in the panel under Users; 'gantry user set-password admin' resets it)"
  fi
  echo "  Config: $CONFIG   Secrets: $ENVFILE (back up GANTRY_MASTER_KEY)"
  if [ "$mode" = systemd ]; then
    echo "  Logs:   journalctl -u gantry -f"
  else
    echo "  Logs:   $LOGDIR/gantry.log (started without systemd; re-run this script after a reboot)"
  fi
}

do_uninstall() {
  if [ "$mode" = systemd ]; then
    if [ -f "$UNIT" ]; then
      systemctl disable --now gantry.service >/dev/null 2>&1 || true
      rm -f "$UNIT"
      systemctl daemon-reload
      say "removed the gantry service"
    fi
  else
    stop_direct
  fi
  rm -f "$UNIT" "$PREFIX_BIN" "$PREFIX_BIN.new"
  say "removed $PREFIX_BIN"
}

do_purge() {
  do_uninstall
  if [ -f "$ENVFILE" ] && database_is_local && command -v mariadb >/dev/null; then
    if [ "$mode" = direct ]; then mariadb_start_direct; fi
    mariadb --protocol=socket -e "DROP DATABASE IF EXISTS \`$DB_NAME\`; DROP USER IF EXISTS '$DB_USER'@'localhost';"
    say "dropped the database $DB_NAME and its user (the MariaDB server itself stays installed)"
  elif [ -f "$ENVFILE" ]; then
    say "the database in $ENVFILE was not created by this script; it is left as it is"
  fi
  rm -rf "$ETC" "$DATA" "$LOGDIR"
  say "deleted $ETC, $DATA and $LOGDIR"
  if getent passwd gantry >/dev/null; then userdel gantry 2>/dev/null || true; say "removed the gantry system user"; fi
}

case "$action" in
  install) do_install ;;
  uninstall)
    do_uninstall
    echo "Gantry is removed. Kept: $ETC, $DATA and the database (delete them with --purge)."
    ;;
  purge) do_purge; echo "Gantry and its data are removed." ;;
esac
