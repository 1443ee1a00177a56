#!/usr/bin/env bash
# The whole consortium on one machine and one settlement month through it:
#   two carriers' clouds (127.0.1.0/24 Unicom, 127.0.2.0/24 Mobile), each behind its DMZ
#   forwarder (nginx stream: 127.0.3.1, 127.0.4.1); 5 Raft orderers (3 Unicom, 2 Mobile,
#   the first of each also running its carrier's CA), 4 peers; then the contract
#   lifecycle, the agreement, encrypted uploads, key reveals, on-chain reconciliation,
#   disputes and adjustments, both confirmations, the final settlement data and both
#   carriers' finance exports; at the end every peer's ledger is compared.
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

UNICOM_ADMIN=(--profile clients/unicommsp.toml --identity crypto/unicom/users/admin@unicom.example)
MOBILE_ADMIN=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/admin@mobile.example)
UNICOM=(--profile clients/unicommsp.toml --identity crypto/unicom/users/settlement@unicom.example)
MOBILE=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/settlement@mobile.example)
invoke() { "$BIN" tx invoke "$@" | sed 's/^/   /'; }
settle() { local who=$1; shift; invoke "$@" --contract settlement --function "$who"; }

echo
echo "-- lifecycle: each carrier's admin approves the settlement contract, then it is committed"
"$BIN" lifecycle approve "${UNICOM_ADMIN[@]}" | sed 's/^/   /'
"$BIN" lifecycle approve "${MOBILE_ADMIN[@]}" | sed 's/^/   /'
"$BIN" lifecycle commit "${UNICOM_ADMIN[@]}" | sed 's/^/   /'
"$BIN" lifecycle query "${MOBILE_ADMIN[@]}" | sed 's/^/   /'

echo
echo "-- the agreement: proposed by Unicom's admin, accepted by Mobile's (tolerance 100 fen / 10 bp)"
proposed=$("$BIN" tx invoke "${UNICOM_ADMIN[@]}" --contract settlement --function agreement_propose \
  --arg-file "$DATA/agreement.json")
echo "$proposed" | sed 's/^/   /'
digest=$(echo "$proposed" | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
settle agreement_accept "${MOBILE_ADMIN[@]}" --arg "{\"digest\":\"$digest\"}"

echo
echo "-- 2026-10: each carrier encrypts its report (SM4-GCM; key and commitment salt kept at home) and uploads it"
"$BIN" settlement report encrypt --period 2026-10 --carrier UnicomMSP \
  --csv "$DATA/demo-UnicomMSP.csv" --out-dir upload-unicom | sed 's/^/   /'
"$BIN" settlement report encrypt --period 2026-10 --carrier MobileMSP \
  --csv "$DATA/demo-MobileMSP.csv" --out-dir upload-mobile | sed 's/^/   /'
settle upload "${UNICOM[@]}" --arg-file upload-unicom/request.json --arg-file upload-unicom/ciphertext.bin
settle upload "${MOBILE[@]}" --arg-file upload-mobile/request.json --arg-file upload-mobile/ciphertext.bin

echo
echo "-- both reports are in, so both commitments now bind for the whole period; each carrier"
echo "   reveals its key and salt; the second reveal reconciles on every endorsing peer"
settle reveal "${UNICOM[@]}" --arg-file upload-unicom/reveal.json
settle reveal "${MOBILE[@]}" --arg-file upload-mobile/reveal.json
"$BIN" tx query "${UNICOM[@]}" --contract settlement --function lines_get \
  --arg '{"period":"2026-10","from":0,"limit":20,"open_only":true}' | sed 's/^/   /'

echo
echo "-- review: Mobile disputes agreed line 2; every open line is adjusted by one side, accepted by the other"
settle dispute "${MOBILE[@]}" \
  --arg '{"period":"2026-10","line_no":2,"reason":"data_5g 0571 counted the 10-31 outage window twice"}'
# adjust LINE QUANTITY AMOUNT_FEN REASON PROPOSER... -- ACCEPTER...
adjust() {
  local line=$1 quantity=$2 amount=$3 reason=$4 proposer=$5 accepter=$6
  local -n by=$proposer other=$accepter
  local out id
  out=$("$BIN" tx invoke "${by[@]}" --contract settlement --function adjust_propose --arg \
    "{\"period\":\"2026-10\",\"line_no\":$line,\"quantity\":$quantity,\"amount_fen\":$amount,\"reason\":\"$reason\"}")
  echo "$out" | sed 's/^/   /'
  id=$(echo "$out" | sed -n 's/.*"id":\([0-9]*\).*/\1/p' | head -1)
  settle adjust_accept "${other[@]}" --arg "{\"period\":\"2026-10\",\"adjustment_id\":$id}"
}
adjust 2 87000000 8700000 "1,000,000 MB of the outage window removed" MOBILE UNICOM
adjust 3 12 1440000 "circuit 13 was cancelled on 2026-10-01" MOBILE UNICOM
adjust 11 441000 3087000 "Mobile's CDRs include the 10-17 gap" UNICOM MOBILE
adjust 4 60000 600000 "MMS traffic Unicom did not report" UNICOM MOBILE
adjust 8 90000 810000 "toll-free traffic Mobile did not report" MOBILE UNICOM

echo
echo "-- both confirm the current version; the contract writes the final settlement data"
period=$("$BIN" tx query "${UNICOM[@]}" --contract settlement --function period_get --arg '{"period":"2026-10"}')
version=$(echo "$period" | sed -n 's/.*"version":\([0-9]*\).*/\1/p' | head -1)
settle confirm "${UNICOM[@]}" --arg "{\"period\":\"2026-10\",\"version\":$version}"
settle confirm "${MOBILE[@]}" --arg "{\"period\":\"2026-10\",\"version\":$version}"
"$BIN" tx query "${MOBILE[@]}" --contract settlement --function final_get --arg '{"period":"2026-10"}' \
  | head -c 1200 | sed 's/^/   /'
echo

echo
echo "-- finance exports from each carrier's own peer are byte-identical"
"$BIN" tx query "${UNICOM[@]}" --contract settlement --function export \
  --arg '{"period":"2026-10","format":"csv","from":0,"limit":1000}' > export-unicom.csv
"$BIN" tx query "${MOBILE[@]}" --contract settlement --function export \
  --arg '{"period":"2026-10","format":"csv","from":0,"limit":1000}' > export-mobile.csv
cmp export-unicom.csv export-mobile.csv
head -4 export-unicom.csv | sed 's/^/   /'
echo "   sm3 $("$BIN" sm3 export-unicom.csv)"

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
