#!/usr/bin/env bash
# Tasks benchmark (issue #9): requests/s and p99 latency of listing a page of
# 50 tasks and of creating a task, with wrk on loopback against the release
# binary on PostgreSQL, with 10,000 tasks stored. Each figure is reported next
# to two baselines measured in the same run with the same settings:
#   (a) GET /api/v1/auth/me with the same API token: the cheapest
#       authenticated request (HTTP, token check, JSON; no query);
#   (b) the same work done directly on PostgreSQL with pgbench (-M prepared,
#       as sqlx does): the statements Gantry sends for that request, with the
#       same values, so the ratio shows what Gantry costs over the database.
# Measured, in this order (the creates come last because they add rows):
#   - GET /api/v1/tasks?limit=50                                (first page, manual order)
#   - GET /api/v1/tasks?completed=false&sort=-priority&limit=50 (filter + sort)
#   - GET /api/v1/tasks?limit=50&cursor=…                       (a deep page, after GANTRY_BENCH_DEEP tasks)
#   - POST /api/v1/tasks                                        (wrk -s with a Lua script; every body differs)
# Setup, not timed: a fresh database gantry_bench_<random> on
# 127.0.0.1:$GANTRY_BENCH_PG_PORT (user postgres, trust), Gantry on a free
# loopback port, an API token for admin, then GANTRY_BENCH_TASKS tasks created
# through the API by GANTRY_BENCH_SEED_CONCURRENCY clients (varied priorities,
# labels, due dates, assignees, descriptions; a third completed). Each listed
# page is checked against the same query run with psql before it is timed.
# Settings: GANTRY_BENCH_DURATION (15s), GANTRY_BENCH_CONNECTIONS (16, also
# pgbench's clients; Gantry's pool is 16), GANTRY_BENCH_THREADS (2, wrk
# threads and pgbench jobs), GANTRY_BENCH_TASKS (10000), GANTRY_BENCH_DEEP
# (9000), GANTRY_BENCH_SEED_CONCURRENCY (8), GANTRY_BENCH_PG_PORT (5432),
# GANTRY_BENCH_KEEP=1 keeps the work directory (logs, wrk and pgbench output)
# and the database. The release binary is built into ${CARGO_TARGET_DIR:-target}.
# Traffic goes to 127.0.0.1 only; every load run is bounded by -d / -T, every
# wait by a deadline; Gantry is stopped and the database dropped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${GANTRY_BENCH_DURATION:-15s}
CONNS=${GANTRY_BENCH_CONNECTIONS:-16}
THREADS=${GANTRY_BENCH_THREADS:-2}
TASKS=${GANTRY_BENCH_TASKS:-10000}
DEEP=${GANTRY_BENCH_DEEP:-9000}
SEED_CONC=${GANTRY_BENCH_SEED_CONCURRENCY:-8}
PG_PORT=${GANTRY_BENCH_PG_PORT:-5432}
BIN=${CARGO_TARGET_DIR:-target}/release/gantry
PASSWORD=bench-admin-password
SECS=${DURATION%s}
case "$SECS" in '' | *[!0-9]*) echo "GANTRY_BENCH_DURATION must be whole seconds, e.g. 15s" >&2; exit 2 ;; esac
[ "$DEEP" -lt "$TASKS" ] || { echo "GANTRY_BENCH_DEEP must be below GANTRY_BENCH_TASKS" >&2; exit 2; }

command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null
command -v pgbench >/dev/null || { echo "needs pgbench (Debian: postgresql-15, or postgresql-contrib)" >&2; exit 1; }
command -v psql >/dev/null || { echo "needs psql (postgresql-client)" >&2; exit 1; }
cargo build --release -q -p gantry

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
DB=gantry_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
work=$(mktemp -d)
pid=""
db_made=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -n "${GANTRY_BENCH_KEEP:-}" ]; then
    echo "kept: $work and database $DB"
  else
    if [ -n "$db_made" ]; then
      "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || echo "could not drop database $DB" >&2
    fi
    rm -rf "$work"
  fi
}
trap cleanup EXIT

