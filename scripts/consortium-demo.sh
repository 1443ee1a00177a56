#!/usr/bin/env bash
# The whole consortium on one machine and one settlement month through it:
#   two carriers' clouds (127.0.1.0/24 Unicom, 127.0.2.0/24 Mobile), each behind its DMZ
#   forwarder (nginx stream: 127.0.3.1, 127.0.4.1); 5 Raft orderers (3 Unicom, 2 Mobile,
#   the first of each also running its carrier's CA), 4 peers; then the contract
#   lifecycle, the agreement, and the month through the staff commands (`netsettle
#   settlement …`): encrypted uploads, key reveals, on-chain reconciliation, disputes and
#   adjustments (one file of them), both confirmations, the final settlement data and
#   both carriers' finance exports; at the end every peer's ledger is compared and the
#   month replayed from a ledger.
#
#   scripts/consortium-demo.sh BIN WORK
# BIN is the netsettle binary; WORK holds `crypto/unicom`, `crypto/mobile` (from
# `netsettle ca bootstrap`) and `genesis.block`, as scripts/demo.sh leaves them.
# Stops every process it started.
set -euo pipefail
BIN=$1
WORK=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DATA="$REPO/tests/data/settlement"
cd "$WORK"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Wait (bounded) until FILE has a line matching PATTERN; the deadline only marks failure.
wait_for() {
  local file=$1 pattern=$2 deadline=$((SECONDS + 60))
  until grep -q -- "$pattern" "$file" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timed out waiting for '$pattern' in $file" >&2; cat "$file" >&2; exit 1; fi
    sleep 0.1
  done
}

"$BIN" layout render --layout "$REPO/configs/local.toml" --base . | sed 's/^/   /'
mkdir -p logs
# Each carrier's peer0 tells its staff when it is their move: signed webhook notices to
# the carrier's console (started below), kept in a durable outbox until delivered.
for carrier in unicom:1 mobile:2; do
  cat >> "nodes/${carrier%%:*}msp-peer0.toml" <<TOML

[notices]
reminder_hours = [72, 24]
[[notices.recipients]]
name = "console"
roles = ["settlement", "finance"]
periods = "all"
channel = "webhook"
url = "http://127.0.${carrier##*:}.40:8080/hooks/notices"
TOML
done
bash "$HERE/dmz.sh" dmz/unicom $(cat dmz/UnicomMSP.map) > logs/dmz-unicom.out 2>&1 & PIDS+=($!)
bash "$HERE/dmz.sh" dmz/mobile $(cat dmz/MobileMSP.map) > logs/dmz-mobile.out 2>&1 & PIDS+=($!)
for config in nodes/*.toml; do
  name=$(basename "$config" .toml)
  NETSETTLE_LOG=warn "$BIN" node --config "$config" > "logs/$name.out" 2> "logs/$name.err" & PIDS+=($!)
done
for config in nodes/*.toml; do
  name=$(basename "$config" .toml)
  wait_for "logs/$name.out" "netsettle node ready"
  echo "   $(sed -n 's/netsettle node ready name=\([^ ]*\) roles=\([^ ]*\).*/\1 (\2)/p' "logs/$name.out")"
done

# Each carrier's staff console: `netsettle console run`, signing with the carrier's
# settlement or finance identity for the logged-in user; plain HTTP on an address inside
# the carrier's cloud (loopback only; a console on a routed address needs [tls]).
start_console() {
  local carrier=$1 listen=$2 settlement_hash finance_hash
  settlement_hash=$(printf 'demo-%s-settlement' "$carrier" | "$BIN" console hash-password)
  finance_hash=$(printf 'demo-%s-finance' "$carrier" | "$BIN" console hash-password)
  cat > "console-$carrier.toml" <<TOML
listen = "$listen"
profile = "clients/${carrier}msp.toml"
settlement_identity = "crypto/$carrier/users/settlement@$carrier.example"
finance_identity = "crypto/$carrier/users/finance@$carrier.example"
notice_signers = ["crypto/$carrier/peers/peer0.$carrier.example/msp/signcerts/cert.pem"]
[[users]]
name = "$carrier-settlement"
password_hash = "$settlement_hash"
role = "settlement"
[[users]]
name = "$carrier-finance"
password_hash = "$finance_hash"
role = "finance"
TOML
  NETSETTLE_LOG=info "$BIN" console run --config "console-$carrier.toml" > "logs/console-$carrier.out" 2> "logs/console-$carrier.err" & PIDS+=($!)
}
echo
echo "-- each carrier's staff console (NETSETTLE_DEMO_KEEP=1 scripts/demo.sh keeps them up at the end):"
start_console unicom 127.0.1.40:8080
start_console mobile 127.0.2.40:8080
for carrier in unicom mobile; do
  wait_for "logs/console-$carrier.out" "console listening on"
  echo "   $carrier: $(sed -n 's/^console listening on //p' "logs/console-$carrier.out")" \
    " users $carrier-settlement / demo-$carrier-settlement, $carrier-finance / demo-$carrier-finance"
