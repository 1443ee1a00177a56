#!/usr/bin/env bash
# One settlement month (2026-10) through the running consortium that `scripts/network.sh up`
# set up (contract committed, agreement in force), as each carrier's staff would run it:
# encrypted uploads, key reveals, on-chain reconciliation, a dispute and adjustments (one
# file of them), both confirmations, the final settlement data and both carriers' finance
# exports, finance approval, payment and acknowledgement, each carrier's finance system
# reading the closed period through its own HTTP gateway, the notices each carrier's staff
# got; then a consortium change through the running orderers, signed delivery, every
# node's /readyz with excerpts of /metrics, and a backup of a running peer's ledger.
#
#   scripts/month.sh
# Same environment as scripts/network.sh (NETSETTLE_NETWORK_DIR, NETSETTLE_BIN,
# NETSETTLE_CLOUDS). Every client command runs in its carrier's cloud through
# `scripts/network.sh exec CARRIER`; its files go to DIR/month/. The month can run once per
# network (its period closes).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DIR=${NETSETTLE_NETWORK_DIR:-$REPO/.network}
DATA="$REPO/tests/data/settlement"
NET="$HERE/network.sh"
if [ ! -e "$DIR/state" ] || [ "$(cat "$DIR/state")" != up ]; then
  echo "month: no running consortium in $DIR (scripts/network.sh up)" >&2
  exit 1
fi
cd "$DIR"
mkdir -p month

# A netsettle command in a carrier's cloud, from the network directory.
unicom() { "$NET" exec unicom netsettle "$@"; }
mobile() { "$NET" exec mobile netsettle "$@"; }
indent() { sed 's/^/   /'; }
step() { printf '\n-- %s\n' "$*"; }

UNICOM_ADMIN=(--profile clients/unicommsp.toml --identity crypto/unicom/users/admin@unicom.example)
MOBILE_ADMIN=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/admin@mobile.example)
UNICOM=(--profile clients/unicommsp.toml --identity crypto/unicom/users/settlement@unicom.example)
MOBILE=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/settlement@mobile.example)
UNICOM_FINANCE=(--profile clients/unicommsp.toml --identity crypto/unicom/users/finance@unicom.example)
MOBILE_FINANCE=(--profile clients/mobilemsp.toml --identity crypto/mobile/users/finance@mobile.example)

# The HTTP gateway address (host:port) of CARRIER's peer0, from its rendered config.
gateway_of() { sed -n '/^\[gateway\]/,/^\[/s/^listen = "\([^"]*\)"$/\1/p' "nodes/${1}msp-peer0.toml" | head -1; }

