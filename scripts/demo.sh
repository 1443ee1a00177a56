#!/usr/bin/env bash
# The README's demo command. Until the whole chain exists it shows honestly what works so
# far, step by step; each step says what it proves. It ends with the consortium running
# (scripts/network.sh) and the staff consoles' addresses; `scripts/network.sh down` stops it.
#
# Environment: NETSETTLE_BIN, a netsettle binary to use instead of building one;
# NETSETTLE_NETWORK_DIR, where the consortium lives (default .network; a consortium found
# there is stopped and removed first); NETSETTLE_DEMO_DOWN=1 stops the consortium at the
# end too (node/tests/consortium.rs does, to leave nothing running).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
bash scripts/setup.sh
if [ -z "${NETSETTLE_BIN:-}" ]; then
  echo "== building netsettle (release)"
  cargo build --release --locked --bin netsettle
  NETSETTLE_BIN="$PWD/target/release/netsettle"
fi
export NETSETTLE_BIN
export NETSETTLE_NETWORK_DIR=${NETSETTLE_NETWORK_DIR:-$REPO/.network}
BIN=$NETSETTLE_BIN
NET="$REPO/scripts/network.sh"
WORK=$(mktemp -d)
PIDS=()
NETWORK_STARTED=""
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  # A failed demo leaves nothing running (the network's data stays for a look).
  if [ "$status" -ne 0 ] && [ -n "$NETWORK_STARTED" ]; then "$NET" down > /dev/null || true; fi
}
trap cleanup EXIT
cd "$WORK"

step() { printf '\n== %s\n' "$*"; }

step "1. SM2 keys and certificates made by netsettle"
"$BIN" key gen --out ca.key >/dev/null
"$BIN" cert root --key ca.key --cn ca.unicom.example --org UnicomMSP --out ca.pem
"$BIN" key gen --out peer0.key --public-out peer0.pub >/dev/null
"$BIN" cert issue --ca-cert ca.pem --ca-key ca.key --subject-key peer0.pub \
  --cn peer0.unicom.example --org UnicomMSP --role peer \
  --dns peer0.unicom.example --ip 127.0.0.1 --out peer0.pem
"$BIN" key gen --out client.key --public-out client.pub >/dev/null
"$BIN" cert issue --ca-cert ca.pem --ca-key ca.key --subject-key client.pub \
  --cn settlement-system.unicom.example --org UnicomMSP --role client --out client.pem