done

UNICOM_ADMIN=(--profile clients/unicommsp.toml --identity crypto/unicom/users/admin@unicom.example)
MOBILE_ADMIN=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/admin@mobile.example)
UNICOM=(--profile clients/unicommsp.toml --identity crypto/unicom/users/settlement@unicom.example)
MOBILE=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/settlement@mobile.example)

echo
echo "-- lifecycle: each carrier's admin approves the settlement contract, then it is committed"
"$BIN" lifecycle approve "${UNICOM_ADMIN[@]}" | sed 's/^/   /'
"$BIN" lifecycle approve "${MOBILE_ADMIN[@]}" | sed 's/^/   /'
"$BIN" lifecycle commit "${UNICOM_ADMIN[@]}" | sed 's/^/   /'
"$BIN" lifecycle query "${MOBILE_ADMIN[@]}" | sed 's/^/   /'

echo
echo "-- the agreement: proposed by Unicom's admin, accepted by Mobile's (tolerance 100 fen / 10 bp)"
"$BIN" settlement agreement propose "${UNICOM_ADMIN[@]}" --file "$DATA/agreement.json" | sed 's/^/   /'
"$BIN" settlement agreement accept "${MOBILE_ADMIN[@]}" | sed 's/^/   /'

# Each staff command prints a readable table; `--output json` would print JSON for scripts.
settle() { "$BIN" settlement "$@" | sed 's/^/   /'; }

echo
echo "-- 2026-10: each carrier's staff upload their report: sealed locally (SM4-GCM, a fresh key"
echo "   kept 0600 in the key store under the identity directory), then uploaded"
settle upload "${UNICOM[@]}" --period 2026-10 --csv "$DATA/demo-UnicomMSP.csv"
settle status "${MOBILE[@]}" --period 2026-10
# Unicom's reveal waits by itself until Mobile's report is in.
"$BIN" settlement reveal --auto "${UNICOM[@]}" --period 2026-10 > reveal-unicom.out &
reveal_pid=$!
settle upload "${MOBILE[@]}" --period 2026-10 --csv "$DATA/demo-MobileMSP.csv"

echo
echo "-- both reports are in, so both commitments now bind for the whole period; each carrier"
echo "   reveals its key (found in its key store); the second reveal reconciles on every endorsing peer"
wait "$reveal_pid"
sed 's/^/   /' reveal-unicom.out
settle reveal "${MOBILE[@]}" --period 2026-10
settle lines "${UNICOM[@]}" --period 2026-10 --open

echo
echo "-- review: Mobile disputes agreed line 2; every open line is adjusted by one side, accepted by the other"
settle dispute "${MOBILE[@]}" --period 2026-10 --line 2 --reason "data_5g 0571 counted the 10-31 outage window twice"
cat > adjustments-mobile.csv <<'CSV'
line_no,quantity,amount_fen,reason
2,87000000,8700000,"1,000,000 MB of the outage window removed"
3,12,1440000,circuit 13 was cancelled on 2026-10-01
8,90000,810000,toll-free traffic Mobile did not report
CSV
settle adjust "${MOBILE[@]}" --period 2026-10 --file adjustments-mobile.csv
settle accept "${UNICOM[@]}" --period 2026-10 --all-pending
settle adjust "${UNICOM[@]}" --period 2026-10 --line 11 --quantity 441000 --amount-fen 3087000 \
  --reason "Mobile's CDRs include the 10-17 gap"