"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
db_made=1
sql() { "${PSQL[@]}" -d "$DB" -c "$1"; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
GANTRY_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$DB GANTRY_LISTEN=127.0.0.1:$PORT GANTRY_DATA_DIR=$work/data \
  GANTRY_ADMIN_PASSWORD=$PASSWORD GANTRY_LOG_LEVEL=warn "$BIN" serve >"$work/gantry.log" 2>&1 &
pid=$!
deadline=$((SECONDS + 60))
until curl -sf "$BASE/readyz" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/gantry.log"; echo "gantry exited" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "gantry not ready within 60 s" >&2; exit 1; }
  sleep 0.05
done

login=$(curl -sf -D "$work/h" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login")
cookie=$(grep -i '^set-cookie:' "$work/h" | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]+);.*/\1/' | head -n1)
csrf=$(printf '%s' "$login" | sed -E 's/.*"csrf_token":"([^"]+)".*/\1/')
token=$(curl -sf -H "cookie: $cookie" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
  -d '{"name":"bench"}' "$BASE/api/v1/tokens" | sed -E 's/.*"token":"([^"]+)".*/\1/')
AUTH="authorization: Bearer $token"
admin_id=$(curl -sf -H "$AUTH" "$BASE/api/v1/auth/me" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("id") or d["user"]["id"])')

echo "== seeding $TASKS tasks through the API ($SEED_CONC clients; database $DB)"
t0=$SECONDS
GANTRY_BENCH_URL=$BASE GANTRY_BENCH_TOKEN=$token GANTRY_BENCH_ADMIN_ID=$admin_id GANTRY_BENCH_TASKS=$TASKS \
  GANTRY_BENCH_SEED_CONCURRENCY=$SEED_CONC python3 - <<'PY'
import http.client, json, os, random, threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

N = int(os.environ["GANTRY_BENCH_TASKS"])
host, port = os.environ["GANTRY_BENCH_URL"].removeprefix("http://").rsplit(":", 1)
assert host == "127.0.0.1"
HDR = {"authorization": "Bearer " + os.environ["GANTRY_BENCH_TOKEN"], "content-type": "application/json"}
ADMIN = int(os.environ["GANTRY_BENCH_ADMIN_ID"])
rnd = random.Random(9)
LABELS = ["web", "db", "tls", "dns", "backup", "monitoring", "network", "security", "ops", "infra", "cleanup", "urgent-fix"]
VERBS = ["Renew", "Check", "Upgrade", "Migrate", "Rotate", "Document", "Restore", "Tune", "Replace", "Audit"]
THINGS = ["wildcard cert", "postgres replica", "nginx on web", "backup job", "DNS zone", "firewall rules", "disk on db", "ssh keys", "monitoring alerts", "Proxmox node"]
bodies = []
for i in range(N):
    b = {"title": f"{rnd.choice(VERBS)} {rnd.choice(THINGS)}-{i % 97} (#{i})",
         "priority": rnd.choices(["low", "normal", "high", "urgent"], [3, 5, 2, 1])[0]}
    if rnd.random() < 0.6:
        b["description"] = "Steps:\n\n" + "\n".join(f"- step {k}: {rnd.choice(VERBS).lower()} {rnd.choice(THINGS)}" for k in range(rnd.randint(1, 6)))
    if rnd.random() < 0.7:
        b["due_date"] = (date(2026, 12, 1) + timedelta(days=rnd.randint(-60, 180))).isoformat()
    if rnd.random() < 0.8:
        b["labels"] = rnd.sample(LABELS, rnd.randint(1, 3))
    if rnd.random() < 0.3:
        b["assignee_id"] = ADMIN
    if rnd.random() < 0.33:
        b["completed"] = True
    bodies.append(json.dumps(b))

local = threading.local()
def post(body):
    for attempt in (1, 2):
        c = getattr(local, "c", None) or http.client.HTTPConnection(host, int(port), timeout=30)
        local.c = c
        try:
            c.request("POST", "/api/v1/tasks", body, HDR)
            r = c.getresponse()
            text = r.read()
            return r.status, text[:300]
        except (ConnectionError, http.client.HTTPException):
            c.close()
            local.c = None
            if attempt == 2:
                raise
with ThreadPoolExecutor(int(os.environ["GANTRY_BENCH_SEED_CONCURRENCY"])) as ex:
    res = list(ex.map(post, bodies))
bad = [r for r in res if r[0] != 201]
if bad:
    print(f"{len(bad)} of {N} creates failed; first: {bad[0]}")
    raise SystemExit(1)
PY
echo "seeded in $((SECONDS - t0)) s; tasks in the database: $(sql 'SELECT count(*) FROM tasks')"
sql "VACUUM ANALYZE"

# The deep page's cursor: walk GANTRY_BENCH_DEEP tasks in pages of at most 500.
after=""
walked=0
while [ "$walked" -lt "$DEEP" ]; do
  n=$((DEEP - walked)); [ "$n" -gt 500 ] && n=500
  curl -sf -H "$AUTH" "$BASE/api/v1/tasks?limit=$n${after:+&cursor=$after}" >"$work/walk.json"
  after=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["next"] or "")' "$work/walk.json")
  [ -n "$after" ] || { echo "the walk ended early" >&2; exit 1; }
  walked=$((walked + n))
