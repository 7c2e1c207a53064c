#!/usr/bin/env bash
# Foundation benchmark: idle memory, start-to-ready on SQLite, and
# GET /api/v1/auth/me throughput with wrk on loopback, each next to a baseline
# measured in the same run:
#   - start-to-ready vs. `gantry --version` (bare process start);
#   - /auth/me (session cookie or bearer token) vs. /livez (no auth, no database).
# Traffic goes to 127.0.0.1 only; every load run is bounded by -d.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${GANTRY_BENCH_PORT:-18181}
DURATION=${GANTRY_BENCH_DURATION:-10s}
CONNS=${GANTRY_BENCH_CONNECTIONS:-64}
BIN=${CARGO_TARGET_DIR:-target}/release/gantry
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
[ -x "$BIN" ] || cargo build --release -p gantry
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export GANTRY_ADMIN_PASSWORD=bench-admin-password GANTRY_LOG_LEVEL=warn GANTRY_LISTEN=127.0.0.1:$PORT

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Sets $pid and $ready_ms (not run in a subshell, so $pid survives).
start_gantry() {
  local dir="$1" t0 t1
  t0=$(now_ms)
  GANTRY_DATA_DIR="$dir" "$BIN" serve >"$work/out.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do sleep 0.002; done
  t1=$(now_ms)
  ready_ms=$((t1 - t0))
}

stop_gantry() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }

echo "== start to ready (SQLite), 5 runs each"
ready=(); version=()
for i in 1 2 3 4 5; do
  start_gantry "$work/fresh$i"; ready+=("$ready_ms"); stop_gantry
  t0=$(now_ms); "$BIN" --version >/dev/null; t1=$(now_ms); version+=($((t1 - t0)))
done
ready_fresh=$(printf '%s\n' "${ready[@]}" | median)
version_med=$(printf '%s\n' "${version[@]}" | median)
ready=()
for i in 1 2 3; do start_gantry "$work/fresh1"; ready+=("$ready_ms"); stop_gantry; done
ready_warm=$(printf '%s\n' "${ready[@]}" | median)
echo "fresh data dir: ${ready_fresh} ms; existing data dir: ${ready_warm} ms; bare process start: ${version_med} ms"

start_gantry "$work/fresh1"
sleep 3
idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "== idle resident memory: $((idle_kb / 1024)) MiB (${idle_kb} kB)"

login=$(curl -s -D "$work/h" -H 'content-type: application/json' -d '{"username":"admin","password":"bench-admin-password"}' "http://127.0.0.1:$PORT/api/v1/auth/login")
cookie=$(grep -i '^set-cookie:' "$work/h" | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]+);.*/\1/')
csrf=$(printf '%s' "$login" | sed -E 's/.*"csrf_token":"([^"]+)".*/\1/')
token=$(curl -s -H "cookie: $cookie" -H "x-csrf-token: $csrf" -H 'content-type: application/json' -d '{"name":"bench"}' "http://127.0.0.1:$PORT/api/v1/tokens" | sed -E 's/.*"token":"([^"]+)".*/\1/')

run_wrk() { # label, path, header...
  local label="$1" path="$2"; shift 2
  local args=() h
  for h in "$@"; do args+=(-H "$h"); done
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency "${args[@]}" "http://127.0.0.1:$PORT$path" >"$work/wrk.txt"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print int($2)}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  local errs; errs=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.txt" | tr '\n' ' ')
  echo "$label|$rps|$p99|${errs:-none}"
}

echo "== throughput (wrk -t2 -c$CONNS -d$DURATION on 127.0.0.1)"
base=$(run_wrk "GET /livez (baseline)" /livez)
sess=$(run_wrk "GET /api/v1/auth/me (session cookie)" /api/v1/auth/me "cookie: $cookie")
tok=$(run_wrk "GET /api/v1/auth/me (bearer token)" /api/v1/auth/me "authorization: Bearer $token")
loaded_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
base_rps=$(echo "$base" | cut -d'|' -f2)
printf '%s\n' "$base" "$sess" "$tok" | while IFS='|' read -r label rps p99 errs; do
  ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN {printf "%.2f", a/b}')
  printf '%-40s %8s req/s  p99 %-8s  x%s of baseline  errors: %s\n' "$label" "$rps" "$p99" "$ratio" "$errs"
done
echo "== resident memory after load: $((loaded_kb / 1024)) MiB"
echo "machine: $(nproc) cores; $(uname -r); date $(date -u +%F)"
