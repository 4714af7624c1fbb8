#!/usr/bin/env bash
# Our btrfs collector beside Debian's Go node_exporter on a real, freshly made btrfs
# filesystem: a 300 MiB image with 20 MiB of data, loop-mounted in a private mount and PID
# namespace (so that /proc/1/mounts, which both exporters read to find btrfs mounts for the
# device ioctls, is this namespace's), then both scraped and the node_btrfs_* series and
# values compared. Prints the differences; exits 1 if any.
#
# Usage (root, with btrfs-progs and loop devices): exporters/node/scripts/btrfs_live.sh [OUR_BINARY]
set -euo pipefail

ours="${1:-${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/target}/release/aiplatform-node-exporter}"
go=/usr/bin/prometheus-node-exporter
for tool in "$ours" "$go" mkfs.btrfs unshare curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 300M "$work/img"
mkfs.btrfs -q -f -L livetest "$work/img" >/dev/null 2>&1
mkdir "$work/mnt"

inner() {
    mount -o loop "$work/img" "$work/mnt"
    dd if=/dev/urandom of="$work/mnt/data" bs=1M count=20 status=none
    sync
    "$go" --web.listen-address=127.0.0.1:19181 --collector.disable-defaults --collector.btrfs \
        >"$work/go.log" 2>&1 &
    local go_pid=$!
    "$ours" --web.listen-address=127.0.0.1:19182 --compat=debian12 \
        --collector.disable-defaults --collector.btrfs >"$work/ours.log" 2>&1 &
    local our_pid=$!
    sleep 1.5
    curl -fsS 127.0.0.1:19181/metrics >"$work/go.txt"
    curl -fsS 127.0.0.1:19182/metrics >"$work/ours.txt"
    kill "$go_pid" "$our_pid"
    wait "$go_pid" "$our_pid" || true
    umount "$work/mnt"
}
export -f inner
export work go ours
unshare -m -p -f --mount-proc --propagation private bash -c inner

python3 - "$work/go.txt" "$work/ours.txt" <<'PY'
import sys
def load(path):
    series, meta = {}, set()
    for line in open(path):
        if "node_btrfs" not in line and 'collector="btrfs"' not in line:
            continue
        if "duration" in line:
            continue
        if line.startswith("#"):
            meta.add(line.strip())
            continue
        key, value = line.rsplit(" ", 1)
        series[key] = float(value)
    return series, meta
(go, go_meta), (ours, our_meta) = load(sys.argv[1]), load(sys.argv[2])
bad = [f"HELP/TYPE only in Go: {m}" for m in go_meta - our_meta]
bad += [f"HELP/TYPE only in ours: {m}" for m in our_meta - go_meta]
bad += [f"only in Go: {k}" for k in go.keys() - ours.keys()]
bad += [f"only in ours: {k}" for k in ours.keys() - go.keys()]
bad += [f"{k}: Go {go[k]}, ours {ours[k]}" for k in go.keys() & ours.keys() if go[k] != ours[k]]
print(f"{len(go)} Go series, {len(ours)} ours, {len(bad)} differences")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
