#!/usr/bin/env bash
# Servers benchmark: check N test-fleet hosts concurrently through Gantry's API
# and compare with the floor, a parallel OpenSSH `ssh host true` over the same
# hosts at the same concurrency (xargs -P). Reports wall time, time per host,
# and Gantry's peak resident memory. Needs root (the fleet uses network
# namespaces). Traffic goes only to 127.0.0.1 and the fleet's own hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${GANTRY_BENCH_HOSTS:-100}
CONC=${GANTRY_BENCH_CONCURRENCY:-64}
PORT=${GANTRY_BENCH_PORT:-18182}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p gantry -p gantry-testfleet
BIN=$TARGET/release/gantry
FLEET=$TARGET/release/gantry-testfleet
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  "$FLEET" down --state "$work/fleet.json" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

t0=$(now_ms)
"$FLEET" up --hosts "$HOSTS" --state "$work/fleet.json" >/dev/null
echo "fleet of $HOSTS hosts up in $(( $(now_ms) - t0 )) ms"
python3 - "$work/fleet.json" "$work" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
open(sys.argv[2] + "/hosts", "w").write("\n".join(h["addr"] for h in s["hosts"]) + "\n")
open(sys.argv[2] + "/key_path", "w").write(str(s["client_key_path"]))
open(sys.argv[2] + "/known_hosts", "w").write("".join(h["addr"] + " " + h["host_public_key"].strip() + "\n" for h in s["hosts"]))
PY
key=$(cat "$work/key_path")

echo "== baseline: ssh host true, xargs -P $CONC"
t0=$(now_ms)
xargs -P "$CONC" -I{} ssh -i "$key" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
  -o ConnectTimeout=5 root@{} true < "$work/hosts"
base_ms=$(( $(now_ms) - t0 ))
echo "OpenSSH: $base_ms ms for $HOSTS hosts"

GANTRY_DATA_DIR="$work/data" GANTRY_LISTEN=127.0.0.1:$PORT GANTRY_ADMIN_PASSWORD=bench-admin-password GANTRY_LOG_LEVEL=warn \
  GANTRY_JOBS__CONCURRENCY=$CONC GANTRY_SERVERS__CONCURRENCY=$CONC GANTRY_SERVERS__PROBE_INTERVAL_SECONDS=0 GANTRY_JOBS__POLL_MS=50 \
  "$BIN" serve >"$work/gantry.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
token=$(python3 - "$PORT" <<'PY'
import json, sys, urllib.request, http.cookiejar
port = sys.argv[1]
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
r = op.open(urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/auth/login", json.dumps({"username": "admin", "password": "bench-admin-password"}).encode(), {"content-type": "application/json"}))
csrf = json.load(r)["csrf_token"]
r = op.open(urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/tokens", json.dumps({"name": "bench"}).encode(), {"content-type": "application/json", "x-csrf-token": csrf}))
print(json.load(r)["token"])
PY
)
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
python3 - "$PORT" "$token" "$work" "$HOSTS" <<'PY'
import json, sys, time, urllib.request
port, token, work, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
H = {"authorization": "Bearer " + token, "content-type": "application/json"}
def call(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode() if body is not None else None, H, method=method)
    return json.load(urllib.request.urlopen(req))
key = open(open(work + "/key_path").read()).read()
hosts = open(work + "/hosts").read().split()
ids = [call("POST", "/api/v1/servers", {"name": f"b{i}", "address": a, "credentials": {"private_key": key}})["id"] for i, a in enumerate(hosts)]
t0 = time.monotonic()
jobs = [call("POST", f"/api/v1/servers/{i}/check")["id"] for i in ids]
pending = set(jobs)
ok = 0
while pending:
    for j in list(pending):
        st = call("GET", f"/api/v1/jobs/{j}")["status"]
        if st in ("succeeded", "failed"):
            pending.discard(j)
            ok += st == "succeeded"
    time.sleep(0.05)
wall = (time.monotonic() - t0) * 1000
open(work + "/gantry_ms", "w").write(str(int(wall)))
print(f"Gantry: {int(wall)} ms for {n} checks ({ok} succeeded)")
PY
gantry_ms=$(cat "$work/gantry_ms")
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "== results ($HOSTS hosts, concurrency $CONC)"
awk -v g="$gantry_ms" -v b="$base_ms" -v n="$HOSTS" 'BEGIN {
  printf "Gantry full check (7 steps + facts): %d ms wall, %.1f ms per host\n", g, g / n
  printf "OpenSSH ssh host true (floor):       %d ms wall, %.1f ms per host\n", b, b / n
  printf "ratio Gantry / floor: %.2f\n", g / b }'
echo "Gantry resident memory: $((rss_before / 1024)) MiB before, peak $((hwm / 1024)) MiB"
echo "machine: $(nproc) cores; date $(date -u +%F)"
