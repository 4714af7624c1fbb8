#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need when it is
# missing (idempotent), starts the local services they talk to when installed but stopped, then
# runs formatting, lints, all unit/integration/doc tests, and the loom model checks.
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
# The core must also build without its optional features.
cargo check -p aiplatform-metrics --no-default-features --locked

step "cargo test (unit, integration, doc)"
cargo test --workspace --all-features --locked --no-fail-fast

step "loom model checks"
# A separate target directory keeps the --cfg loom build from invalidating the main one.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
    cargo test -p aiplatform-metrics --lib --release --locked -- loom

step "all tests passed"
