#!/usr/bin/env bash
# Scrape throughput and memory, side by side with Debian's Go redis_exporter against the same
# Redis: `wrk -c1 -t1 -d${DURATION}s` on /metrics of each exporter, RUNS times alternating,
# then the median requests/s and resident memory (VmRSS after the run, VmHWM peak).
#
#   exporters/redis/scripts/bench.sh            # RUNS=2 DURATION=10
#   RUNS=3 DURATION=10 exporters/redis/scripts/bench.sh
#
# Needs redis-server, wrk and /usr/bin/prometheus-redis-exporter (scripts/lib/deps.sh).
# Machines are shared: the load average is printed before and after; measure when it is low.
set -euo pipefail

RUNS=${RUNS:-2}
DURATION=${DURATION:-10}
here=$(cd "$(dirname "$0")/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
GO_EXPORTER=${GO_EXPORTER:-/usr/bin/prometheus-redis-exporter}

for bin in redis-server wrk "$GO_EXPORTER"; do
    command -v "$bin" >/dev/null || { echo "missing $bin: run scripts/test.sh (scripts/lib/deps.sh installs it)" >&2; exit 1; }
done

(cd "$here" && cargo build --release -q -p aiplatform-redis-exporter)
OURS="$CARGO_TARGET_DIR/release/aiplatform-redis-exporter"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no \
    --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
# Some data so the keyspace and command stats look like a real cache.
redis-cli -p "$rport" eval "for i=1,10000 do redis.call('SET','k:'..i,i,'EX',3600) end for d=1,3 do redis.call('SELECT',d) redis.call('SET','x','1') end return 1" 0 >/dev/null

gport=$(free_port)
"$GO_EXPORTER" -redis.addr="redis://127.0.0.1:$rport" -web.listen-address="127.0.0.1:$gport" >"$work/go.log" 2>&1 &
gpid=$!; pids+=($gpid)
oport=$(free_port)
"$OURS" -redis.addr="redis://127.0.0.1:$rport" -web.listen-address="127.0.0.1:$oport" >"$work/ours.log" 2>&1 &
opid=$!; pids+=($opid)
for p in "$gport" "$oport"; do
    for _ in $(seq 100); do curl -sf "127.0.0.1:$p/metrics" >/dev/null && break; sleep 0.05; done
done

rss() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
# CPU time (user+system, clock ticks) of a process: load-independent cost per scrape.
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
rpid=${pids[0]}
# Runs wrk on port $1 while measuring exporter pid $2; prints "req/s cpu_us_per_scrape redis_cpu_us_per_scrape".
rate() {
    local t0 r0 out n
    t0=$(ticks "$2"); r0=$(ticks "$rpid")
    out=$(wrk -c1 -t1 -d"${DURATION}s" "http://127.0.0.1:$1/metrics")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    awk -v rs="$(awk '/Requests\/sec/ {print $2}' <<<"$out")" -v d="$(( $(ticks "$2") - t0 ))" \
        -v rd="$(( $(ticks "$rpid") - r0 ))" -v n="$n" -v hz="$hz" \
        'BEGIN {printf "%s %.0f %.0f", rs, d*1e6/hz/n, rd*1e6/hz/n}'
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "series: go=$(curl -s 127.0.0.1:$gport/metrics | grep -vc '^#') ours=$(curl -s 127.0.0.1:$oport/metrics | grep -vc '^#')"
printf '%-4s %-6s %12s %14s %16s %10s %10s\n' run who req_per_s cpu_us/scrape redis_cpu_us/scr rss_kib hwm_kib
go_rates=(); our_rates=(); go_rss=(); our_rss=(); go_cpu=(); our_cpu=()
for run in $(seq "$RUNS"); do
    read -r r c rc <<<"$(rate "$gport" "$gpid")"; m=$(rss $gpid VmRSS); h=$(rss $gpid VmHWM)
    printf '%-4s %-6s %12s %14s %16s %10s %10s\n' "$run" go "$r" "$c" "$rc" "$m" "$h"
    go_rates+=("$r"); go_rss+=("$m"); go_cpu+=("$c")
    read -r r c rc <<<"$(rate "$oport" "$opid")"; m=$(rss $opid VmRSS); h=$(rss $opid VmHWM)
    printf '%-4s %-6s %12s %14s %16s %10s %10s\n' "$run" ours "$r" "$c" "$rc" "$m" "$h"
    our_rates+=("$r"); our_rss+=("$m"); our_cpu+=("$c")
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
gr=$(median "${go_rates[@]}"); orr=$(median "${our_rates[@]}")
gm=$(median "${go_rss[@]}"); om=$(median "${our_rss[@]}")
gc=$(median "${go_cpu[@]}"); oc=$(median "${our_cpu[@]}")
echo "median: go ${gr} req/s ${gc} us CPU/scrape ${gm} KiB; ours ${orr} req/s ${oc} us CPU/scrape ${om} KiB"
awk -v g="$gr" -v o="$orr" -v gm="$gm" -v om="$om" -v gc="$gc" -v oc="$oc" \
    'BEGIN {printf "throughput ratio ours/go = %.2fx (target >= 3x); exporter CPU per scrape go/ours = %.2fx; memory ratio ours/go = %.3f (target <= 0.25)\n", o/g, gc/oc, om/gm}'
