#!/usr/bin/env bash
# The local consortium as long-running processes: both carriers' CAs, 5 Raft orderers,
# 4 peers (each carrier's peer0 also serving its HTTP gateway), both DMZ forwarders (nginx
# `stream`) and both staff consoles, started in the seed's setup order and left running
# in the background until `down`.
#
#   scripts/network.sh up                 set up a new consortium, or restart one from its data
#   scripts/network.sh down [--purge]     stop every process (data kept; --purge removes it)
#   scripts/network.sh status             one line per process: roles, cloud, pid, height, leader, /readyz;
#                                         each HTTP gateway's address and whether it answers
#   scripts/network.sh logs [NAME]        follow the logs (all, or one process's)
#   scripts/network.sh stop NAME [--kill] stop one process (TERM, or KILL at once)
#   scripts/network.sh start NAME         start one stopped process again
#   scripts/network.sh exec unicom|mobile CMD...   run a client command in that carrier's
#                                         cloud, from the network directory (`netsettle`
#                                         as CMD means the binary below)
#
# Environment: NETSETTLE_NETWORK_DIR (default REPO/.network) holds everything: crypto,
# genesis block, rendered configs, ledgers, pid files (run/) and logs (logs/).
# NETSETTLE_BIN is the netsettle binary (default REPO/target/release/netsettle, built if
# missing). NETSETTLE_CLOUDS=netns (as root) puts each carrier's cloud in a network
# namespace of its own (scripts/clouds.sh, namespaces NETSETTLE_CLOUDS_NAME-unicom|mobile|
# dmz), NETSETTLE_CLOUDS=loopback uses loopback ranges; the default is netns where this
# machine can make namespaces (root), else loopback. A consortium keeps the mode it was
# made with.
# NETSETTLE_CONSOLE_TLS=1 serves the consoles over TLS (always so with namespaces).
#
# Process names: the nodes as `layout render` names their configs (unicommsp-orderer0,
# mobilemsp-peer1, ...), dmz-unicom, dmz-mobile, console-unicom, console-mobile.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DIR=${NETSETTLE_NETWORK_DIR:-$REPO/.network}
BIN=${NETSETTLE_BIN:-$REPO/target/release/netsettle}
# Network namespaces when this machine can make them (root, `ip netns`), else loopback.
default_clouds() {
  local probe="nsprobe$$"
  if [ "$(id -u)" -eq 0 ] && command -v ip > /dev/null && ip netns add "$probe" 2> /dev/null; then
    ip netns del "$probe" 2> /dev/null || true
    echo netns
  else
    echo loopback
  fi
}
CLOUDS=${NETSETTLE_CLOUDS:-$(default_clouds)}
# The namespace prefix scripts/clouds.sh uses: NAME-unicom, NAME-mobile, NAME-dmz.
CLOUDS_NAME=${NETSETTLE_CLOUDS_NAME:-settle}
# Every wait below is for an event (a readiness line, a pid file, a 200); this deadline
# only marks failure.
WAIT_SECONDS=${NETSETTLE_WAIT_SECONDS:-90}
STOP_SECONDS=20
DATA="$REPO/tests/data/settlement"
CARRIERS=(unicom mobile)

die() { echo "network: $*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }
indent() { sed 's/^/   /'; }

msp_of() { case $1 in unicom) echo UnicomMSP ;; mobile) echo MobileMSP ;; *) die "no carrier '$1' (unicom|mobile)" ;; esac; }

# --- clouds: the one place that knows loopback from namespaces ---------------------------

clouds_mode_line() {
  case $CLOUDS in
    loopback)
      if [ -n "${NETSETTLE_CLOUDS:-}" ]; then
        echo "loopback clouds (NETSETTLE_CLOUDS=loopback)"
      elif [ "$(id -u)" -eq 0 ]; then
        echo "loopback clouds (network namespaces cannot be made here)"
      else
        echo "loopback clouds (not root: network namespaces unavailable)"
      fi ;;
    netns) echo "network namespaces ${CLOUDS_NAME}-unicom, ${CLOUDS_NAME}-mobile, ${CLOUDS_NAME}-dmz" ;;
  esac
}

# A consortium keeps the clouds it was made in (its addresses are rendered for them):
# DIR/clouds records the mode and namespace prefix, and later commands use them.
load_clouds() {
  [ -s "$DIR/clouds" ] || return 0
  local mode name
  read -r mode name < "$DIR/clouds"
  if [ -n "${NETSETTLE_CLOUDS:-}" ] && [ "$NETSETTLE_CLOUDS" != "$mode" ]; then
    die "the consortium in $DIR runs in $mode clouds, not NETSETTLE_CLOUDS=$NETSETTLE_CLOUDS"
  fi
  CLOUDS=$mode
  CLOUDS_NAME=${name:-$CLOUDS_NAME}
}

