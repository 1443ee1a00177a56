#!/usr/bin/env bash
# Two carrier clouds that are really apart, on one machine: Linux network namespaces.
#
#   scripts/clouds.sh up NAME [--manage]   create NAME-unicom, NAME-mobile and NAME-dmz
#   scripts/clouds.sh down NAME            kill what runs in them, delete them (idempotent)
#   scripts/clouds.sh exec NAME unicom|mobile|dmz CMD [ARG...]
#   scripts/clouds.sh status NAME          namespaces, addresses, routes
#
# Needs root and iproute2. NAME: 1 to 8 of [a-z0-9] (interface names derive from it and
# the kernel allows 15 characters).
#
# Topology (configs/local.toml with `127.0.` read as `198.18.`, RFC 2544's benchmarking
# range, which no real host uses):
#
#   NAME-unicom  198.18.1.0/24 (every address local)        Unicom's cloud
#        | veth 198.18.0.1 <-> 198.18.0.2
#   NAME-dmz     198.18.3.1 (Unicom's DMZ), 198.18.4.1 (Mobile's DMZ), ip_forward=0
#        | veth 198.18.0.6 <-> 198.18.0.5
#   NAME-mobile  198.18.2.0/24 (every address local)        Mobile's cloud
#
# A cloud routes only the two DMZ /24s to the DMZ namespace; the DMZ namespace routes each
# cloud's /24 back to that cloud. No cloud has a route to the other's /24, and the DMZ
# namespace never forwards a packet: the only way across is a forwarder (scripts/dmz.sh,
# nginx `stream`) in NAME-dmz, which terminates TCP on one side and dials on the other.
#
# `--manage` adds a veth leg from the host into each cloud (Unicom 198.18.0.9 <->
# 198.18.0.10, Mobile 198.18.0.13 <-> 198.18.0.14) and host routes to both cloud /24s, so
# an operator's browser or curl on the host reaches consoles and /metrics. The clouds get
# a route only back to their host leg's /30, never to each other. One managed set per
# host at a time (the host routes would collide).
# -E: the ERR trap of `up` also fires for a step failing inside a helper function.
set -Eeuo pipefail

usage() {
  echo "usage: $0 up NAME [--manage] | down NAME | exec NAME unicom|mobile|dmz CMD... | status NAME" >&2
  exit 2
}

[ "$#" -ge 2 ] || usage
action=$1
name=$2
shift 2
[[ "$name" =~ ^[a-z0-9]{1,8}$ ]] || { echo "clouds: NAME must be 1 to 8 of [a-z0-9], got '$name'" >&2; exit 2; }

ns_unicom="$name-unicom"
ns_mobile="$name-mobile"
ns_dmz="$name-dmz"
namespaces=("$ns_unicom" "$ns_mobile" "$ns_dmz")

need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "clouds: needs root (network namespaces)" >&2; exit 1; }
  command -v ip >/dev/null || { echo "clouds: ip not found; install iproute2 (scripts/setup.sh)" >&2; exit 1; }
}

# Whether namespace $1 exists (`ip netns add` makes /run/netns/NAME).
exists() {
  [ -e "/run/netns/$1" ]
}

# A veth pair: LEFT in namespace LEFT_NS ("" = the host) with LEFT_ADDR/30, RIGHT in RIGHT_NS
# with RIGHT_ADDR/30, both up.
veth() {
  local left=$1 left_ns=$2 left_addr=$3 right=$4 right_ns=$5 right_addr=$6
  ip link add "$left" type veth peer name "$right"
  if [ -n "$left_ns" ]; then ip link set "$left" netns "$left_ns"; fi
  ip link set "$right" netns "$right_ns"
  in_ns "$left_ns" ip addr add "$left_addr/30" dev "$left"
  in_ns "$left_ns" ip link set "$left" up
  ip -n "$right_ns" addr add "$right_addr/30" dev "$right"
  ip -n "$right_ns" link set "$right" up
}