ls -l ./*.key | awk '{print "   " $1, $NF}'

step "2. OpenSSL $(openssl version | cut -d' ' -f2) checks them (SM2-with-SM3, signer ID 1234567812345678)"
openssl verify -CAfile ca.pem -vfyopt distid:1234567812345678 peer0.pem client.pem
openssl x509 -in peer0.pem -noout -subject -ext subjectAltName,keyUsage,extendedKeyUsage
openssl pkey -in peer0.key -noout -text_pub | head -1

step "3. SM2 signatures cross-checked both ways"
printf 'settlement report 2026-10\n' > report.txt
"$BIN" sign --key peer0.key --in report.txt --out report.sig
openssl pkeyutl -verify -pubin -inkey peer0.pub -rawin -digest sm3 \
  -in report.txt -sigfile report.sig -pkeyopt distid:1234567812345678
openssl pkeyutl -sign -inkey client.key -rawin -digest sm3 \
  -in report.txt -out report.openssl.sig -pkeyopt distid:1234567812345678
"$BIN" verify --public client.pem --in report.txt --signature report.openssl.sig

step "4. SM3 digests agree"
"$BIN" sm3 report.txt
openssl dgst -sm3 -r report.txt

step "5. An SM-TLS (RFC 8998: TLS_SM4_GCM_SM3, curveSM2, sm2sig_sm3) exchange between two netsettle processes"
"$BIN" key gen --out mobile-ca.key >/dev/null
"$BIN" cert root --key mobile-ca.key --cn ca.mobile.example --org MobileMSP --out mobile-ca.pem
"$BIN" key gen --out mobile-peer0.key >/dev/null
"$BIN" cert issue --ca-cert mobile-ca.pem --ca-key mobile-ca.key --subject-key mobile-peer0.key \
  --cn peer0.mobile.example --org MobileMSP --role peer --dns peer0.mobile.example --ip 127.0.0.1 \
  --out mobile-peer0.pem
"$BIN" tls serve --listen 127.0.0.1:0 --connections 1 \
  --cert peer0.pem --key peer0.key --ca ca.pem --ca mobile-ca.pem > serve.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  grep -q '^listening on' serve.log 2>/dev/null && break
  # Poll the readiness line the server prints once bound (bounded: 10 s).
  sleep 0.1
done
ADDR=$(sed -n 's/^listening on //p' serve.log)
[ -n "$ADDR" ] || { cat serve.log; echo "server did not start" >&2; exit 1; }
"$BIN" tls send --connect "$ADDR" --server-name peer0.unicom.example \
  --message "hello from MobileMSP peer0" \
  --cert mobile-peer0.pem --key mobile-peer0.key --ca ca.pem --ca mobile-ca.pem
wait "${PIDS[-1]}" || true
cat serve.log

step "6. Both carriers bootstrap their CAs (cryptogen-style) and exchange only public MSPs"
"$BIN" ca bootstrap --spec "$REPO/configs/unicom.toml" --out crypto/unicom
"$BIN" ca bootstrap --spec "$REPO/configs/mobile.toml" --out crypto/mobile
"$BIN" msp export --msp-dir crypto/mobile/msp --out exchange/mobile-msp
ls exchange/mobile-msp/*

step "7. Unicom writes the channel's genesis block (5 consenters, 1 s / 50 tx / 100 MB) and checks it"
UNICOM_ORDERER=(--signer-key crypto/unicom/orderers/orderer0.unicom.example/msp/keystore/key.pem
  --signer-cert crypto/unicom/orderers/orderer0.unicom.example/msp/signcerts/cert.pem --signer-msp UnicomMSP)
"$BIN" configtx genesis --profile "$REPO/configs/consortium.toml" --base . \
  "${UNICOM_ORDERER[@]}" --out genesis.block --ledger ledger-unicom
"$BIN" ledger verify --path ledger-unicom

step "8. A consortium change needs both carriers' admins (MAJORITY Admins)"
"$BIN" configtx inspect --from-ledger ledger-unicom > config.json
sed 's/"tx_max": 50/"tx_max": 40/' config.json > edited.json
"$BIN" configtx update --from-ledger ledger-unicom --edited edited.json --out update.json
"$BIN" configtx sign --update update.json --signer-msp UnicomMSP \
  --signer-key crypto/unicom/users/admin@unicom.example/msp/keystore/key.pem \
  --signer-cert crypto/unicom/users/admin@unicom.example/msp/signcerts/cert.pem
if "$BIN" configtx check --from-ledger ledger-unicom --update update.json; then
  echo "unexpected: one carrier alone changed the consortium" >&2; exit 1
fi
"$BIN" configtx sign --update update.json --signer-msp MobileMSP \
  --signer-key crypto/mobile/users/admin@mobile.example/msp/keystore/key.pem \
  --signer-cert crypto/mobile/users/admin@mobile.example/msp/signcerts/cert.pem
"$BIN" configtx apply --ledger ledger-unicom --update update.json "${UNICOM_ORDERER[@]}"
"$BIN" ledger verify --path ledger-unicom

step "9. Both carriers' nodes connect over libp2p + SM-TLS only through their DMZ forwarders (nginx stream)"
bash "$REPO/scripts/dmz-demo.sh" "$BIN" "$WORK"

step "10. The consortium up (scripts/network.sh up): both carriers' CAs, 5 Raft orderers, 4 peers (each peer0 with its HTTP gateway), both DMZs, both consoles"
if [ -e "$NETSETTLE_NETWORK_DIR/state" ]; then
  echo "   removing the consortium a previous run left in $NETSETTLE_NETWORK_DIR"
  "$NET" down --purge | sed 's/^/   /'
fi
NETWORK_STARTED=1
"$NET" up | sed 's/^/   /'

step "11. A settlement month through it (scripts/month.sh)"
"$REPO/scripts/month.sh"

step "12. The consortium stopped (scripts/network.sh down): every ledger verifies, the carriers' ledgers agree"
heights_before=$("$NET" status | grep -o '^[a-z0-9-]* .* height=[0-9][0-9]*' | sed 's/ .* height=/ /')
"$NET" down | sed 's/^/   /'
cd "$NETSETTLE_NETWORK_DIR"
for dir in data/*/ledger data/*/orderer/ledger; do
  "$BIN" ledger verify --path "$dir" > /dev/null
  echo "   verified $dir"
done
"$BIN" ledger compare data/peer0.unicom.example/ledger data/peer0.mobile.example/ledger | sed 's/^/   /'
"$BIN" ledger compare data/peer1.unicom.example/ledger data/peer1.mobile.example/ledger | sed 's/^/   /'
"$BIN" ledger compare data/orderer0.unicom.example/orderer/ledger data/orderer1.mobile.example/orderer/ledger | sed 's/^/   /'
echo "   DMZ sessions logged: Unicom $(wc -l < dmz/unicom/access.log), Mobile $(wc -l < dmz/mobile/access.log)"
echo "   audit: replaying the month's settlement transactions from Mobile's ledger re-derives the final data"
"$BIN" settlement audit --ledger data/peer0.mobile.example/ledger --period 2026-10 | sed 's/^/   /'
cd "$REPO"

step "13. The consortium restarted from its data (scripts/network.sh up): every node back at its height"
"$NET" up | sed 's/^/   /'
heights_after=$("$NET" status | grep -o '^[a-z0-9-]* .* height=[0-9][0-9]*' | sed 's/ .* height=/ /')
if [ "$heights_before" != "$heights_after" ]; then
  printf 'heights changed across the restart:\n%s\n--\n%s\n' "$heights_before" "$heights_after" >&2
  exit 1
fi
echo "   heights unchanged: $(echo "$heights_after" | awk '{print $2}' | sort -u | paste -sd/) on all $(echo "$heights_after" | wc -l) nodes"
if [ "${NETSETTLE_DEMO_DOWN:-}" = 1 ]; then
  "$NET" down | sed 's/^/   /'
else
  echo "   The consortium keeps running: scripts/network.sh status | logs [NAME]; stop it with scripts/network.sh down"
fi

step "Run in scripts/test.sh rather than here: the drills (a DMZ cut, kill -9 during a month, a restore from a mid-month backup, on namespaced clouds), a consenter's TLS renewal, the HTTP gateway, the consoles in a real browser, peer gossip, consenter changes and orderer faults. Not yet: issue 18's throughput goals (docs/benchmarks.md)"