settle adjust "${UNICOM[@]}" --period 2026-10 --line 4 --quantity 60000 --amount-fen 600000 \
  --reason "MMS traffic Unicom did not report"
settle accept "${MOBILE[@]}" --period 2026-10 --all-pending

echo
echo "-- both confirm the current version (each finds it on the chain); the contract writes the final settlement data"
settle confirm "${UNICOM[@]}" --period 2026-10
settle confirm "${MOBILE[@]}" --period 2026-10
settle status "${UNICOM[@]}" --period 2026-10

echo
echo "-- finance exports from each carrier's own peer are byte-identical"
settle export "${UNICOM[@]}" --period 2026-10 --format csv --out export-unicom.csv
settle export "${MOBILE[@]}" --period 2026-10 --format csv --out export-mobile.csv
cmp export-unicom.csv export-mobile.csv
head -16 export-unicom.csv | sed 's/^/   /'
echo "   sm3 $("$BIN" sm3 export-unicom.csv)"
settle history "${MOBILE[@]}" --period 2026-10 | tail -4

echo
echo "-- finance: settlement staff may not approve; each carrier's finance approves, Mobile's pays"
echo "   the net amount, Unicom's acknowledges it, and the period is closed"
UNICOM_FINANCE=(--profile clients/unicommsp.toml --identity crypto/unicom/users/finance@unicom.example)
MOBILE_FINANCE=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/finance@mobile.example)
if "$BIN" settlement approve "${UNICOM[@]}" --period 2026-10 2> approve-refused.err; then
  echo "settlement staff approved the final data" >&2; exit 1
fi
sed 's/^/   refused as expected: /' approve-refused.err
settle approve "${UNICOM_FINANCE[@]}" --period 2026-10
settle approve "${MOBILE_FINANCE[@]}" --period 2026-10
net=$("$BIN" settlement status "${MOBILE_FINANCE[@]}" --period 2026-10 --output json |
  sed -n 's/.*"net":{"amount_fen":\([0-9]*\).*/\1/p')
settle pay "${MOBILE_FINANCE[@]}" --period 2026-10 --reference CMCC-ZJ-2026-11-0042 --amount "$net"
settle ack "${UNICOM_FINANCE[@]}" --period 2026-10 --reference CMCC-ZJ-2026-11-0042
settle status "${UNICOM[@]}" --period 2026-10 | head -3
echo "   the month's contract events, as \`settlement watch\` follows them:"
settle watch "${UNICOM[@]}" --from 0 --count 12 | tail -6

echo
echo "-- what each carrier's staff were told: peer0's outbox (delivered once, signed) and the"
echo "   notices its console received"
for carrier in unicom mobile; do
  # Delivery runs beside the peer: wait (bounded) until nothing is pending.
  deadline=$((SECONDS + 60))
  while "$BIN" notices list --config "nodes/${carrier}msp-peer0.toml" --state pending --output json | grep -q '"id"'; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "notices of $carrier still pending" >&2; exit 1; fi
    sleep 0.2
  done
  "$BIN" notices list --config "nodes/${carrier}msp-peer0.toml" | sed 's/^/   /'
  echo "   $carrier console: $(grep -c 'notice received' "logs/console-$carrier.err") notices received"
done

echo
echo "-- a consortium change through the running orderers: at most 40 tx a block; both admins sign,"
echo "   Unicom's admin submits, the orderers cut a config block and Unicom's peers commit it"
"$BIN" configtx inspect --block genesis.block | sed 's/"tx_max": 50/"tx_max": 40/' > edited-online.json
"$BIN" configtx update --block genesis.block --edited edited-online.json --out update-online.json | sed 's/^/   /'
for admin in unicom:UnicomMSP mobile:MobileMSP; do
  carrier=${admin%%:*}
  "$BIN" configtx sign --update update-online.json --signer-msp "${admin##*:}" \
    --signer-key "crypto/$carrier/users/admin@$carrier.example/msp/keystore/key.pem" \
    --signer-cert "crypto/$carrier/users/admin@$carrier.example/msp/signcerts/cert.pem" | sed 's/^/   /'
