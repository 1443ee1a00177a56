#!/usr/bin/env bash
# Two carriers' nodes connected only through their DMZ forwarders, on one machine:
#   Unicom's cloud 127.0.1.0/24, its DMZ 127.0.3.1; Mobile's cloud 127.0.2.0/24, its DMZ
#   127.0.4.1. Each node listens inside its cloud, advertises its DMZ address, and dials
#   the other carrier's DMZ address. Both forwarders log every session.
#
#   scripts/dmz-demo.sh BIN WORK
# BIN is the netsettle binary; WORK a directory holding `crypto/unicom`, `crypto/mobile`
# (from `netsettle ca bootstrap`) and `genesis.block` (from `netsettle configtx genesis`),
# as scripts/demo.sh leaves them. Exits 0 once both nodes exchanged requests across both
# DMZs; stops every process it started.
set -euo pipefail
BIN=$1
WORK=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$WORK"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

UNICOM_NODE=127.0.1.20:17051 UNICOM_PUBLIC=127.0.3.1:17051
MOBILE_NODE=127.0.2.20:17051 MOBILE_PUBLIC=127.0.4.1:17051
UNICOM_ID=$("$BIN" net id --cert crypto/unicom/peers/peer0.unicom.example/tls/cert.pem)
MOBILE_ID=$("$BIN" net id --cert crypto/mobile/peers/peer0.mobile.example/tls/cert.pem)

# Wait (bounded) until FILE has a line matching PATTERN.
wait_for() {
  local file=$1 pattern=$2 deadline=$((SECONDS + 30))
  until grep -q -- "$pattern" "$file" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timed out waiting for '$pattern' in $file" >&2; exit 1; fi
    sleep 0.1
  done
}

bash "$HERE/dmz.sh" dmz-unicom "$UNICOM_PUBLIC=$UNICOM_NODE" > dmz-unicom.out 2>&1 & PIDS+=($!)
bash "$HERE/dmz.sh" dmz-mobile "$MOBILE_PUBLIC=$MOBILE_NODE" > dmz-mobile.out 2>&1 & PIDS+=($!)
# nginx announces nothing; each forwarder is ready once its public port accepts.
wait_port() {
  local deadline=$((SECONDS + 30))
  until (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "nothing listens on $1" >&2; exit 1; fi
    sleep 0.1
  done
}
wait_port "$UNICOM_PUBLIC"
wait_port "$MOBILE_PUBLIC"
echo "   DMZ forwarders: Unicom $UNICOM_PUBLIC -> $UNICOM_NODE, Mobile $MOBILE_PUBLIC -> $MOBILE_NODE"

NETSETTLE_LOG=warn "$BIN" net listen --identity crypto/unicom/peers/peer0.unicom.example \
  --genesis genesis.block --listen "$UNICOM_NODE" --external "$UNICOM_PUBLIC" \
  --peer "$MOBILE_ID@$MOBILE_PUBLIC" > unicom-net.log 2>&1 & PIDS+=($!)
NETSETTLE_LOG=warn "$BIN" net listen --identity crypto/mobile/peers/peer0.mobile.example \
  --genesis genesis.block --listen "$MOBILE_NODE" --external "$MOBILE_PUBLIC" \
  --peer "$UNICOM_ID@$UNICOM_PUBLIC" > mobile-net.log 2>&1 & PIDS+=($!)
wait_for unicom-net.log "connected node=$MOBILE_ID"
wait_for mobile-net.log "connected node=$UNICOM_ID"
echo "   Unicom peer0 $UNICOM_ID: $(grep "connected node=$MOBILE_ID" unicom-net.log | head -1)"
echo "   Mobile peer0 $MOBILE_ID: $(grep "connected node=$UNICOM_ID" mobile-net.log | head -1)"

# A third process on each side pings the other carrier's node through its DMZ.
NETSETTLE_LOG=warn "$BIN" net ping --identity crypto/unicom/peers/peer1.unicom.example --genesis genesis.block \
  --listen 127.0.1.21:0 --to "$MOBILE_ID" --addr "$MOBILE_PUBLIC" --count 100 | sed 's/^/   unicom peer1 -> mobile peer0: /'
NETSETTLE_LOG=warn "$BIN" net ping --identity crypto/mobile/peers/peer1.mobile.example --genesis genesis.block \
  --listen 127.0.2.21:0 --to "$UNICOM_ID" --addr "$UNICOM_PUBLIC" --count 100 | sed 's/^/   mobile peer1 -> unicom peer0: /'
# nginx logs a session when it ends: the ping's has ended (the nodes' own stay open).
wait_lines() {
  local deadline=$((SECONDS + 30))
  until [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$3" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timed out waiting for sessions in $1" >&2; exit 1; fi
    sleep 0.1
  done
}
wait_lines dmz-mobile/access.log "$MOBILE_PUBLIC $MOBILE_NODE 200" 1
wait_lines dmz-unicom/access.log "$UNICOM_PUBLIC $UNICOM_NODE 200" 1
echo "   nginx access logs (client, public address, upstream, status, bytes in/out):"
sed 's/^/     dmz-unicom: /' dmz-unicom/access.log
sed 's/^/     dmz-mobile: /' dmz-mobile/access.log