check_clouds() {
  case $CLOUDS in
    loopback) ;;
    netns)
      [ "$(id -u)" -eq 0 ] || die "NETSETTLE_CLOUDS=netns needs root"
      [ -x "$HERE/clouds.sh" ] || die "NETSETTLE_CLOUDS=netns needs scripts/clouds.sh, not found" ;;
    *) die "NETSETTLE_CLOUDS must be loopback or netns, not '$CLOUDS'" ;;
  esac
}

# Bring the clouds up (namespaces, addresses, host legs) for HOW (up_new|up_again);
# nothing to do on loopback, nor when a consortium restarting finds its namespaces up
# (`up` on a running one: check_addresses_free then sees whose processes hold them). A
# new consortium never shares namespaces: refuse if they are up (another directory's
# consortium with the same NETSETTLE_CLOUDS_NAME). Another managed set of namespaces holds
# the host routes to the clouds' ranges, and only one can per host: refuse then too,
# naming its host leg.
clouds_up() {
  [ "$CLOUDS" = netns ] || return 0
  local how=$1 ns present=0 range held
  for ns in unicom mobile dmz; do [ ! -e "/run/netns/$CLOUDS_NAME-$ns" ] || present=$((present + 1)); done
  if [ "$present" -eq 3 ] && ip link show "$CLOUDS_NAME-hu" > /dev/null 2>&1; then
    [ "$how" = up_again ] ||
      die "addresses in use: the namespaces $CLOUDS_NAME-* are up (another consortium's? scripts/network.sh status with its NETSETTLE_NETWORK_DIR, or another NETSETTLE_CLOUDS_NAME)"
    echo "   namespaces ${CLOUDS_NAME}-* already up"
    return 0
  fi
  for range in 198.18.1.0/24 198.18.2.0/24; do
    held=$(ip route show "$range" | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1)
    [ -z "$held" ] || [ "$held" = "$CLOUDS_NAME-hu" ] || [ "$held" = "$CLOUDS_NAME-hm" ] ||
      die "addresses in use: the host routes $range through $held (another consortium's namespaces up? scripts/network.sh status with its NETSETTLE_NETWORK_DIR, or ip netns list)"
  done
  bash "$HERE/clouds.sh" up "$CLOUDS_NAME" --manage
}

# Delete the namespaces (clouds.sh kills whatever runs in them), unless processes other
# than this consortium's, which `down` has stopped, still run there: another directory's
# consortium with the same NETSETTLE_CLOUDS_NAME, which this must not kill.
clouds_down() {
  [ "$CLOUDS" = netns ] || return 0
  local ns others=""
  for ns in unicom mobile dmz; do
    [ ! -e "/run/netns/$CLOUDS_NAME-$ns" ] || others+=$(ip netns pids "$CLOUDS_NAME-$ns" 2> /dev/null | tr '\n' ' ')
  done
  if [ -n "$others" ]; then
    echo "   namespaces $CLOUDS_NAME-* kept: other processes run in them (pids $others)"
    return 0
  fi
  bash "$HERE/clouds.sh" down "$CLOUDS_NAME"
}

# Run CMD inside cloud unicom|mobile|dmz. Every process start and client command goes
# through here. With --exec the calling (sub)shell becomes CMD.
in_cloud() {
  local replace=""
  if [ "$1" = --exec ]; then replace="exec"; shift; fi
  local cloud=$1 prefix=()
  shift
  case $CLOUDS in
    loopback) ;;
    netns) prefix=(ip netns exec "${CLOUDS_NAME}-$cloud") ;;
  esac
  if [ -n "$replace" ]; then exec "${prefix[@]}" "$@"; fi
  "${prefix[@]}" "$@"
}

# Copy FILE (a layout or consortium profile from configs/) to OUT with the addresses of
# the clouds in use: as they are on loopback; moved from 127.0. to 198.18. (the clouds'
# routed ranges) in namespace mode.
cloud_addresses() {
  case $CLOUDS in
    loopback) cp "$1" "$2" ;;
    netns) sed 's/"127\.0\./"198.18./g' "$1" > "$2" ;;
  esac
}

# Render the layout into DIR: nodes/, dmz/, clients/ (layout.toml keeps the copy used).
render_layout() {
  cloud_addresses "$REPO/configs/local.toml" "$DIR/layout.toml"
  "$BIN" layout render --layout "$DIR/layout.toml" --base "$DIR"
}

# --- processes ------------------------------------------------------------------------

# The processes in start order: Unicom's nodes, its DMZ, Mobile's nodes, its DMZ, consoles.
process_names() {
  local carrier config
  for carrier in "${CARRIERS[@]}"; do
    for config in "$DIR/nodes/${carrier}msp-"*.toml; do
      [ -e "$config" ] && basename "$config" .toml
    done
    echo "dmz-$carrier"
  done
  for carrier in "${CARRIERS[@]}"; do
    [ -e "$DIR/console-$carrier.toml" ] && echo "console-$carrier"
  done
  return 0
}

