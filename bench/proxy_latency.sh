#!/usr/bin/env bash
# Proxy benchmark (issue #6): change-to-live latency of a domain edit on N
# proxy hosts, against two baselines measured in the same run on the same hosts:
#
#   Gantry   PATCH every domain's target_port (8080 <-> 8081) through the API, as
#            fast as possible; per host: from its PATCH to the first request
#            through that host (Host: its domain, host:80) answered by the new
#            backend. Gantry reconciles by itself (debounce, then one apply job
#            for one server or one rollout, canary first, for several).
#   Ansible  the same change pushed with ansible-playbook: template task writing
#            a server block into /etc/nginx/conf.d/bench.conf (its own server name),
#            `command: nginx -t`, handler `nginx -s reload`; forks = N,
#            pipelining on; per host: from the playbook's start to the first
#            request through that host answered by the new backend.
#   floor    one ssh per host over plain parallel OpenSSH (xargs -P N ssh), a
#            fresh connection per host: printf the server block (its own server
#            name) into conf.d, then `nginx -t && nginx -s reload`; per host: the
#            ssh command's own time, and (second figure) start to served. The same
#            again over already open ControlMaster connections (what Gantry's
#            pooled connections correspond to).
#
# One extra fleet host is the backend: nginx answering "backend=blue" on 8080 and
# "backend=green" on 8081. Each method runs one untimed warm-up round, then
# ROUNDS timed rounds, interleaved (Gantry, Ansible, floor, floor over
# ControlMaster in every round) so that the machine's noise hits all of them.
#
# Needs root (the fleet uses network namespaces) and Debian's ansible
# (installed with apt-get when missing). Traffic goes only to 127.0.0.1 and the
# fleet's own hosts; every loop is bounded; the fleet is torn down at exit.
#
# Settings (environment):
#   GANTRY_BENCH_HOSTS      proxy hosts (default 10; the issue asks for 1, 10, 50)
#   GANTRY_BENCH_ROUNDS     timed rounds per method (default 10)
#   GANTRY_BENCH_DEBOUNCE_MS        Gantry's proxy.debounce_ms (default 50)
#   GANTRY_BENCH_ROLLOUT_PARALLEL   proxy.rollout_parallel (default: hosts, at most 64, the same
#                                   fan-out as Ansible's forks; before commit 4e0173f a rollout with
#                                   2 or more deadlocked Gantry on SQLite, and only 1 worked)
#   GANTRY_BENCH_EVENTS_POLL_MS     events.poll_ms (default: Gantry's default, 500)
#   GANTRY_BENCH_POLL_MS    how often the prober asks each host (default 20)
#   GANTRY_BENCH_RESULTS    file for the raw JSON results (default /tmp/gantry-proxy-latency-<N>-<time>.json)
#   GANTRY_BENCH_PORT       Gantry's port on 127.0.0.1 (default 18183)
#   GANTRY_BENCH_DATABASE_URL  run Gantry on this (empty) database instead of SQLite; with 50
#                           hosts and rollout_parallel 50 also raise GANTRY_DB__MAX_CONNECTIONS
#                           (the default pool of 16 times out); other GANTRY_* variables pass through
#   GANTRY_BENCH_BIN_DIR    use gantry and gantry-testfleet from this directory (no cargo build)
#
# If Gantry stops answering (a round never goes live, or API calls time out),
# the script reads the SQLite file read-only, prints the rollouts and servers
# left running, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${GANTRY_BENCH_HOSTS:-10}
ROUNDS=${GANTRY_BENCH_ROUNDS:-10}
DEBOUNCE=${GANTRY_BENCH_DEBOUNCE_MS:-50}
PAR=${GANTRY_BENCH_ROLLOUT_PARALLEL:-$(( HOSTS < 64 ? HOSTS : 64 ))}
EVENTS_POLL=${GANTRY_BENCH_EVENTS_POLL_MS:-}
POLL_MS=${GANTRY_BENCH_POLL_MS:-20}
PORT=${GANTRY_BENCH_PORT:-18183}
RESULTS=${GANTRY_BENCH_RESULTS:-/tmp/gantry-proxy-latency-$HOSTS-$(date +%s).json}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/gantry/target}
[ "$(id -u)" = 0 ] || { echo "needs root (the test fleet uses network namespaces)"; exit 1; }
[ "$HOSTS" -ge 1 ] && [ "$HOSTS" -le 200 ] || { echo "GANTRY_BENCH_HOSTS must be 1..200"; exit 1; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 100 ] || { echo "GANTRY_BENCH_ROUNDS must be 1..100"; exit 1; }
if ! command -v ansible-playbook >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible >/dev/null
fi
if [ -n "${GANTRY_BENCH_BIN_DIR:-}" ]; then
  BIN=$GANTRY_BENCH_BIN_DIR/gantry; FLEET=$GANTRY_BENCH_BIN_DIR/gantry-testfleet
