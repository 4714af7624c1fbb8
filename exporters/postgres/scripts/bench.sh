#!/usr/bin/env bash
# Side-by-side performance of aiplatform-postgres-exporter and Debian's Go postgres_exporter
# (0.11.1) against the same PostgreSQL, default collectors: scrape throughput with
# `wrk -c1 -t1 -d${DURATION}`, resident memory (VmRSS after the run, VmHWM peak), and the most
# server connections each held while being scraped (sampled with ss every 0.2 s).
#
#   exporters/postgres/scripts/bench.sh            # 2 runs against 127.0.0.1:5432/postgres
#   RUNS=3 DURATION=10s BENCH_DSN=postgresql://... exporters/postgres/scripts/bench.sh
#   SMALL=1 exporters/postgres/scripts/bench.sh     # also a size-optimised build (opt-level s,
#                                                   # fat LTO, one codegen unit, stripped)
#
# Needs wrk, ss, curl, a release build (built here) and /usr/bin/prometheus-postgres-exporter
# (scripts/lib/deps.sh installs it). The machine has 2 cores: check `uptime` first and run when
# other builds are idle; the load average is printed with the results.
set -euo pipefail

RUNS=${RUNS:-2}
DURATION=${DURATION:-10s}
DSN=${BENCH_DSN:-postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable}
GO_BIN=${GO_BIN:-/usr/bin/prometheus-postgres-exporter}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

for tool in wrk ss curl "$GO_BIN"; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/test.sh to install test dependencies" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p aiplatform-postgres-exporter)
RUST_BIN=$CARGO_TARGET_DIR/release/aiplatform-postgres-exporter
SMALL_BIN=""
if [ "${SMALL:-0}" = 1 ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR-small CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
        CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
        CARGO_PROFILE_RELEASE_STRIP=true CARGO_PROFILE_RELEASE_DEBUG=0 \
        cargo build --release -q -p aiplatform-postgres-exporter)
    SMALL_BIN=$CARGO_TARGET_DIR-small/release/aiplatform-postgres-exporter
fi
PG_PORT=$(echo "$DSN" | sed -E 's#.*@[^:/]+:([0-9]+).*#\1#; t; s#.*#5432#')

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# bench NAME BIN ARGS... -> prints "name rps rss_kib hwm_kib max_conns"
bench() {
    local name=$1 bin=$2; shift 2
    local port; port=$(free_port)
    DATA_SOURCE_NAME=$DSN "$bin" --web.listen-address=127.0.0.1:$port "$@" >/dev/null 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" -o /dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/metrics" -o /dev/null   # warm: connection opened
    local conns_file; conns_file=$(mktemp)
    ( while kill -0 "$pid" 2>/dev/null; do
          ss -tnpH state established "( dport = :$PG_PORT )" 2>/dev/null | grep -c "pid=$pid," || true
          sleep 0.2
      done ) >"$conns_file" &
    local sampler=$!
    local rps
    rps=$(wrk -c1 -t1 -d"$DURATION" "http://127.0.0.1:$port/metrics" | awk '/Requests\/sec/ {print $2}')
    local rss hwm
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local conns; conns=$(sort -n "$conns_file" | tail -1); rm -f "$conns_file"
    echo "$name $rps $rss $hwm ${conns:-0}"
}

results=$(mktemp)
echo "load before: $(uptime)"
for run in $(seq "$RUNS"); do
    bench go "$GO_BIN" | sed "s/^/$run /" >>"$results"
    bench rust "$RUST_BIN" | sed "s/^/$run /" >>"$results"
    bench rust-debian12 "$RUST_BIN" --compat=debian12 | sed "s/^/$run /" >>"$results"
    bench rust-nocache "$RUST_BIN" --collector.database.size-cache=0s | sed "s/^/$run /" >>"$results"
    if [ -n "$SMALL_BIN" ]; then
        bench rust-small "$SMALL_BIN" | sed "s/^/$run /" >>"$results"
    fi
done
echo "load after:  $(uptime)"
echo
printf "%-4s %-14s %12s %10s %10s %6s\n" run exporter "scrapes/s" "RSS KiB" "peak KiB" conns
while read -r run name rps rss hwm conns; do
    printf "%-4s %-14s %12s %10s %10s %6s\n" "$run" "$name" "$rps" "$rss" "$hwm" "$conns"
done <"$results"
echo
echo "medians over $RUNS runs:"
for name in go rust rust-debian12 rust-nocache ${SMALL_BIN:+rust-small}; do
    awk -v n="$name" '$2 == n {print $3, $4, $5, $6}' "$results" | python3 -c '
import sys, statistics
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
cols = list(zip(*rows))
m = [statistics.median(c) for c in cols]
print(f"'"$name"'".ljust(14), f"{m[0]:10.1f} scrapes/s  RSS {m[1]/1024:6.1f} MiB  peak {m[2]/1024:6.1f} MiB  conns {m[3]:.0f}")'
done
python3 - "$results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = lambda n, i: statistics.median(float(r[i]) for r in rows if r[1] == n)
print(f"\nthroughput rust/go: {med('rust', 2) / med('go', 2):.1f}x (target >= 3x); "
      f"RSS rust/go: {med('rust', 3) / med('go', 3):.2f} (target <= 0.25); "
      f"conns rust {med('rust', 5):.0f} vs go {med('go', 5):.0f}")
PY
rm -f "$results"
