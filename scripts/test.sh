#!/usr/bin/env bash
# The README's test command: sets up what is missing, then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --profile test --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
