#!/usr/bin/env bash
# Render benchmark (issue #6): gantry_proxy::render::render on 10,000 validated
# domains (median of several runs), next to the real `nginx -t` on the rendered
# output (how long nginx itself takes to parse it; a wrapper configuration in a
# temporary directory, the machine's nginx is not touched) and
# serde_json::to_string of the same input, measured in the same run.
# Target: render 10,000 domains in well under a second.
# Settings: GANTRY_BENCH_RUNS (default 9); needs Debian's nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${GANTRY_BENCH_RUNS:-9}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/gantry/target}
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs nginx (apt-get install nginx)"; exit 1; }
cargo build --release -q -p gantry-proxy --example render_bench
"$CARGO_TARGET_DIR/release/examples/render_bench" "$RUNS"
echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*nginx/||'); machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); date $(date -u +%F)"