else
  cargo build --release -q -p gantry -p gantry-testfleet
  BIN=$CARGO_TARGET_DIR/release/gantry; FLEET=$CARGO_TARGET_DIR/release/gantry-testfleet
fi
work=$(mktemp -d)
pid=""
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ] && [ -f "$work/gantry.log" ]; then
    echo "== benchmark failed (exit $rc); last lines of Gantry's log:"; tail -n 40 "$work/gantry.log"
    [ -n "${GANTRY_BENCH_KEEP_LOG:-}" ] && cp "$work/gantry.log" "$GANTRY_BENCH_KEEP_LOG"
  fi
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  # Close the ControlMaster connections this script (and Ansible) opened.
  for s in "$work"/cm/* "$work"/ansible-cp/*; do
    [ -S "$s" ] && ssh -o ControlPath="$s" -O exit bench >/dev/null 2>&1
  done
  [ -f "$work/fleet.json" ] && "$FLEET" down --state "$work/fleet.json" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

t0=$(now_ms)
"$FLEET" up --hosts $((HOSTS + 1)) --state "$work/fleet.json" >/dev/null
echo "fleet of $((HOSTS + 1)) hosts ($HOSTS proxies + 1 backend) up in $(( $(now_ms) - t0 )) ms"

# The backend: the last host, nginx answering on 8080 and 8081 with different bodies.
python3 - "$work/fleet.json" "$work" <<'PY'
import json, os, subprocess, sys
s = json.load(open(sys.argv[1])); work = sys.argv[2]
b = s["hosts"][-1]
conf = ""
for port, label in ((8080, "blue"), (8081, "green")):
    conf += ("server {\n  listen %d;\n  location / {\n    default_type text/plain;\n"
             "    return 200 \"backend=%s host=$host\\n\";\n  }\n}\n") % (port, label)
open(os.path.join(b["dir"], "etc-nginx/conf.d/backend.conf"), "w").write(conf)
ns = "/proc/%d/ns" % b["holder_pid"]
subprocess.run(["nsenter", f"--mount={ns}/mnt", f"--net={ns}/net", f"--uts={ns}/uts", f"--pid={ns}/pid_for_children",
                "--", "/usr/sbin/nginx"], check=True)
proxies = s["hosts"][:-1]
open(work + "/hosts", "w").write("".join(h["addr"] + "\n" for h in proxies))
open(work + "/known_hosts", "w").write("".join(h["addr"] + " " + h["host_public_key"].strip() + "\n" for h in s["hosts"]))
open(work + "/key_path", "w").write(str(s["client_key_path"]))
open(work + "/backend", "w").write(b["addr"])
PY
key=$(cat "$work/key_path")
backend=$(cat "$work/backend")

# Ansible: inventory, configuration, playbook.
mkdir -p "$work/ansible" "$work/ansible-cp" "$work/cm"
{
  echo "[proxies]"
  i=0
  while read -r a; do echo "h$i ansible_host=$a"; i=$((i + 1)); done < "$work/hosts"
  echo
  echo "[proxies:vars]"
  echo "ansible_user=root"
  echo "ansible_ssh_private_key_file=$key"
  echo "ansible_ssh_common_args='-o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes'"
  echo "ansible_python_interpreter=/usr/bin/python3"
  echo "backend=$backend"
} > "$work/ansible/inventory.ini"
cat > "$work/ansible/ansible.cfg" <<EOF
[defaults]
inventory = $work/ansible/inventory.ini
forks = $HOSTS
host_key_checking = True
gathering = explicit
retry_files_enabled = False
local_tmp = $work/ansible/tmp
[ssh_connection]
pipelining = True
control_path_dir = $work/ansible-cp
EOF
cat > "$work/ansible/bench.conf.j2" <<'EOF'
# Managed by Ansible (benchmark).
server {
    listen 80;
    server_name bench-ansible.test;
    location / {
        proxy_pass http://{{ backend }}:{{ port }};
    }
}
EOF
cat > "$work/ansible/playbook.yml" <<'EOF'
- hosts: proxies
  gather_facts: false
  tasks:
    - name: server block
      template:
        src: bench.conf.j2
        dest: /etc/nginx/conf.d/bench.conf
        mode: "0644"
      notify: reload nginx
    - name: validate
      command: /usr/sbin/nginx -t
      changed_when: false
  handlers:
    - name: reload nginx
      command: /usr/sbin/nginx -s reload
EOF

export GANTRY_DATA_DIR="$work/data" GANTRY_LISTEN=127.0.0.1:$PORT GANTRY_ADMIN_PASSWORD=bench-admin-password GANTRY_LOG_LEVEL=warn
export GANTRY_PROXY__DEBOUNCE_MS=$DEBOUNCE GANTRY_PROXY__ROLLOUT_PARALLEL=$PAR GANTRY_PROXY__DRIFT_INTERVAL_SECONDS=0
export GANTRY_JOBS__CONCURRENCY=64 GANTRY_SERVERS__CONCURRENCY=64 GANTRY_SERVERS__PROBE_INTERVAL_SECONDS=0
[ -n "$EVENTS_POLL" ] && export GANTRY_EVENTS__POLL_MS=$EVENTS_POLL
[ -n "${GANTRY_BENCH_DATABASE_URL:-}" ] && export GANTRY_DATABASE_URL=$GANTRY_BENCH_DATABASE_URL
"$BIN" serve >"$work/gantry.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "gantry did not become ready"; cat "$work/gantry.log"; exit 1; }
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

db_url=${GANTRY_BENCH_DATABASE_URL:-}; db_label=${db_url%%:*}
echo "settings: database ${db_label:-SQLite}${GANTRY_DB__MAX_CONNECTIONS:+ (pool $GANTRY_DB__MAX_CONNECTIONS)}, $HOSTS proxy hosts, $ROUNDS rounds, debounce ${DEBOUNCE} ms, rollout_parallel $PAR, events.poll_ms ${EVENTS_POLL:-500 (default)}, jobs.poll_ms 1000 (default), drift off, probes off, prober every ${POLL_MS} ms per host, Ansible forks $HOSTS, pipelining on, gather_facts off"
GANTRY_PID=$pid python3 - "$PORT" "$token" "$work" "$ROUNDS" "$POLL_MS" "$RESULTS" <<'PY'
import http.client, json, os, socket, statistics, subprocess, sys, threading, time
from datetime import datetime

port, token, work, rounds, poll_ms, results_path = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
H = {"authorization": "Bearer " + token, "content-type": "application/json"}
hosts = open(work + "/hosts").read().split()
key_path = open(work + "/key_path").read()
backend = open(work + "/backend").read().strip()
n = len(hosts)
LABEL = {8080: "blue", 8081: "green"}

api_conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
def call(method, path, body=None, ok=(200, 201, 202)):
    global api_conn
    for attempt in range(3):
        try:
            api_conn.request(method, path, json.dumps(body) if body is not None else None, H)
            r = api_conn.getresponse()
            data = r.read()
            break
        except (http.client.HTTPException, OSError):
            api_conn.close()
            api_conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
            if attempt == 1:
                raise Stuck(f"{method} {path} got no answer within 20 s, twice")
    if r.status not in ok:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:500]!r}")
    return json.loads(data) if data else None

class Stuck(Exception):
    pass

def diagnose(why):
    """Gantry stopped answering: show what the database says, read-only."""
    print(f"!! Gantry stopped making progress: {why}", flush=True)
    db = os.path.join(work, "data", "gantry.db")
    if not os.path.exists(db):
        return
    import sqlite3
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    for r in c.execute("select id, status, max_parallel, created_at from proxy_rollouts where status = 'running'"):
        ts_ = c.execute("select status, count(*) from proxy_rollout_targets where rollout_id = ? group by status", (r[0],)).fetchall()
        print(f"   rollout {r[0]} still running since {r[3]} (max_parallel {r[2]}): targets {dict(ts_)}")
    for r in c.execute("select server_id, status, inflight_generation_id, lease_until from proxy_servers where status != 'in_sync'"):
        print(f"   server {r[0]}: {r[1]}, generation {r[2]} in flight, lease until {r[3]}")
    last = c.execute("select max(updated_at) from jobs").fetchone()[0]
    print(f"   last job-row write: {last}; now {datetime.utcnow().isoformat()}Z")

def _hook(t, v, tb, _default=sys.excepthook):
    if issubclass(t, Stuck):
        diagnose(str(v))
    else:
        _default(t, v, tb)
sys.excepthook = _hook

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

def until(pred, secs, what):
    deadline = time.time() + secs
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise Stuck(f"timed out after {secs} s waiting for {what}")

# ---------------------------------------------------------------- prober
class Prober(threading.Thread):
    """Asks one proxy host for one name, fresh connection each time, until the body shows the wanted backend."""
    def __init__(self, addr):
        super().__init__(daemon=True)
        self.addr, self.cv = addr, threading.Condition()
        self.job = None          # (name, label) while armed
        self.done_at = None
        self.requests = 0
    def arm(self, name, label):
        with self.cv:
            self.job, self.done_at = (name, label.encode()), None
            self.cv.notify()
    def disarm(self):
        with self.cv:
            self.job = None
    def get(self, name):
        s = socket.create_connection((self.addr, 80), timeout=2)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: " + name.encode() + b"\r\nConnection: close\r\n\r\n")
            buf = b""
            while True:
                d = s.recv(4096)
                if not d:
                    return buf
                buf += d
        finally:
            s.close()
    def run(self):
        while True:
            with self.cv:
                while self.job is None:
                    self.cv.wait()
                name, label = self.job
            try:
                body = self.get(name)
            except OSError:
                body = b""
            self.requests += 1
            if b"backend=" + label + b" " in body:
                t = time.time()
                with self.cv:
                    if self.job == (name, label):
                        self.done_at, self.job = t, None
                continue
            time.sleep(poll_ms / 1000)

probers = [Prober(a) for a in hosts]
for p in probers:
    p.start()

def wait_served(secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        if all(p.done_at is not None for p in probers):
            return True
        time.sleep(0.005)
    for p in probers:
        p.disarm()
    return False

# ---------------------------------------------------------------- Gantry setup
key = open(key_path).read()
t0 = time.time()
sids = [call("POST", "/api/v1/servers", {"name": f"p{i}", "address": a, "ssh_user": "root", "credentials": {"private_key": key},
                                          "parameters": {"connect_timeout_seconds": 5}})["id"] for i, a in enumerate(hosts)]
jobs = [call("POST", f"/api/v1/servers/{s}/proxy/install", {})["id"] for s in sids]
for j in jobs:
    st = until(lambda: (lambda x: x if x["status"] in ("succeeded", "failed", "cancelled") else None)(call("GET", f"/api/v1/jobs/{j}")), 300, f"install job {j}")
    if st["status"] != "succeeded":
        raise RuntimeError(f"install failed: {st}")
print(f"Gantry: {n} servers added and proxies installed in {time.time() - t0:.1f} s")
dids, names = [], []
for i, s in enumerate(sids):
    g = call("POST", "/api/v1/domain-groups", {"name": f"g{i}", "server_id": s})["id"]
    name = f"g{i}.bench.test"
    dids.append(call("POST", "/api/v1/domains", {"group_id": g, "name": name, "target_ip": backend, "target_port": 8080})["id"])
    names.append(name)
for p, name in zip(probers, names):
    p.arm(name, "blue")
if not wait_served(120):
    raise Stuck("the initial domains did not go live within 120 s")

def gantry_idle():
    states = call("GET", "/api/v1/proxy/servers")
    ours = [s for s in states if s["server_id"] in sids]
    if len(ours) != n or any(s["status"] != "in_sync" for s in ours):
        return False
    rs = call("GET", "/api/v1/proxy/rollouts?limit=5")["items"]
    return all(r["status"] != "running" for r in rs)
until(gantry_idle, 120, "Gantry to settle after creating the domains")
last_rollout = max([r["id"] for r in call("GET", "/api/v1/proxy/rollouts?limit=1")["items"]] or [0])
print(f"Gantry: {n} groups and domains live")

# ---------------------------------------------------------------- the three methods
port_now = {"gantry": 8080, "ansible": 8080}

def gantry_round():
    global last_rollout
    new = 8081 if port_now["gantry"] == 8080 else 8080
    patched = [0.0] * n
    start = time.time()
    for i, (d, p) in enumerate(zip(dids, probers)):
        p.arm(names[i], LABEL[new])
        patched[i] = time.time()
        call("PATCH", f"/api/v1/domains/{d}", {"target_port": new})
    patch_end = time.time()
    ok = wait_served(60)
    if not ok:
        raise Stuck(f"not every host served the new target within 60 s of its PATCH")
    port_now["gantry"] = new
    lat = [(p.done_at - patched[i]) * 1000 if p.done_at else None for i, p in enumerate(probers)]
    served = [p.done_at for p in probers if p.done_at]
    wall = (max(served) - start) * 1000 if ok else None
    # Where the time went: wait until Gantry is idle, then read the generations and rollouts of this round.
    until(gantry_idle, 120, "Gantry to settle")
    gens = []
    for i, s in enumerate(sids):
        g = call("GET", f"/api/v1/servers/{s}/proxy/generations?limit=1")["items"][0]
        det = call("GET", f"/api/v1/servers/{s}/proxy/generations/{g['number']}")
        gens.append({"server": s, "number": g["number"], "trigger": g["trigger"], "rollout_id": g["rollout_id"], "status": g["status"],
                     "created": ts(g["created_at"]), "finished": ts(g["finished_at"]) if g["finished_at"] else None,
                     "timings": det["timings"], "patched": patched[i], "served": probers[i].done_at})
    rs = [r for r in call("GET", "/api/v1/proxy/rollouts?limit=50")["items"] if r["id"] > last_rollout]
    if rs:
        last_rollout = max(r["id"] for r in rs)
    rollouts = []
    for r in rs:
        t = sorted(r["targets"], key=lambda t: t["position"])
        rollouts.append({"id": r["id"], "targets": len(t), "status": r["status"], "created": ts(r["created_at"]),
                         "finished": ts(r["finished_at"]) if r["finished_at"] else None,
                         "target_times": [(x["server_id"], ts(x["started_at"]) if x["started_at"] else None,
                                           ts(x["finished_at"]) if x["finished_at"] else None, x["status"]) for x in t]})
    return {"ok": ok, "per_host_ms": lat, "wall_ms": wall, "patch_ms": (patch_end - start) * 1000, "generations": gens, "rollouts": rollouts}

def ansible_round(timed=True):
    new = 8081 if port_now["ansible"] == 8080 else 8080
    if timed:
        for p in probers:
            p.arm("bench-ansible.test", LABEL[new])
    env = dict(os.environ, ANSIBLE_CONFIG=work + "/ansible/ansible.cfg")
    start = time.time()
    r = subprocess.run(["ansible-playbook", "-e", f"port={new}", work + "/ansible/playbook.yml"], env=env,
                       cwd=work + "/ansible", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    exit_at = time.time()
    port_now["ansible"] = new
    if r.returncode != 0:
        raise RuntimeError("ansible-playbook failed:\n" + r.stdout.decode()[-3000:])
    if not timed:
        return None
    ok = wait_served(60)
    lat = [(p.done_at - start) * 1000 if p.done_at else None for p in probers]
    served = [p.done_at for p in probers if p.done_at]
    return {"ok": ok, "per_host_ms": lat, "wall_ms": (max(served) - start) * 1000 if ok else None, "playbook_ms": (exit_at - start) * 1000}

SSH = ["ssh", "-i", key_path, "-o", f"UserKnownHostsFile={work}/known_hosts", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
       "-o", "ConnectTimeout=5"]
port_now["floor"] = port_now["floor_cm"] = 8080
def floor_round(persistent, timed=True):
    """The floor: one ssh per host (xargs -P N) writing the server block with printf, then nginx -t && nginx -s reload."""
    m = "floor_cm" if persistent else "floor"
    name = f"bench-{m.replace('_', '-')}.test"
    new = 8081 if port_now[m] == 8080 else 8080
    block = f"server {{ listen 80; server_name {name}; location / {{ proxy_pass http://{backend}:{new}; }} }}"
    remote = f"printf '%s\\n' '{block}' > /etc/nginx/conf.d/{m}.conf && nginx -t 2>/dev/null && nginx -s reload"
    cm = ["-o", f"ControlPath={work}/cm/%h", "-o", "ControlMaster=no"] if persistent else []
    ssh = " ".join(SSH + cm)
    script = ('s=$(date +%s%N); ' + ssh + ' root@"$1" "$FLOOR_CMD"; rc=$?; '
              'echo "$1 $rc $(( ($(date +%s%N) - s) / 1000 ))"')
    if timed:
        for p in probers:
            p.arm(name, LABEL[new])
    start = time.time()
    r = subprocess.run(["xargs", "-P", str(n), "-I{}", "sh", "-c", script, "floor", "{}"], stdin=open(work + "/hosts"),
                       env=dict(os.environ, FLOOR_CMD=remote), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    wall = (time.time() - start) * 1000
    port_now[m] = new
    per = {}
    for line in r.stdout.decode().split("\n"):
        if line.strip():
            a, rc, us = line.split()
            if rc != "0":
                raise RuntimeError(f"floor ssh to {a} failed ({rc}): {r.stderr.decode()[-1000:]}")
            per[a] = int(us) / 1000
    if len(per) != n:
        raise RuntimeError(f"floor: {len(per)} of {n} hosts answered: {r.stderr.decode()[-1000:]}")
    if not timed:
        return None
    ok = wait_served(30)
    served = [(p.done_at - start) * 1000 if p.done_at else None for p in probers]
    return {"ok": ok, "per_host_ms": [per[a] for a in hosts], "wall_ms": wall, "served_ms": served,
            "served_wall_ms": max(x for x in served if x is not None) if ok else None}

# ControlMaster connections for the persistent floor (opened once, untimed).
for a in hosts:
    subprocess.run(SSH + ["-M", "-N", "-f", "-o", f"ControlPath={work}/cm/%h", "-o", "ControlPersist=600", f"root@{a}"], check=True, timeout=30)

print("warm-up round (untimed) for each method")
ansible_round(timed=False)   # also writes the Ansible server block the first time
gantry_round(); floor_round(False, timed=False); floor_round(True, timed=False)
gantry_idle()

methods = ("gantry", "ansible", "floor", "floor_cm")
res = {m: [] for m in methods}
cpu0 = os.times()
for r in range(rounds):
    res["gantry"].append(gantry_round())
    res["ansible"].append(ansible_round())
    res["floor"].append(floor_round(False))
    res["floor_cm"].append(floor_round(True))
    g, a, f, c = (res[m][-1] for m in methods)
    print(f"round {r + 1}/{rounds}: wall Gantry {g['wall_ms']:.0f} ms (PATCHes {g['patch_ms']:.0f} ms, {len(g['rollouts'])} rollout(s)), "
          f"Ansible {a['wall_ms']:.0f} ms (playbook {a['playbook_ms']:.0f} ms), floor {f['wall_ms']:.0f} ms, floor/ControlMaster {c['wall_ms']:.0f} ms",
          flush=True)
cpu1 = os.times()
for p in probers:
    p.disarm()

# ---------------------------------------------------------------- report
def pct(xs, q):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(-(-q * len(xs) // 100)) - 1))]
summary = {}
for m in methods:
    lat = [x for rr in res[m] for x in rr["per_host_ms"] if x is not None]
    missing = sum(1 for rr in res[m] for x in rr["per_host_ms"] if x is None)
    walls = [rr["wall_ms"] for rr in res[m] if rr["wall_ms"] is not None]
    summary[m] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "wall_median": statistics.median(walls), "wall_max": max(walls),
                  "samples": len(lat), "missing": missing}
names_ = {"gantry": "Gantry (PATCH -> served)", "ansible": "Ansible (start -> served)", "floor": "floor: ssh write+nginx -t+reload",
          "floor_cm": "floor over ControlMaster"}
print(f"== results: {n} proxy hosts, {rounds} rounds")
print(f"{'method':<34} {'p50/host':>9} {'p99/host':>9} {'wall med':>9} {'wall max':>9}  samples")
for m in methods:
    s = summary[m]
    print(f"{names_[m]:<34} {s['p50']:>7.0f}ms {s['p99']:>7.0f}ms {s['wall_median']:>7.0f}ms {s['wall_max']:>7.0f}ms  {s['samples']}"
          + (f" ({s['missing']} never served)" if s["missing"] else ""))
G, A, F, C = (summary[m] for m in methods)
print(f"Ansible / Gantry: p50 x{A['p50'] / G['p50']:.2f}, p99 x{A['p99'] / G['p99']:.2f}, wall x{A['wall_median'] / G['wall_median']:.2f}   (target at 50 hosts: >= 10)")
print(f"Gantry / floor:   p50 x{G['p50'] / F['p50']:.2f}, wall x{G['wall_median'] / F['wall_median']:.2f}   (target: <= 2)")
print(f"Gantry / floor over ControlMaster: p50 x{G['p50'] / C['p50']:.2f}, wall x{G['wall_median'] / C['wall_median']:.2f}")
for m in ("floor", "floor_cm"):
    sv = [x for rr in res[m] for x in rr["served_ms"] if x is not None]
    sw = [rr["served_wall_ms"] for rr in res[m] if rr["served_wall_ms"] is not None]
    summary[m]["served_p50"], summary[m]["served_p99"], summary[m]["served_wall_median"] = pct(sv, 50), pct(sv, 99), statistics.median(sw)
    print(f"{names_[m]}, start -> served through the host: p50 {pct(sv, 50):.0f} ms, p99 {pct(sv, 99):.0f} ms, wall median {statistics.median(sw):.0f} ms")
print(f"Gantry / floor (served): p50 x{G['p50'] / F['served_p50']:.2f}, wall x{G['wall_median'] / F['served_wall_median']:.2f}; "
      f"over ControlMaster (served): p50 x{G['p50'] / C['served_p50']:.2f}, wall x{G['wall_median'] / C['served_wall_median']:.2f}")
pw = [rr["playbook_ms"] for rr in res["ansible"]]
print(f"Ansible playbook run (start -> exit): median {statistics.median(pw):.0f} ms")

# Where Gantry's time goes (medians over hosts and rounds).
rows = [g for rr in res["gantry"] for g in rr["generations"] if g["served"]]
def med(f):
    xs = [f(g) for g in rows]
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")
print("== where Gantry's time goes (median per host)")
print(f"PATCH -> generation row created (relay poll + debounce + job pickup + canary/slot wait + lease/render): {med(lambda g: (g['created'] - g['patched']) * 1000):.0f} ms")
print(f"generation created -> served through the proxy (upload + nginx -t + switch + reload): {med(lambda g: (g['served'] - g['created']) * 1000):.0f} ms")
print(f"served -> generation finished (verify + bookkeeping): {med(lambda g: (g['finished'] - g['served']) * 1000 if g['finished'] else None):.0f} ms")
for k in ("render_ms", "stage_ms", "switch_ms", "verify_ms", "total_ms"):
    print(f"  apply step {k}: median {med(lambda g: g['timings'].get(k)):.0f} ms, max {max(g['timings'].get(k, 0) for g in rows)} ms")
ro = [r for rr in res["gantry"] for r in rr["rollouts"]]
apply_jobs = sum(1 for rr in res["gantry"] for g in rr["generations"] if g["rollout_id"] is None)
sizes = [r["targets"] for r in ro]
print(f"reconciliation: {len(ro)} rollouts over {rounds} rounds (targets per rollout: {sizes}), {apply_jobs} single-server apply jobs")
canary = [(r["target_times"][0][2] - r["target_times"][0][1]) * 1000 for r in ro if r["target_times"] and r["target_times"][0][2]]
first_start = [(r["target_times"][0][1] - r["created"]) * 1000 for r in ro if r["target_times"] and r["target_times"][0][1]]
if canary:
    print(f"rollout canary apply: median {statistics.median(canary):.0f} ms; rollout created -> canary started: median {statistics.median(first_start):.0f} ms")
gp = int(os.environ["GANTRY_PID"])
hwm = [l.split()[1] for l in open(f"/proc/{gp}/status") if l.startswith("VmHWM")][0]
print(f"Gantry peak resident memory: {int(hwm) // 1024} MiB; prober: {sum(p.requests for p in probers)} requests in the timed rounds and warm-up, "
      f"driver CPU {cpu1.user + cpu1.system - cpu0.user - cpu0.system:.1f} s")
json.dump({"hosts": n, "rounds": rounds, "summary": summary, "results": res}, open(results_path, "w"))
print(f"raw results: {results_path}")
PY
echo "machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); date $(date -u +%F)"