# The first value of KEY in FILE, pretty JSON as `gateway call` prints it (quotes dropped).
json_field() { sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$2" | head -1; }

# Operations address (host:port) of node NAME, from its rendered config.
operations_of() { sed -n '/^\[operations\]/,/^\[/s/^listen = "\([^"]*\)"$/\1/p' "nodes/$1.toml" | head -1; }

# Each staff command prints a readable table; `--output json` would print JSON for scripts.
step "2026-10: each carrier's staff upload their report: sealed locally (SM4-GCM, a fresh key"
echo "   kept 0600 in the key store under the identity directory), then uploaded"
unicom settlement upload "${UNICOM[@]}" --period 2026-10 --csv "$DATA/demo-UnicomMSP.csv" | indent
mobile settlement status "${MOBILE[@]}" --period 2026-10 | indent
# Unicom's reveal waits by itself until Mobile's report is in (bounded: it gives up after
# 120 s, so it never outlives a failed month by long).
unicom settlement reveal --auto --wait-secs 120 "${UNICOM[@]}" --period 2026-10 > month/reveal-unicom.out &
reveal_pid=$!
mobile settlement upload "${MOBILE[@]}" --period 2026-10 --csv "$DATA/demo-MobileMSP.csv" | indent

step "both reports are in, so both commitments now bind for the whole period; each carrier"
echo "   reveals its key (found in its key store); the second reveal reconciles on every endorsing peer"
wait "$reveal_pid"
indent < month/reveal-unicom.out
mobile settlement reveal "${MOBILE[@]}" --period 2026-10 | indent
unicom settlement lines "${UNICOM[@]}" --period 2026-10 --open | indent

step "review: Mobile disputes agreed line 2; every open line is adjusted by one side, accepted by the other"
mobile settlement dispute "${MOBILE[@]}" --period 2026-10 --line 2 \
  --reason "data_5g 0571 counted the 10-31 outage window twice" | indent
cat > month/adjustments-mobile.csv <<'CSV'
line_no,quantity,amount_fen,reason
2,87000000,8700000,"1,000,000 MB of the outage window removed"
3,12,1440000,circuit 13 was cancelled on 2026-10-01
8,90000,810000,toll-free traffic Mobile did not report
CSV
mobile settlement adjust "${MOBILE[@]}" --period 2026-10 --file month/adjustments-mobile.csv | indent
unicom settlement accept "${UNICOM[@]}" --period 2026-10 --all-pending | indent
unicom settlement adjust "${UNICOM[@]}" --period 2026-10 --line 11 --quantity 441000 --amount-fen 3087000 \
  --reason "Mobile's CDRs include the 10-17 gap" | indent
unicom settlement adjust "${UNICOM[@]}" --period 2026-10 --line 4 --quantity 60000 --amount-fen 600000 \
  --reason "MMS traffic Unicom did not report" | indent
mobile settlement accept "${MOBILE[@]}" --period 2026-10 --all-pending | indent

step "both confirm the current version (each finds it on the chain); the contract writes the final settlement data"
unicom settlement confirm "${UNICOM[@]}" --period 2026-10 | indent
mobile settlement confirm "${MOBILE[@]}" --period 2026-10 | indent
unicom settlement status "${UNICOM[@]}" --period 2026-10 | indent

step "finance exports from each carrier's own peer are byte-identical"
unicom settlement export "${UNICOM[@]}" --period 2026-10 --format csv --out month/export-unicom.csv | indent
mobile settlement export "${MOBILE[@]}" --period 2026-10 --format csv --out month/export-mobile.csv | indent
cmp month/export-unicom.csv month/export-mobile.csv
head -16 month/export-unicom.csv | indent
echo "   sm3 $(unicom sm3 month/export-unicom.csv)"
mobile settlement history "${MOBILE[@]}" --period 2026-10 | tail -4 | indent

step "finance: settlement staff may not approve; each carrier's finance approves, Mobile's pays"
echo "   the net amount, Unicom's acknowledges it, and the period is closed"
if unicom settlement approve "${UNICOM[@]}" --period 2026-10 2> month/approve-refused.err; then
  echo "settlement staff approved the final data" >&2; exit 1
fi
sed 's/^/   refused as expected: /' month/approve-refused.err
unicom settlement approve "${UNICOM_FINANCE[@]}" --period 2026-10 | indent
mobile settlement approve "${MOBILE_FINANCE[@]}" --period 2026-10 | indent
net=$(mobile settlement status "${MOBILE_FINANCE[@]}" --period 2026-10 --output json |
  sed -n 's/.*"net":{"amount_fen":\([0-9]*\).*/\1/p')
mobile settlement pay "${MOBILE_FINANCE[@]}" --period 2026-10 --reference CMCC-ZJ-2026-11-0042 --amount "$net" | indent
unicom settlement ack "${UNICOM_FINANCE[@]}" --period 2026-10 --reference CMCC-ZJ-2026-11-0042 | indent
unicom settlement status "${UNICOM[@]}" --period 2026-10 | head -3 | indent
echo "   the month's contract events, as \`settlement watch\` follows them:"
unicom settlement watch "${UNICOM[@]}" --from 0 --count 12 | tail -6 | indent

step "each carrier's finance system reads the period through its own HTTP gateway (HTTPS on"
echo "   SM-TLS, its user's TLS certificate as client certificate: \`netsettle gateway call\`)"
for carrier in unicom mobile; do
  "$NET" exec "$carrier" netsettle gateway call --gateway "$(gateway_of "$carrier")" \
    --identity "crypto/$carrier/users/finance@$carrier.example" --server-name "peer0.$carrier.example" \
    /v1/settlement/periods/2026-10 > "month/gateway-$carrier.json"
  echo "   $carrier finance, GET /v1/settlement/periods/2026-10 at its gateway $(gateway_of "$carrier"):" \
    "$(head -1 "month/gateway-$carrier.json")"
  echo "     phase $(json_field phase "month/gateway-$carrier.json"), version $(json_field version \
    "month/gateway-$carrier.json"), net $(json_field amount_fen "month/gateway-$carrier.json") fen," \
    "payment reference $(json_field reference "month/gateway-$carrier.json")"
done
# Settlement views are for the gateway's own carrier's users only: a Mobile certificate
# presented to Unicom's gateway (trusting Unicom's TLS root) is refused, whatever it asks.
if "$NET" exec unicom netsettle gateway call --gateway "$(gateway_of unicom)" \
  --identity crypto/mobile/users/finance@mobile.example --ca crypto/unicom/msp/tlscacerts/ca.pem \
  --server-name peer0.unicom.example /v1/settlement/periods/2026-10 2> month/gateway-refused.err; then
  echo "Unicom's gateway showed its period to a Mobile certificate" >&2; exit 1
fi
sed 's/^/   Mobile finance at Unicom'"'"'s gateway, refused as expected: /' month/gateway-refused.err

step "what each carrier's staff were told: peer0's outbox (delivered once, signed) and the"
echo "   notices its console received"
for carrier in unicom mobile; do
  # Delivery runs beside the peer: wait (bounded) until nothing is pending.
  deadline=$((SECONDS + 60))
  while "$carrier" notices list --config "nodes/${carrier}msp-peer0.toml" --state pending --output json | grep -q '"id"'; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "notices of $carrier still pending" >&2; exit 1; fi
    sleep 0.2
  done
  "$carrier" notices list --config "nodes/${carrier}msp-peer0.toml" | indent
  echo "   $carrier console: $(grep -c 'notice received' "logs/console-$carrier.err") notices received"
done

step "a consortium change through the running orderers: at most 40 tx a block; both admins sign,"
echo "   Unicom's admin submits, the orderers cut a config block and Unicom's peers commit it"
unicom configtx inspect --from-ledger data/peer0.unicom.example/ledger |
  sed 's/"tx_max": 50/"tx_max": 40/' > month/edited-online.json
unicom configtx update --from-ledger data/peer0.unicom.example/ledger --edited month/edited-online.json \
  --out month/update-online.json | indent
for admin in unicom:UnicomMSP mobile:MobileMSP; do
  carrier=${admin%%:*}
  "$carrier" configtx sign --update month/update-online.json --signer-msp "${admin##*:}" \
    --signer-key "crypto/$carrier/users/admin@$carrier.example/msp/keystore/key.pem" \
    --signer-cert "crypto/$carrier/users/admin@$carrier.example/msp/signcerts/cert.pem" | indent
done
submitted=$(unicom configtx submit "${UNICOM_ADMIN[@]}" --update month/update-online.json)
echo "$submitted" | indent
config_tx=$(echo "$submitted" | sed -n 's/.* tx=\([0-9a-f]*\) .*/\1/p')
[ -n "$config_tx" ] || { echo "configtx submit named no config transaction" >&2; exit 1; }

step "every peer of both carriers has the config block, every orderer the same height"
mobile tx status "${MOBILE_ADMIN[@]}" --tx-id "$config_tx" | indent
deadline=$((SECONDS + 60))
until heights=$(unicom orderer status "${UNICOM_ADMIN[@]}" | grep -o 'height=[0-9]*') &&
  [ "$(echo "$heights" | wc -l)" -eq 5 ] && [ "$(echo "$heights" | sort -u | wc -l)" -eq 1 ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "orderers did not reach one height: $heights" >&2; exit 1; fi
  sleep 0.2
done
echo "   5 orderers at $(echo "$heights" | head -1)"

step "signed delivery (Readers policy): Mobile's admin fetches blocks 0-3 from the orderers"
mobile orderer deliver "${MOBILE_ADMIN[@]}" --start 0 --stop 3 --out month/delivered | indent

step "operations listeners: every node ready (/readyz), and excerpts of /metrics"
for config in nodes/*.toml; do
  name=$(basename "$config" .toml)
  addr=$(operations_of "$name")
  [ -n "$addr" ] || continue
  printf '   %-26s /readyz %s\n' "$name" "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$addr/readyz")"
done
echo "   peer0.unicom.example:"
curl -s --max-time 5 "http://$(operations_of unicommsp-peer0)/metrics" |
  grep -E '^netsettle_(ledger_height|peer_transactions_total|peer_endorsements_total|peer_block_commit_seconds_(sum|count)|peer_gossip_blocks_received_total|notices_outbox_entries)' |
  sed 's/^/     /'
echo "   orderer0.unicom.example:"
curl -s --max-time 5 "http://$(operations_of unicommsp-orderer0)/metrics" |
  grep -E '^netsettle_(ledger_height|raft_(term|leader|commit_index)|orderer_broadcasts_ordered_total|certificate_expiry_days)' |
  sed 's/^/     /'

step "backup: a consistent copy of Mobile's peer0 ledger, taken while the peer runs"
mobile ledger backup --path data/peer0.mobile.example/ledger --out month/backup-peer0-mobile | indent
