#!/usr/bin/env python3
"""Print criterion results as markdown tables: median per bench, grouped, with ratios.

Usage: scripts/bench-table.py [DIR ...] [--ref aiplatform]

Reads DIR/<group>/<bench...>/new/estimates.json (the last run of each bench; DIR defaults to
target/criterion) and prints, per group, each bench's median and its ratio to the reference
bench of the group (the one whose name starts with --ref), so a table compares libraries
measured in the same run. With several DIRs (copies of target/criterion from separate runs),
each run gets its own pair of columns, rows ordered by the first run.
"""
import json
import pathlib
import signal
import sys


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.2f} ns"


def load(root):
    """{table title: {library: median ns}} for one criterion directory."""
    tables = {}
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
        # A function id "case/library" splits into one table per case.
        case, _, lib = name.rpartition("/")
        title = f"{group}/{case}" if case else group
        tables.setdefault(title, {})[lib or name] = median
    return tables


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = sys.argv[1:]
    ref = "aiplatform"
    if "--ref" in args:
        i = args.index("--ref")
        ref = args[i + 1]
        del args[i : i + 2]
    runs = [load(pathlib.Path(d)) for d in (args or ["target/criterion"])]
    titles = list(dict.fromkeys(t for run in runs for t in run))
    for title in titles:
        per_run = [run.get(title, {}) for run in runs]
        libs = sorted(
            dict.fromkeys(lib for r in per_run for lib in r),
            key=lambda lib: next((r[lib] for r in per_run if lib in r), 0),
        )
        print(f"\n#### {title}\n")
        if len(runs) == 1:
            print("| bench | median | × ours |\n|---|---:|---:|")
        else:
            heads = " | ".join(f"run {i + 1} | × ours" for i in range(len(runs)))
            print(f"| bench | {heads} |\n|---|" + "---:|---:|" * len(runs))
        for lib in libs:
            cells = []
            for r in per_run:
                base = next((m for name, m in r.items() if name.startswith(ref)), None)
                if lib not in r:
                    cells += ["–", "–"]
                    continue
                cells += [fmt(r[lib]), f"{r[lib] / base:.2f}" if base else "–"]
            print(f"| {lib} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
