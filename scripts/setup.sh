#!/usr/bin/env bash
# Installs what netsettle needs on a fresh Debian machine, and nothing that is already there.
# Sourced by scripts/test.sh and scripts/demo.sh; safe to run again.
set -euo pipefail

# Debian packages: clang (compiles RocksDB's C++, .cargo/config.toml) + libclang for its bindgen, openssl for the interop
# cross-checks, nginx with the stream module for the DMZ forwarders, fontconfig/freetype
# and a font for the benchmarks' PNG plots (plotters), headless Chromium and its WebDriver
# server for the staff console's browser test (node/tests/console_browser.rs), and curl for
# the demo's look at the nodes' operations endpoints.
NETSETTLE_APT_PACKAGES=(clang libclang-dev openssl pkg-config nginx libnginx-mod-stream iproute2
  libfontconfig-dev libfreetype-dev fonts-dejavu-core chromium chromium-driver curl)

missing=()
for pkg in "${NETSETTLE_APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in cargo rustc; do
  command -v "$tool" >/dev/null || { echo "setup: $tool not found; install Rust (rustup) first" >&2; exit 1; }
done
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
