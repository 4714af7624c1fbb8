#!/usr/bin/env python3
"""Print criterion results as markdown tables: median per bench, grouped, with ratios.

Usage: scripts/bench-table.py [target/criterion] [--ref aiplatform]

Reads target/criterion/<group>/<bench...>/new/estimates.json (the last run of each bench) and
prints, per group, each bench's median and its ratio to the reference bench of the group (the
one whose name contains --ref), so a table compares libraries measured in the same run.
"""
import json
import pathlib
import sys


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.2f} ns"


def main():
    import signal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ref = "aiplatform"
    if "--ref" in sys.argv:
        ref = sys.argv[sys.argv.index("--ref") + 1]
        args = [a for a in args if a != ref]
    root = pathlib.Path(args[0] if args else "target/criterion")
    rows = {}
    for est in sorted(root.glob("**/new/estimates.json")):
        bench = json.loads(est.with_name("benchmark.json").read_text())
        median = json.loads(est.read_text())["median"]["point_estimate"]
        group = bench["group_id"]
        name = bench.get("function_id") or ""
        value = bench.get("value_str")
        if value and value.isdigit():
            # BenchmarkId::new(library, size): one table per size, one row per library.
            group = f"{group}/{value}"
        elif value:
            # BenchmarkId::new(case, library): one table per case, one row per library.
            name = f"{name}/{value}"
        rows.setdefault(group, []).append((name, median))
    for group, benches in rows.items():
        # Split a function id "case/library" into sub-tables per case.
        cases = {}
        for name, median in benches:
            case, _, lib = name.rpartition("/")
            cases.setdefault(case, []).append((lib or name, median))
        for case, libs in cases.items():
            title = f"{group}/{case}" if case else group
            refs = [m for lib, m in libs if ref in lib and lib.split(" ")[0].split("/")[-1].startswith(ref)]
            base = refs[0] if refs else None
            print(f"\n#### {title}\n")
            print("| bench | median | × ours |")
            print("|---|---:|---:|")
            for lib, median in sorted(libs, key=lambda x: x[1]):
                ratio = f"{median / base:.2f}" if base else "–"
                print(f"| {lib} | {fmt(median)} | {ratio} |")


if __name__ == "__main__":
    main()
