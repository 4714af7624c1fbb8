#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need when it is
# missing (idempotent), starts the local services they talk to when installed but stopped, then
# runs formatting, lints, every feature combination of the libraries, the documentation with
# warnings denied, a build on the declared rust-version, all unit/integration/doc tests, and
# the loom model checks.
#
# Usage: scripts/test.sh            (CI runs exactly this, via .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh

step() { printf '\n==> %s\n' "$*"; }

step "test dependencies"
ensure_test_deps
ensure_services

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "every feature combination of the library crates"
# Each library that declares features is checked with every subset of them (default features
# off), so an optional dependency that another feature happens to pull in cannot hide.
while read -r package features; do
    echo "cargo check -p $package --lib --no-default-features --features '$features'"
    cargo check -p "$package" --lib --no-default-features --features "$features" --locked --quiet
done < <(scripts/lib/feature-combos.py)

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

step "build on the declared rust-version"
# The workspace declares the oldest compiler it supports; build with exactly that one.
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
if rustc --version | grep -Eq "^rustc ${msrv//./\\.}(\.0)? "; then
    echo "the default toolchain is rust $msrv: the clippy and test steps build on it"
else
    rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal
    cargo "+$msrv" check --workspace --all-targets --all-features --locked
fi

step "cargo test (unit, integration, doc)"
cargo test --workspace --all-features --locked --no-fail-fast

step "loom model checks"
# A separate target directory keeps the --cfg loom build from invalidating the main one.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
    cargo test -p aiplatform-metrics --lib --release --locked -- loom

step "all tests passed"
