#!/usr/bin/env bash
# Side-by-side performance of aiplatform-node-exporter and Debian's Go node_exporter on this
# host, each with all its default collectors on (COLLECTORS="cpu meminfo ..." restricts both
# to that list instead):
#   - CPU seconds (utime+stime from /proc/<pid>/stat) spent serving 1000 scrapes, and the
#     resident memory (VmRSS) after them, each exporter freshly started;
#   - scrape throughput and latency with `wrk -c1 -t1 -d10s --latency`.
# The two are measured one after the other, never at the same time.
#
# Usage: [RUNS=3] [COLLECTORS="cpu meminfo ..."] exporters/node/scripts/compare.sh [OUR_BINARY]
#   COLLECTORS restricts both exporters to exactly these.
#   OUR_BINARY defaults to $CARGO_TARGET_DIR (or target)/release/aiplatform-node-exporter;
#   build it first with `cargo build --release -p aiplatform-node-exporter`.
# Needs: /usr/bin/prometheus-node-exporter, wrk, python3 (scripts/lib/deps.sh installs them).
set -euo pipefail

ours="${1:-${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/target}/release/aiplatform-node-exporter}"
go=/usr/bin/prometheus-node-exporter
scrapes=1000
runs=${RUNS:-3}
for tool in "$ours" "$go"; do
    [[ -x "$tool" ]] || { echo "missing $tool" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed (run scripts/test.sh)" >&2; exit 1; }

flags=()
if [[ -n "${COLLECTORS:-}" ]]; then
    flags=(--collector.disable-defaults)
    for c in $COLLECTORS; do flags+=("--collector.$c"); done
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_up() {
    for _ in $(seq 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$1/metrics" && return 0
        sleep 0.05
    done
    echo "exporter on port $1 did not come up" >&2
    return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# scrape N times sequentially, as Prometheus would (one keep-alive connection)
scrape_n() {
    python3 - "$1" "$2" <<'PY'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and len(body) > 1000, (r.status, len(body))
PY
}

hz=$(getconf CLK_TCK)
measure() { # name cmd...
    local name=$1; shift
    local port; port=$(free_port)
    "$@" --web.listen-address="127.0.0.1:$port" ${flags[@]+"${flags[@]}"} >/dev/null 2>&1 &
    local pid=$!
    wait_up "$port"
    scrape_n "$port" 5
    local t0; t0=$(cpu_ticks "$pid")
    scrape_n "$port" "$scrapes"
    local t1; t1=$(cpu_ticks "$pid")
    local rss; rss=$(rss_kib "$pid" VmRSS)
    local anon; anon=$(rss_kib "$pid" RssAnon)
    local w; w=$(wrk -c1 -t1 -d10s --latency "http://127.0.0.1:$port/metrics")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local rps p99 p50
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$w")
    p50=$(awk '$1=="50%" {print $2}' <<<"$w")
    p99=$(awk '$1=="99%" {print $2}' <<<"$w")
    local cpu; cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.2f", (b-a)/hz}')
    printf '%-6s %-6s %12s %10s %10s %12s %10s %10s\n' "$run" "$name" "$rps" "$p50" "$p99" "$cpu" "$(mib "$rss")" "$(mib "$anon")"
    echo "$name $rps $p99 $cpu $rss $anon" >>"$results"
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "host: $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RSS and RssAnon in MiB after $scrapes scrapes; CPU = utime+stime seconds for those scrapes"
printf '%-6s %-6s %12s %10s %10s %12s %10s %10s\n' run exp "req/s (c1)" p50 p99 "CPU s/1000" RSS RssAnon
for run in $(seq "$runs"); do
    measure go "$go" --runtime.gomaxprocs=1
    measure rust "$ours" --compat=debian12
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Medians per exporter (p99 in wrk's unit, normalised to ms).
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p99, cpu, rss, anon = line.split()
    if p99.endswith("us"):
        ms = float(p99[:-2]) / 1000.0
    elif p99.endswith("ms"):
        ms = float(p99[:-2])
    else:
        ms = float(p99[:-1]) * 1000.0
    rows.setdefault(name, []).append((float(rps), ms, float(cpu), float(rss) / 1024, float(anon) / 1024))
med = {n: [statistics.median(c) for c in zip(*v)] for n, v in rows.items()}
print("median  req/s     p99 ms   CPU s/1000   RSS MiB  RssAnon MiB")
for n in ("go", "rust"):
    r = med[n]
    print(f"{n:6} {r[0]:8.1f} {r[1]:9.2f} {r[2]:11.2f} {r[3]:9.1f} {r[4]:11.1f}")
g, o = med["go"], med["rust"]
print(f"ratio  throughput {o[0]/g[0]:.2f}x  p99 {o[1]/g[1]:.2f}x  CPU {o[2]/g[2]:.2f}x  RSS {o[3]/g[3]:.2f}x  RssAnon {o[4]/g[4]:.2f}x")
PY