cloud_of() {
  case $1 in
    unicommsp-*|console-unicom) echo unicom ;;
    mobilemsp-*|console-mobile) echo mobile ;;
    dmz-*) echo dmz ;;
    *) die "no process '$1' (scripts/network.sh status lists them)" ;;
  esac
}

roles_of() {
  case $1 in
    dmz-*) echo "dmz-forwarder" ;;
    console-*) echo "console" ;;
    *)
      local roles=() section
      for section in ca orderer peer gateway; do
        grep -q "^\[$section\]" "$DIR/nodes/$1.toml" && roles+=("$section")
      done
      local IFS=,
      echo "${roles[*]}" ;;
  esac
}

# The command line that runs process NAME (absolute paths: `alive` checks them).
command_of() {
  local name=$1 carrier
  case $name in
    dmz-*)
      carrier=${name#dmz-}
      # shellcheck disable=SC2046 # the map is PUBLIC=INTERNAL words
      echo bash "$HERE/dmz.sh" "$DIR/dmz/$carrier" $(cat "$DIR/dmz/$(msp_of "$carrier").map") ;;
    console-*) echo "$BIN" console run --config "$DIR/$name.toml" ;;
    *) echo "$BIN" node --config "$DIR/nodes/$name.toml" ;;
  esac
}

pid_file() { echo "$DIR/run/$1.pid"; }

# Prints the pid of NAME if it runs (its pid file names a live process started from DIR).
alive() {
  local file pid
  file=$(pid_file "$1")
  [ -s "$file" ] || return 1
  pid=$(cat "$file")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
  echo "$pid"
}

# Wait until FILE, from byte OFFSET on, has a line matching PATTERN.
wait_for_line() {
  local file=$1 offset=$2 pattern=$3 name=$4 deadline=$((SECONDS + WAIT_SECONDS))
  until tail -c +"$((offset + 1))" "$file" 2>/dev/null | grep -q -- "$pattern"; do
    if ! alive "$name" > /dev/null; then
      tail -n 20 "$DIR/logs/$name.err" >&2 || true
      die "$name exited while starting (logs/$name.err)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$name: no '$pattern' in $file after ${WAIT_SECONDS}s"
    sleep 0.1
  done
}

# Start process NAME detached from this terminal (own session, stdin closed, output in
# logs/) and wait until it is ready: a node's readiness line, a console's listening line,
# a DMZ forwarder's pid file (nginx writes it once its listeners are bound).
start_process() {
  local name=$1 cloud out offset command ready_file ready
  cloud=$(cloud_of "$name")
  if alive "$name" > /dev/null; then echo "   $name already running"; return 0; fi
  mkdir -p "$DIR/run" "$DIR/logs"
  out="$DIR/logs/$name.out"
  offset=$(stat -c %s "$out" 2>/dev/null || echo 0)
  read -r -a command <<< "$(command_of "$name")"
  rm -f "$(pid_file "$name")"
  [ "${name%%-*}" != dmz ] || rm -f "$DIR/dmz/${name#dmz-}/nginx.pid"
  (
    cd "$DIR"
    export NETSETTLE_LOG=${NETSETTLE_LOG:-warn}
    [ "${name%%-*}" != console ] || NETSETTLE_LOG=info
    # The wrapper shell records its own pid, then becomes the process (exec), so the pid
    # file names the process itself, the leader of its own session.
    # shellcheck disable=SC2016 # expanded by the wrapper shell
    in_cloud --exec "$cloud" setsid --wait bash -c 'echo $$ > "$0"; exec "$@"' "$(pid_file "$name")" "${command[@]}"
  ) >> "$out" 2>> "$DIR/logs/$name.err" < /dev/null &
  local launcher=$! deadline=$((SECONDS + WAIT_SECONDS))
  until [ -s "$(pid_file "$name")" ]; do
    if ! kill -0 "$launcher" 2>/dev/null && [ ! -s "$(pid_file "$name")" ]; then
      tail -n 5 "$DIR/logs/$name.err" >&2 || true
      die "$name did not start (logs/$name.err)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$name: no pid file after ${WAIT_SECONDS}s"
    sleep 0.05
  done
  case $name in
    dmz-*)
      ready_file="$DIR/dmz/${name#dmz-}/nginx.pid"
      until [ -s "$ready_file" ]; do
        alive "$name" > /dev/null || { cat "$DIR/logs/$name.err" >&2; die "$name exited while starting"; }
        [ "$SECONDS" -lt "$deadline" ] || die "$name: nginx did not start in ${WAIT_SECONDS}s"
        sleep 0.05
      done
      echo "   $name forwarding $(tr '\n' ' ' < "$DIR/dmz/$(msp_of "${name#dmz-}").map")" ;;
    console-*)
      wait_for_line "$out" "$offset" "console listening on" "$name"
      echo "   $name listening on $(tail -c +"$((offset + 1))" "$out" | sed -n 's/^console listening on //p' | head -1)" ;;
    *)
      wait_for_line "$out" "$offset" "netsettle node ready" "$name"
      ready=$(tail -c +"$((offset + 1))" "$out" | grep -m1 '^netsettle node ready')
      printf '   %-26s %-36s %s\n' "$(ready_field name "$ready")" "roles $(ready_field roles "$ready")" \
        "$(ready_field height "$ready" | sed 's/^./height &/')" ;;
  esac
}

