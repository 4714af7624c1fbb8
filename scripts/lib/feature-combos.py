#!/usr/bin/env python3
"""Prints "<package> <comma-separated features>" for every subset of the features of each
workspace library that declares features (the empty subset included), for scripts/test.sh."""

import itertools
import json
import subprocess

meta = json.loads(
    subprocess.check_output(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"]
    )
)
for package in meta["packages"]:
    if not any("lib" in t["kind"] for t in package["targets"]):
        continue
    features = sorted(f for f in package["features"] if f != "default")
    if not features:
        continue  # one combination, which the clippy step already builds
    for n in range(len(features) + 1):
        for subset in itertools.combinations(features, n):
            print(package["name"], ",".join(subset))