# Runs CMD in namespace NS, or on the host when NS is empty.
in_ns() {
  local ns=$1
  shift
  if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# One carrier's cloud: every address of CLOUD_NET (x.y.z.0/24) local, a veth to the DMZ,
# routes to both DMZ /24s only. Connections leave from the cloud's .254 unless bound.
cloud() {
  local ns=$1 short=$2 cloud_net=$3 cloud_leg=$4 dmz_leg=$5
  local src=${cloud_net%.0/24}.254
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # A cloud never routes either (a new namespace may inherit the host's setting).
  ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=0
  ip -n "$ns" route add local "$cloud_net" dev lo
  veth "$name-$short" "$ns" "$cloud_leg" "$name-d$short" "$ns_dmz" "$dmz_leg"
  ip -n "$ns" route add 198.18.3.0/24 via "$dmz_leg" src "$src"
  ip -n "$ns" route add 198.18.4.0/24 via "$dmz_leg" src "$src"
  ip -n "$ns_dmz" route add "$cloud_net" via "$cloud_leg"
}

# A host leg into cloud NS (for --manage): the host routes CLOUD_NET through it; the cloud
# routes only the leg's /30 back.
manage_leg() {
  local ns=$1 short=$2 cloud_net=$3 host_addr=$4 cloud_addr=$5
  veth "$name-h$short" "" "$host_addr" "$name-$short$short" "$ns" "$cloud_addr"
  ip route add "$cloud_net" via "$cloud_addr"
}

up() {
  local manage=0
  case "${1:-}" in
    "") ;;
    --manage) manage=1 ;;
    *) usage ;;
  esac
  for ns in "${namespaces[@]}"; do
    if exists "$ns"; then echo "clouds: $ns exists; run '$0 down $name' first" >&2; exit 1; fi
  done
  # Half a set is worse than none: undo everything if a step fails.
  trap 'down >/dev/null 2>&1 || true' ERR
  ip netns add "$ns_dmz"
  ip -n "$ns_dmz" link set lo up
  ip netns exec "$ns_dmz" sysctl -q -w net.ipv4.ip_forward=0
  ip -n "$ns_dmz" addr add 198.18.3.1/32 dev lo
  ip -n "$ns_dmz" addr add 198.18.4.1/32 dev lo
  cloud "$ns_unicom" u 198.18.1.0/24 198.18.0.1 198.18.0.2
  cloud "$ns_mobile" m 198.18.2.0/24 198.18.0.5 198.18.0.6
  if [ "$manage" -eq 1 ]; then
    manage_leg "$ns_unicom" u 198.18.1.0/24 198.18.0.9 198.18.0.10
    manage_leg "$ns_mobile" m 198.18.2.0/24 198.18.0.13 198.18.0.14
  fi
  trap - ERR
  echo "clouds: $name up (${namespaces[*]})"
}

down() {
  for ns in "${namespaces[@]}"; do
    exists "$ns" || continue
    local pids
    pids=$(ip netns pids "$ns" || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -9 $pids 2>/dev/null || true
    fi
  done
  for ns in "${namespaces[@]}"; do
    if exists "$ns"; then ip netns delete "$ns"; fi
  done
  # Host legs (--manage) and their routes go with the host side of each pair. Deleting a
  # namespace removes its end of the pair, and the kernel then removes the host end by
  # itself, a moment later: a leg gone between the look and the delete is no failure.
  for leg in "$name-hu" "$name-hm"; do
    if ip link show "$leg" >/dev/null 2>&1; then
      ip link delete "$leg" 2>/dev/null || ! ip link show "$leg" >/dev/null 2>&1 ||
        { echo "clouds: cannot delete host leg $leg" >&2; exit 1; }
    fi
  done
  echo "clouds: $name down"
}

status() {
  for ns in "${namespaces[@]}"; do
    if ! exists "$ns"; then echo "$ns: absent"; continue; fi
    echo "== $ns (ip_forward=$(ip netns exec "$ns" sysctl -n net.ipv4.ip_forward))"
    ip -n "$ns" -brief addr
    ip -n "$ns" route
    ip -n "$ns" route show table local type local | grep -v '^local 127\.' || true
  done
  for leg in "$name-hu" "$name-hm"; do
    if ip link show "$leg" >/dev/null 2>&1; then
      echo "== host leg $leg"
      ip -brief addr show "$leg"
    fi
  done
}

need_root
case "$action" in
  up) up "$@" ;;
  down) [ "$#" -eq 0 ] || usage; down ;;
  status) [ "$#" -eq 0 ] || usage; status ;;
  exec)
    [ "$#" -ge 2 ] || usage
    case "$1" in
      unicom) ns=$ns_unicom ;;
      mobile) ns=$ns_mobile ;;
      dmz) ns=$ns_dmz ;;
      *) usage ;;
    esac
    shift
    exec ip netns exec "$ns" "$@"
    ;;
  *) usage ;;
esac