# The value of KEY=VALUE in a readiness line.
ready_field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# Stop process NAME: TERM to its session, KILL after a bounded wait (or at once with
# --kill). Nothing to do if it is not running.
stop_process() {
  local name=$1 signal=${2:-TERM} pid deadline
  pid=$(alive "$name") || { rm -f "$(pid_file "$name")"; return 0; }
  kill -"$signal" -- "-$pid" 2>/dev/null || kill -"$signal" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_SECONDS))
  while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ "$signal" != KILL ] || die "$name (pid $pid) survived KILL for ${STOP_SECONDS}s"
      echo "   $name did not stop in ${STOP_SECONDS}s: KILL" >&2
      signal=KILL
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + STOP_SECONDS))
    fi
    sleep 0.05
  done
  rm -f "$(pid_file "$name")"
  echo "   stopped $name ($signal)"
}

# Operations address (host:port) of node NAME, from its config.
operations_of() {
  [ -e "$DIR/nodes/$1.toml" ] || return 0
  sed -n '/^\[operations\]/,/^\[/s/^listen = "\([^"]*\)"$/\1/p' "$DIR/nodes/$1.toml" | head -1
}

# The operations listener is reached from the host: loopback, or the host legs
# clouds.sh --manage adds.
http_get() { curl -s --max-time 5 "$@"; }

