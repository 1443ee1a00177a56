#!/usr/bin/env bash
# The README's demo command. Until the whole chain exists it shows honestly what works so
# far: see the steps it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bin netsettle
BIN=target/release/netsettle
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== SM3 of the README with netsettle and with openssl"
"$BIN" sm3 README.md
openssl dgst -sm3 README.md