done
submitted=$("$BIN" configtx submit "${UNICOM_ADMIN[@]}" --update update-online.json)
echo "$submitted" | sed 's/^/   /'
config_tx=$(echo "$submitted" | sed -n 's/.* tx=\([0-9a-f]*\) .*/\1/p')
[ -n "$config_tx" ] || { echo "configtx submit named no config transaction" >&2; exit 1; }

echo
echo "-- before stopping: every peer of both carriers has the config block, every orderer the same height"
"$BIN" tx status "${MOBILE_ADMIN[@]}" --tx-id "$config_tx" | sed 's/^/   /'
deadline=$((SECONDS + 60))
until heights=$("$BIN" orderer status "${UNICOM_ADMIN[@]}" | grep -o 'height=[0-9]*') &&
  [ "$(echo "$heights" | wc -l)" -eq 5 ] && [ "$(echo "$heights" | sort -u | wc -l)" -eq 1 ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "orderers did not reach one height: $heights" >&2; exit 1; fi
  sleep 0.2
done
echo "   5 orderers at $(echo "$heights" | head -1)"

echo
echo "-- signed delivery (Readers policy): Mobile's admin fetches blocks 0-3 from the orderers"
"$BIN" orderer deliver "${MOBILE_ADMIN[@]}" --start 0 --stop 3 --out delivered | sed 's/^/   /'

echo
echo "-- operations listeners: every node ready (/readyz), and excerpts of /metrics"
for config in nodes/*.toml; do
  name=$(basename "$config" .toml)
  addr=$(sed -n 's/^listen = "\(127[^"]*:7070\)"$/\1/p' "$config" | head -1)
  [ -n "$addr" ] || continue
  printf '   %-26s /readyz %s\n' "$name" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz")"
done
echo "   peer0.unicom.example:"
curl -s http://127.0.1.20:7070/metrics | grep -E '^netsettle_(ledger_height|peer_transactions_total|peer_endorsements_total|peer_block_commit_seconds_(sum|count)|peer_gossip_blocks_received_total|notices_outbox_entries)' | sed 's/^/     /'
echo "   orderer0.unicom.example:"
curl -s http://127.0.1.10:7070/metrics | grep -E '^netsettle_(ledger_height|raft_(term|leader|commit_index)|orderer_broadcasts_ordered_total|certificate_expiry_days)' | sed 's/^/     /'

echo
echo "-- backup: a consistent copy of Mobile's peer0 ledger, taken while the peer runs"
"$BIN" ledger backup --path data/peer0.mobile.example/ledger --out backup-peer0-mobile | sed 's/^/   /'

if [ -n "${NETSETTLE_DEMO_KEEP:-}" ]; then
  echo
  echo "-- NETSETTLE_DEMO_KEEP is set: the consortium and both consoles stay up for a browser;"
  echo "   press Enter to stop them"
  read -r _ || true
fi

echo
echo "-- stop the nodes; every peer's and orderer's ledger verifies and the carriers' ledgers agree"
cleanup
PIDS=()
for dir in data/*/ledger data/*/orderer/ledger; do
  "$BIN" ledger verify --path "$dir" > /dev/null
  echo "   verified $dir"
done
"$BIN" ledger compare data/peer0.unicom.example/ledger data/peer0.mobile.example/ledger | sed 's/^/   /'
"$BIN" ledger compare data/peer1.unicom.example/ledger data/peer1.mobile.example/ledger | sed 's/^/   /'
"$BIN" ledger compare data/orderer0.unicom.example/orderer/ledger data/orderer1.mobile.example/orderer/ledger | sed 's/^/   /'
echo "   DMZ sessions logged: Unicom $(wc -l < dmz/unicom/access.log), Mobile $(wc -l < dmz/mobile/access.log)"

echo
echo "-- audit: replaying the month's settlement transactions from Mobile's ledger re-derives the final data"
"$BIN" settlement audit --ledger data/peer0.mobile.example/ledger --period 2026-10 | sed 's/^/   /'