# The process name of Raft consenter ID (consortium.toml's consenters, by endpoint).
consenter_name() {
  local endpoint config
  endpoint=$(awk -v id="$1" '/^\[\[consenters\]\]/ { found = 0 } /^id = / { found = ($3 == id) }
    found && /^endpoint = / { gsub(/"/, "", $3); print $3; exit }' "$DIR/consortium.toml" 2>/dev/null)
  [ -n "$endpoint" ] || return 0
  config=$(grep -lx "listen = \"$endpoint\"" "$DIR"/nodes/*.toml | head -1)
  [ -z "$config" ] || basename "$config" .toml
}

status_line() {
  local name=$1 pid=- height=- leader=- readyz=- ops metrics
  if pid=$(alive "$name"); then pid="$pid up"; else pid="down"; fi
  ops=$(operations_of "$name")
  if [ -n "$ops" ] && [ "$pid" != down ]; then
    metrics=$(http_get "http://$ops/metrics" || true)
    height=$(echo "$metrics" | sed -n 's/^netsettle_ledger_height{[^}]*} \([0-9]*\)$/\1/p' | head -1)
    leader=$(echo "$metrics" | sed -n 's/^netsettle_raft_leader \([0-9]*\)$/\1/p' | head -1)
    [ -z "$leader" ] || [ "$leader" = 0 ] || leader="$leader:$(consenter_name "$leader")"
    readyz=$(http_get -o /dev/null -w '%{http_code}' "http://$ops/readyz" || true)
  fi
  printf '%-20s %-14s %-7s pid=%-12s height=%-4s leader=%-21s readyz=%s\n' \
    "$name" "$(roles_of "$name")" "$(cloud_of "$name")" "${pid// /,}" "${height:--}" "${leader:--}" "${readyz:--}"
}

# Wait until every node's /readyz answers 200.
wait_ready() {
  local name ops deadline=$((SECONDS + WAIT_SECONDS))
  for name in $(process_names); do
    ops=$(operations_of "$name")
    [ -n "$ops" ] || continue
    until [ "$(http_get -o /dev/null -w '%{http_code}' "http://$ops/readyz" || true)" = 200 ]; do
      [ "$SECONDS" -lt "$deadline" ] || die "$name not ready after ${WAIT_SECONDS}s: $(http_get "http://$ops/readyz")"
      sleep 0.2
    done
  done
}

ensure_binary() {
  if [ ! -x "$BIN" ]; then
    [ -z "${NETSETTLE_BIN:-}" ] || die "NETSETTLE_BIN=$BIN is not an executable"
    say "building netsettle (release)"
    (cd "$REPO" && cargo build --release --locked --bin netsettle)
  fi
}

# --- up: a new consortium -------------------------------------------------------------

admin_args() { echo --profile "clients/${1}msp.toml" --identity "crypto/$1/users/admin@$1.example"; }

sign_as_admin() {
  local carrier=$1 update=$2 admin="crypto/$1/users/admin@$1.example/msp"
  in_cloud "$carrier" "$BIN" configtx sign --update "$update" --signer-msp "$(msp_of "$carrier")" \
    --signer-key "$admin/keystore/key.pem" --signer-cert "$admin/signcerts/cert.pem"
}

# Each carrier's CA makes its organisation; only the public MSPs cross over.
bootstrap_crypto() {
  local carrier
  for carrier in "${CARRIERS[@]}"; do
    say "$(msp_of "$carrier")'s CA bootstraps its organisation (configs/$carrier.toml)"
    in_cloud "$carrier" "$BIN" ca bootstrap --spec "$REPO/configs/$carrier.toml" --out "crypto/$carrier" | tail -3 | indent
  done
  say "the carriers exchange their public MSPs (no private keys)"
  in_cloud unicom "$BIN" msp export --msp-dir crypto/unicom/msp --out exchange/unicom-msp | indent
  in_cloud mobile "$BIN" msp export --msp-dir crypto/mobile/msp --out exchange/mobile-msp | indent
}

# Unicom creates the channel: the genesis block from configs/consortium.toml, without
# anchor peers (each carrier sets its own later, with its own admin's signature only).
create_channel() {
  say "UnicomMSP creates the channel: genesis block signed by orderer0.unicom.example, no anchor peers yet"
  cloud_addresses "$REPO/configs/consortium.toml" consortium.toml
  sed 's/^anchor_peers = .*/anchor_peers = []/' consortium.toml > consortium-genesis.toml
  local orderer=crypto/unicom/orderers/orderer0.unicom.example/msp
  in_cloud unicom "$BIN" configtx genesis --profile consortium-genesis.toml --base . \
    --signer-key "$orderer/keystore/key.pem" --signer-cert "$orderer/signcerts/cert.pem" \
    --signer-msp UnicomMSP --out genesis.block | indent
  mkdir -p exchange
  cp genesis.block exchange/genesis.block
  echo "   MobileMSP receives genesis.block (sm3 $("$BIN" sm3 exchange/genesis.block | cut -d' ' -f1))"
}

# Each carrier's peer0 tells its staff when it is their move: signed webhook notices to
# the carrier's console, kept in a durable outbox until delivered.
add_notices() {
  local carrier console
  for carrier in "${CARRIERS[@]}"; do
    console=$(console_address "$carrier")
    # A console behind TLS takes the (plain HTTP) webhook on a listener of its own.
    if console_tls; then console="${console%:*}:8081"; fi
    cat >> "nodes/${carrier}msp-peer0.toml" <<TOML

[notices]
reminder_hours = [72, 24]
[[notices.recipients]]
name = "console"
roles = ["settlement", "finance"]
periods = "all"
channel = "webhook"
url = "http://$console/hooks/notices"
TOML
  done
}

# The console of a carrier listens on .40 of its cloud.
console_address() {
  local range=127.0
  [ "$CLOUDS" != netns ] || range=198.18
  case $1 in unicom) echo "$range.1.40:8080" ;; mobile) echo "$range.2.40:8080" ;; esac
}

# The consoles serve plain HTTP on loopback only; on a routed address (namespace mode,
# or NETSETTLE_CONSOLE_TLS=1) they serve TLS with a self-signed ECDSA certificate.
console_tls() { [ "$CLOUDS" = netns ] || [ "${NETSETTLE_CONSOLE_TLS:-}" = 1 ]; }

# A console's scheme, from its config (the choice was made when `up` wrote it).
console_scheme() { if grep -q '^\[tls\]' "$DIR/console-$1.toml"; then echo https; else echo http; fi; }

# The port each carrier's HTTP gateway listens on, at its peer0's address.
GATEWAY_PORT=8443

# Each carrier's peer0 also serves the HTTP gateway (JSON over HTTPS on SM-TLS, client
# certificates required) for the carrier's own systems, inside its cloud, signing for them
# with the carrier's settlement or finance identity. Paths are relative to nodes/.
add_gateways() {
  local carrier config listen
  for carrier in "${CARRIERS[@]}"; do
    config="nodes/${carrier}msp-peer0.toml"
    listen=$(sed -n '/^\[network\]/,/^\[/s/^listen = "\([^"]*\)"$/\1/p' "$config" | head -1)
    [ -n "$listen" ] || die "$config has no [network] listen address for the gateway"
    cat >> "$config" <<TOML

[gateway]
listen = "${listen%:*}:$GATEWAY_PORT"
profile = "../clients/${carrier}msp.toml"
settlement_identity = "../crypto/$carrier/users/settlement@$carrier.example"
finance_identity = "../crypto/$carrier/users/finance@$carrier.example"
TOML
  done
}

# The gateway address (host:port) of CARRIER, from its peer0's config (empty: none).
gateway_address() {
  local config="$DIR/nodes/${1}msp-peer0.toml"
  [ -e "$config" ] || return 0
  sed -n '/^\[gateway\]/,/^\[/s/^listen = "\([^"]*\)"$/\1/p' "$config" | head -1
}

# `netsettle gateway call ARGS...` to CARRIER's gateway inside its cloud, as its user
# USER (settlement|finance): the user's TLS certificate is the client certificate.
gateway_call() {
  local carrier=$1 user=$2
  shift 2
  (cd "$DIR" && in_cloud "$carrier" "$BIN" gateway call --gateway "$(gateway_address "$carrier")" \
    --identity "crypto/$carrier/users/$user@$carrier.example" --server-name "peer0.$carrier.example" "$@")
}

# One status line per gateway: its address and whether it answers (the chain it sees).
gateway_status_line() {
  local carrier=$1 address answer
  address=$(gateway_address "$carrier")
  [ -n "$address" ] || return 0
  if ! alive "${carrier}msp-peer0" > /dev/null; then
    answer="down (${carrier}msp-peer0 is not running)"
  elif answer=$(gateway_call "$carrier" settlement --timeout 5 /v1/chain 2>&1); then
    answer="answers: $(echo "$answer" | head -1), chain at $(echo "$answer" | sed -n 's/^  "height": \([0-9]*\).*/\1/p') blocks"
  else
    answer="no answer: ${answer#error: }"
  fi
  printf '%-20s %-14s %-7s https://%-22s %s\n' "gateway-$carrier" "gateway" "$carrier" "$address" "$answer"
}

# Each carrier's staff console: signing with the carrier's settlement or finance identity
# for the logged-in user, inside the carrier's cloud.
write_console_config() {
  local carrier=$1 settlement_hash finance_hash address tls=""
  address=$(console_address "$carrier")
  settlement_hash=$(printf 'demo-%s-settlement' "$carrier" | "$BIN" console hash-password)
  finance_hash=$(printf 'demo-%s-finance' "$carrier" | "$BIN" console hash-password)
  if console_tls; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
      -subj "/O=$(msp_of "$carrier")/CN=console.$carrier.example" \
      -addext "subjectAltName=IP:${address%:*},DNS:console.$carrier.example" \
      -keyout "console-$carrier.key" -out "console-$carrier.pem" 2> /dev/null
    chmod 600 "console-$carrier.key"
    tls="notices_listen = \"${address%:*}:8081\"
[tls]
cert = \"console-$carrier.pem\"
key = \"console-$carrier.key\""
  fi
  cat > "console-$carrier.toml" <<TOML
listen = "$address"
profile = "clients/${carrier}msp.toml"
settlement_identity = "crypto/$carrier/users/settlement@$carrier.example"
finance_identity = "crypto/$carrier/users/finance@$carrier.example"
notice_signers = ["crypto/$carrier/peers/peer0.$carrier.example/msp/signcerts/cert.pem"]
$tls
[[users]]
name = "$carrier-settlement"
password_hash = "$settlement_hash"
role = "settlement"
[[users]]
name = "$carrier-finance"
password_hash = "$finance_hash"
role = "finance"
TOML
}

# Start a carrier's nodes and its DMZ forwarder.
start_carrier() {
  local carrier=$1 name
  for name in $(process_names); do
    case $name in "${carrier}msp-"*|"dmz-$carrier") start_process "$name" ;; esac
  done
}

# CARRIER sets its own anchor peer (peer0 behind its DMZ) with an update signed by its own
# admin only, submitted to the running orderers.
set_anchor_peer() {
  local carrier=$1 msp dmz update
  msp=$(msp_of "$carrier")
  dmz=$(sed -n '/^\[\[orgs\]\]/,/^$/p' "$(layout_file)" | awk -v msp="$msp" '
    /^msp_id/ { found = ($3 == "\"" msp "\"") } found && /^dmz/ { gsub(/"/, "", $3); print $3; exit }')
  update="anchor-$carrier.json"
  say "$msp sets its anchor peer $dmz:7060 (its peer0 behind its DMZ): signed by its admin alone, submitted to the running orderers"
  in_cloud "$carrier" "$BIN" configtx anchor-peers --from-ledger "data/peer0.$carrier.example/ledger" \
    --org "$msp" --peer "$dmz:7060" --out "$update" | indent
  sign_as_admin "$carrier" "$update" | indent
  # shellcheck disable=SC2046
  in_cloud "$carrier" "$BIN" configtx submit $(admin_args "$carrier") --update "$update" | indent
  wait_config_has "$dmz:7060" "$(process_names | grep -E '^[a-z]+msp-peer' | tr '\n' ' ')"
}

layout_file() { if [ -e "$DIR/layout.toml" ]; then echo "$DIR/layout.toml"; else echo "$REPO/configs/local.toml"; fi; }

# Wait until every peer in PEERS has a configuration naming anchor peer ADDRESS.
wait_config_has() {
  local address=$1 peers=$2 peer deadline=$((SECONDS + WAIT_SECONDS))
  for peer in $peers; do
    local ledger
    ledger="data/$(sed -n 's/^name = "\([^"]*\)"$/\1/p' "nodes/$peer.toml" | head -1)/ledger"
    until "$BIN" configtx inspect --from-ledger "$ledger" 2>/dev/null | tr -d ' \n' |
      grep -qF "\"anchor_peers\":[{\"host\":\"${address%:*}\",\"port\":${address##*:}}"; do
      [ "$SECONDS" -lt "$deadline" ] || die "$peer: anchor peer $address not in force after ${WAIT_SECONDS}s"
      sleep 0.2
    done
  done
}

contract_and_agreement() {
  local unicom mobile
  read -r -a unicom <<< "$(admin_args unicom)"
  read -r -a mobile <<< "$(admin_args mobile)"
  say "each carrier's admin approves the settlement contract, then it is committed"
  in_cloud unicom "$BIN" lifecycle approve "${unicom[@]}" | indent
  in_cloud mobile "$BIN" lifecycle approve "${mobile[@]}" | indent
  in_cloud unicom "$BIN" lifecycle commit "${unicom[@]}" | indent
  in_cloud mobile "$BIN" lifecycle query "${mobile[@]}" | indent
  say "the agreement: proposed by Unicom's admin, accepted by Mobile's (tolerance 100 fen / 10 bp)"
  in_cloud unicom "$BIN" settlement agreement propose "${unicom[@]}" --file "$DATA/agreement.json" | indent
  in_cloud mobile "$BIN" settlement agreement accept "${mobile[@]}" | indent
}

start_consoles() {
  say "both carriers' staff consoles"
  start_process console-unicom
  start_process console-mobile
}

print_consoles() {
  local carrier scheme
  echo
  echo "Staff consoles (inside each carrier's cloud):"
  for carrier in "${CARRIERS[@]}"; do
    scheme=$(console_scheme "$carrier")
    echo "   $carrier: $scheme://$(console_address "$carrier")/  users $carrier-settlement / demo-$carrier-settlement," \
      "$carrier-finance / demo-$carrier-finance"
    [ "$scheme" = http ] || echo "      (self-signed certificate: $DIR/console-$carrier.pem)"
  done
  echo "HTTP gateways (inside each carrier's cloud; JSON over HTTPS on SM-TLS, a carrier user's certificate):"
  for carrier in "${CARRIERS[@]}"; do
    [ -z "$(gateway_address "$carrier")" ] || echo "   $carrier: https://$(gateway_address "$carrier")/v1/  e.g." \
      "scripts/network.sh exec $carrier netsettle gateway call --gateway $(gateway_address "$carrier")" \
      "--identity crypto/$carrier/users/settlement@$carrier.example --server-name peer0.$carrier.example /v1/settlement/periods"
  done
  echo "Stop the network with scripts/network.sh down (NETSETTLE_NETWORK_DIR=$DIR)."
}

# Refuse to start beside another consortium on the same addresses (e.g. another network
# directory's, still up): every node's listen and operations address (and the gateway
# port on each peer's address) must be free, looked at inside the cloud it belongs to.
check_addresses_free() {
  local address busy=()
  for address in $(sed -n 's/^\(listen\|operations\|ca\) = "\([0-9.]*:[0-9]*\)"$/\2/p' "$(layout_file)") \
    $(sed -n 's/^listen = "\([0-9.]*\):7060"$/\1:'"$GATEWAY_PORT"'/p' "$(layout_file)") \
    "$(console_address unicom)" "$(console_address mobile)"; do
    [ "$CLOUDS" = loopback ] || address=${address/#127.0./198.18.}
    if in_cloud "$(cloud_of_address "$address")" ss -ltnH "src ${address%:*} and sport = :${address##*:}" |
      grep -q .; then busy+=("$address"); fi
  done
  [ "${#busy[@]}" -eq 0 ] ||
    die "addresses in use: ${busy[*]} (another consortium up? scripts/network.sh status, with its NETSETTLE_NETWORK_DIR)"
}

# The cloud an address of the layout is in: x.y.1.* Unicom's, x.y.2.* Mobile's, else the DMZ.
cloud_of_address() {
  case $(echo "$1" | cut -d. -f3) in 1) echo unicom ;; 2) echo mobile ;; *) echo dmz ;; esac
}

up_new() {
  mkdir -p "$DIR"
  cd "$DIR"
  echo "building" > state
  echo "$CLOUDS $CLOUDS_NAME" > clouds
  bootstrap_crypto
  create_channel
  say "the nodes' configs from configs/local.toml"
  render_layout | indent
  add_notices
  add_gateways
  for carrier in "${CARRIERS[@]}"; do write_console_config "$carrier"; done
  say "UnicomMSP's nodes (its CA runs beside orderer0) and its DMZ forwarder"
  start_carrier unicom
  say "MobileMSP's nodes join with the genesis block they received, and its DMZ forwarder"
  start_carrier mobile
  say "waiting until every node's /readyz answers 200 (Raft leader known, peers connected)"
  wait_ready
  set_anchor_peer unicom
  set_anchor_peer mobile
  contract_and_agreement
  start_consoles
  echo "up" > state
}

up_again() {
  cd "$DIR"
  say "restarting the consortium in $DIR from its data"
  local name running=""
  # Those of its processes still running keep their addresses.
  for name in $(process_names); do
    if alive "$name" > /dev/null; then running=1; fi
  done
  [ -n "$running" ] || check_addresses_free
  for name in $(process_names); do start_process "$name"; done
  wait_ready
  echo "up" > state
  status
}

up() {
  check_clouds
  ensure_binary
  say "clouds: $(clouds_mode_line)"
  local how=up_new
  if [ -e "$DIR/state" ] && [ "$(cat "$DIR/state")" != building ]; then
    how=up_again
  elif [ -e "$DIR/state" ]; then
    die "a previous 'up' in $DIR did not finish; scripts/network.sh down --purge, then up"
  elif [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and holds no consortium"
  fi
  # After the checks above, so a refused `up` makes no namespaces.
  clouds_up "$how"
  # A new consortium's addresses, before anything starts (so no "stopping" follows).
  [ "$how" = up_again ] || check_addresses_free
  # A failed `up` stops what it started (the data stays for a look).
  # shellcheck disable=SC2154 # rc is assigned inside the trap
  trap 'rc=$?; if [ "$rc" -ne 0 ]; then echo "network: up failed; stopping what it started" >&2; down; fi' EXIT
  "$how"
  trap - EXIT
  print_consoles
}

# --- the other commands ---------------------------------------------------------------

down() {
  local purge=${1:-} names name
  # Checked before anything stops: a mistyped flag changes nothing.
  [ -z "$purge" ] || [ "$purge" = --purge ] || die "down takes --purge or nothing, not '$purge'"
  if [ -d "$DIR/run" ]; then
    # Consoles first, then DMZs and nodes in reverse start order.
    names=$(process_names | tac)
    for name in $names; do stop_process "$name"; done
    # Anything with a pid file but no longer in the list (e.g. a removed config).
    for name in "$DIR"/run/*.pid; do
      [ -e "$name" ] && stop_process "$(basename "$name" .pid)"
    done
  fi
  [ ! -e "$DIR/state" ] || [ "$(cat "$DIR/state")" = building ] || echo "down" > "$DIR/state"
  if [ "$purge" = --purge ]; then
    rm -rf "$DIR"
    echo "   removed $DIR"
  fi
  clouds_down
}

status() {
  [ -d "$DIR/nodes" ] || die "no consortium in $DIR (scripts/network.sh up)"
  echo "clouds: $(clouds_mode_line); network $DIR ($(cat "$DIR/state" 2>/dev/null || echo unknown))"
  local name
  for name in $(process_names); do status_line "$name"; done
  for name in "${CARRIERS[@]}"; do gateway_status_line "$name"; done
}

logs() {
  [ -d "$DIR/logs" ] || die "no logs in $DIR"
  if [ $# -gt 0 ]; then
    cloud_of "$1" > /dev/null
    exec tail -F "$DIR/logs/$1.out" "$DIR/logs/$1.err"
  fi
  exec tail -F "$DIR"/logs/*
}

# Refuse a command that runs in the clouds while they are not there (namespace mode,
# after `down`).
require_clouds() {
  check_clouds
  if [ "$CLOUDS" = netns ] && ! ip netns list | grep -q "^$CLOUDS_NAME-unicom\b"; then
    die "the namespaces $CLOUDS_NAME-* are not up (scripts/network.sh up)"
  fi
}

exec_in() {
  [ $# -ge 2 ] || die "usage: scripts/network.sh exec unicom|mobile CMD..."
  local carrier=$1
  msp_of "$carrier" > /dev/null
  [ -d "$DIR" ] || die "no consortium in $DIR (scripts/network.sh up)"
  require_clouds
  shift
  [ "$1" != netsettle ] || set -- "$BIN" "${@:2}"
  cd "$DIR"
  in_cloud "$carrier" "$@"
}

main() {
  load_clouds
  local verb=${1:-}
  [ $# -eq 0 ] || shift
  case $verb in
    up) up ;;
    down) down "$@" ;;
    status) status ;;
    logs) logs "$@" ;;
    stop)
      [ $# -ge 1 ] || die "usage: scripts/network.sh stop NAME [--kill]"
      cloud_of "$1" > /dev/null
      if [ "${2:-}" = --kill ]; then stop_process "$1" KILL; else stop_process "$1"; fi ;;
    start)
      [ $# -eq 1 ] || die "usage: scripts/network.sh start NAME"
      [ -e "$DIR/state" ] || die "no consortium in $DIR (scripts/network.sh up)"
      require_clouds
      (cd "$DIR" && start_process "$1") ;;
    exec) exec_in "$@" ;;
    *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$verb" ] || exit 2 ;;
  esac
}

main "$@"
