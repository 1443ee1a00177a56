#!/usr/bin/env bash
# The README's demo command. Until the whole chain exists it shows honestly what works so
# far, step by step; each step says what it proves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== building netsettle (release)"
cargo build --release --locked --bin netsettle
BIN="$PWD/target/release/netsettle"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
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