done
read -r deep_pos deep_id < <(python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["items"][-1]; print(t["position"], t["id"])' "$work/walk.json")

# Gantry's queries for a page: the page (limit + 1 rows), then its labels and
# links by id. sea-orm binds every value (the filter, the cursor, the limit, the
# ids) as a parameter, so the pgbench scripts do too (\set variables become $n
# under -M prepared) and PostgreSQL plans both the same way.
COLS="id, title, description, search_text, priority, due_date, due_key, assignee_id, completed, completed_at, position, attachment_count, created_by, version, created_at, updated_at"
declare -A PAGE_SQL=(
  [first]="FROM tasks ORDER BY position ASC, id ASC LIMIT :lim"
  [filtered]="FROM tasks WHERE completed = :open ORDER BY priority DESC, id DESC LIMIT :lim"
  [deep]="FROM tasks WHERE position >= :pos AND (position > :pos2 OR id > :cid) ORDER BY position ASC, id ASC LIMIT :lim"
)
PAGE_VARS="\set lim 51
\set open false
\set pos $deep_pos
\set pos2 $deep_pos
\set cid $deep_id"
declare -A PAGE_URL=(
  [first]="/api/v1/tasks?limit=50"
  [filtered]="/api/v1/tasks?completed=false&sort=-priority&limit=50"
  [deep]="/api/v1/tasks?limit=50&cursor=$after"
)
for p in first filtered deep; do
  q=${PAGE_SQL[$p]//:lim/51}; q=${q//:open/false}; q=${q//:pos2/$deep_pos}; q=${q//:pos/$deep_pos}; q=${q//:cid/$deep_id}
  ids=$(sql "SELECT string_agg(id::text, ' ') FROM (SELECT id $q) s")
  api=$(curl -sf -H "$AUTH" "$BASE${PAGE_URL[$p]}" | python3 -c 'import json, sys; print(" ".join(str(t["id"]) for t in json.load(sys.stdin)["items"]))')
  [ "$api" = "$(printf '%s' "$ids" | cut -d' ' -f1-50)" ] || { echo "page $p: the API and psql disagree" >&2; exit 1; }
  read -r -a idv <<<"$(printf '%s' "$ids" | cut -d' ' -f1-50)"
  {
    echo "$PAGE_VARS"
    for k in "${!idv[@]}"; do echo "\\set i$k ${idv[$k]}"; done
    echo "SELECT $COLS ${PAGE_SQL[$p]};"
    params=$(for k in "${!idv[@]}"; do printf ':i%s, ' "$k"; done)
    echo "SELECT task_id, label FROM task_labels WHERE task_id IN (${params%, });"
    echo "SELECT task_id, kind, target_id FROM task_links WHERE task_id IN (${params%, });"
  } >"$work/pg_$p.sql"
done
labels_n=$(sql "SELECT count(*) FROM task_labels")
open_n=$(sql "SELECT count(*) FROM tasks WHERE NOT completed")

# Gantry's create, as one transaction: the order lock row, the bottom position,
# the row, its labels, the audit record and the outbox event; then the read-back
# (row, labels, links) that the 201 answer is built from. (JSON in it has a space
# after each colon: pgbench would take ":null" for a variable.)
cat >"$work/pg_create.sql" <<SQL
\set n random(1, 1000000000)
BEGIN;
UPDATE tasks_order SET n = n + 1 WHERE id = 1;
SELECT MAX(position) AS m FROM tasks \gset
INSERT INTO tasks (title, description, search_text, priority, due_date, due_key, assignee_id, completed, completed_at, position, attachment_count, created_by, version, created_at, updated_at) VALUES ('pgbench task ' || :n, 'Created by bench/tasks.sh', 'pgbench task ' || :n || ' created by bench/tasks.sh', 2, '2027-01-15', '2027-01-15', NULL, false, NULL, :m::bigint + 1024, 0, $admin_id, 1, now(), now()) RETURNING $COLS \gset t_
INSERT INTO task_labels (task_id, label) VALUES (:t_id, 'bench'), (:t_id, 'web');
INSERT INTO audit_log (at, actor_id, actor_name, actor_role, action, entity_type, entity_id, request_id, client_ip, summary) VALUES (now(), $admin_id, 'admin', 'admin', 'task.create', 'task', :t_id::text, '01JEXAMPLEREQUESTID0000000', '127.0.0.1', '{"after": {"assignee_id": null, "due_date": "2027-01-15", "labels": ["bench", "web"], "priority": "high", "title": "pgbench task"}}');
INSERT INTO events (at, kind, entity_type, entity_id, audience, owner_id, payload) VALUES (now(), 'task.changed', 'task', :t_id::text, NULL, NULL, '{"change": "created", "task_id": 1, "title": "pgbench task"}');
COMMIT;
SELECT $COLS FROM tasks WHERE id = :t_id;
SELECT task_id, label FROM task_labels WHERE task_id IN (:t_id);
SELECT task_id, kind, target_id FROM task_links WHERE task_id IN (:t_id);
SQL

cat >"$work/create.lua" <<'LUA'
-- POST /api/v1/tasks with a different body each time; headers come from -H.
local n = 0
local prios = {"low", "normal", "high", "urgent"}
local labels = {"web", "db", "tls", "dns", "backup"}
request = function()
  n = n + 1
  local body = string.format(
    '{"title":"wrk task %d","description":"Created by bench/tasks.sh","priority":"%s","due_date":"2027-01-%02d","labels":["%s","bench"]}',
    n, prios[n % 4 + 1], n % 28 + 1, labels[n % 5 + 1])
  return wrk.format("POST", "/api/v1/tasks", nil, body)
end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle_ticks() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
all_ticks() { awk '/^cpu / {s = 0; for (i = 2; i <= NF; i++) s += $i; print s}' /proc/stat; }
# Prints "req/s|p99 ms|errors|gantry cores|machine busy %|load" for one wrk run.
run_wrk() { # name, path, extra wrk args...
  local name="$1" path="$2"; shift 2
  local g0 i0 a0 g1 i1 a1
  g0=$(cpu_ticks "$pid"); i0=$(idle_ticks); a0=$(all_ticks)
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$AUTH" "$@" "$BASE$path" >"$work/wrk_$name.txt"
  g1=$(cpu_ticks "$pid"); i1=$(idle_ticks); a1=$(all_ticks)
  local rps p99 errs
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/wrk_$name.txt")
  p99=$(awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.2f", v * f}' "$work/wrk_$name.txt")
  errs=$(awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}' "$work/wrk_$name.txt")
  echo "$rps|$p99|${errs:-none}|$(awk -v g=$((g1 - g0)) -v s="$SECS" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", g / hz / s}')|$(awk -v i=$((i1 - i0)) -v a=$((a1 - a0)) 'BEGIN {printf "%.0f", 100 * (1 - i / a)}')|$(cut -d' ' -f1 /proc/loadavg)"
}
# Same for pgbench; p99 from its per-transaction log (column 3, microseconds).
run_pgbench() { # name, script
  local name="$1" script="$2"
  local i0 a0 i1 a1
  i0=$(idle_ticks); a0=$(all_ticks)
  pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$CONNS" -j "$THREADS" -T "$SECS" \
    -f "$script" -l --log-prefix="$work/pglog_$name" "$DB" >"$work/pgbench_$name.txt" 2>&1 \
    || { cat "$work/pgbench_$name.txt" >&2; echo "pgbench $name failed" >&2; exit 1; }
  i1=$(idle_ticks); a1=$(all_ticks)
  local tps p99 fails
  tps=$(awk '/^tps = / {printf "%.0f", $3}' "$work/pgbench_$name.txt")
  p99=$(cat "$work/pglog_$name".* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", a[i] / 1000}')
  fails=$(awk '/number of failed transactions/ {print $5}' "$work/pgbench_$name.txt")
  [ "${fails:-0}" = 0 ] && fails=none || fails="$fails failed"
  rm -f "$work/pglog_$name".*
  echo "$tps|$p99|$fails|—|$(awk -v i=$((i1 - i0)) -v a=$((a1 - a0)) 'BEGIN {printf "%.0f", 100 * (1 - i / a)}')|$(cut -d' ' -f1 /proc/loadavg)"
}

declare -A R
echo "== load runs: wrk -t$THREADS -c$CONNS -d$DURATION, pgbench -M prepared -c$CONNS -j$THREADS -T$SECS, all on 127.0.0.1"
echo "   $(sql 'SELECT count(*) FROM tasks') tasks ($open_n open), $labels_n labels; deep page after $DEEP tasks (position $deep_pos, id $deep_id)"
R[me]=$(run_wrk me /api/v1/auth/me);                       echo "  auth/me        ${R[me]}"
for p in first filtered deep; do
  R[pg_$p]=$(run_pgbench "$p" "$work/pg_$p.sql");         echo "  pgbench $p $(printf '%*s' $((6 - ${#p})) '')${R[pg_$p]}"
  R[$p]=$(run_wrk "$p" "${PAGE_URL[$p]}");                 echo "  gantry $p  $(printf '%*s' $((6 - ${#p})) '')${R[$p]}"
done
before_create=$(sql 'SELECT count(*) FROM tasks')
R[pg_create]=$(run_pgbench create "$work/pg_create.sql");   echo "  pgbench create ${R[pg_create]}"
mid_create=$(sql 'SELECT count(*) FROM tasks')
R[create]=$(run_wrk create /api/v1/tasks -s "$work/create.lua" -H 'content-type: application/json'); echo "  gantry create  ${R[create]}"
after_create=$(sql 'SELECT count(*) FROM tasks')
R[me2]=$(run_wrk me2 /api/v1/auth/me);                     echo "  auth/me again  ${R[me2]}"

echo
echo "== results (machine: $(nproc) cores, $(uname -r), $(date -u +%F); PostgreSQL $(sql 'SHOW server_version'))"
f() { echo "${R[$1]}" | cut -d'|' -f"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
printf '%-58s %9s %9s  %-18s %-18s %s\n' "request" "req/s" "p99 ms" "vs auth/me (rps,p99)" "vs pgbench (rps,p99)" "errors | gantry cores | machine busy % | load"
line() { # label, key, pg key
  local k="$2" pg="$3"
  printf '%-58s %9s %9s  x%-6s x%-10s ' "$1" "$(f "$k" 1)" "$(f "$k" 2)" "$(ratio "$(f "$k" 1)" "$(f me 1)")" "$(ratio "$(f "$k" 2)" "$(f me 2)")"
  if [ -n "$pg" ]; then printf 'x%-6s x%-10s ' "$(ratio "$(f "$k" 1)" "$(f "$pg" 1)")" "$(ratio "$(f "$k" 2)" "$(f "$pg" 2)")"; else printf '%-19s' ""; fi
  echo "$(f "$k" 3) | $(f "$k" 4) | $(f "$k" 5) | $(f "$k" 6)"
}
line "GET /api/v1/auth/me (baseline a)" me ""
line "GET /api/v1/auth/me, again after the creates" me2 ""
for p in first filtered deep; do
  line "pgbench: page $p (baseline b)" "pg_$p" ""
  line "GET ${PAGE_URL[$p]%%&cursor=*}$([ "$p" = deep ] && echo '&cursor=…')" "$p" "pg_$p"
done
line "pgbench: create transaction (baseline b)" pg_create ""
line "POST /api/v1/tasks" create pg_create
echo "tasks: $before_create before the creates, $mid_create after pgbench's, $after_create after Gantry's ($((after_create - mid_create)) created through the API)"

echo
echo "== Gantry's own count of answers by route and status (/metrics), and warnings it logged"
curl -sf -H "$AUTH" "$BASE/metrics" | grep '^gantry_http_requests_total' | grep -E 'route="/api/v1/(tasks|auth/me)' || echo "(no metrics)"
echo "$(grep -c . "$work/gantry.log" || true) lines in Gantry's log (level warn); the last ones:"
tail -n 5 "$work/gantry.log"
