#!/usr/bin/env bash
# Two machines on one host, for the ALUA pair on a SAN (docs/failover.md "Two machines on a
# SAN"): node 0 and node 1 each get a network namespace of their own, joined to each other by
# one veth pair (the peer link) and each joined to the root namespace by another (where the
# SAN target and the initiators are). Cutting the link stops the packets between the two
# nodes only: both stay alive and still reach the SAN and their initiators.
#
#   scripts/pair-netns.sh check                 exit 0 when namespaces can be made here, else
#                                               print why and exit 1 (not root, no `ip netns`)
#   scripts/pair-netns.sh create DIR OWNER_PID  make them; DIR/netns.env has names and addresses
#   scripts/pair-netns.sh destroy DIR           remove what `create DIR` made (stop the daemons
#                                               inside first: a namespace lives while they do)
#   scripts/pair-netns.sh cut DIR               take the node-to-node link down (both ends)
#   scripts/pair-netns.sh restore DIR           bring it up again
#   scripts/pair-netns.sh cut-san DIR N PORT    node N's packets to the SAN (TCP to PORT at its
#                                               SAN address) are dropped (a routing rule in its
#                                               namespace, blackhole): its SAN sessions stall
#                                               and it cannot log in again, while its initiators
#                                               and the link stay up
#   scripts/pair-netns.sh restore-san DIR N PORT  remove that rule
#   scripts/pair-netns.sh reap                  remove the namespaces of runs whose owner is
#                                               dead (a crashed test), ending what runs in them
#
# Names: namespaces stmfpair-OWNER-K-n0 / -n1 (OWNER the pid of the process that stops the
# pair, K the first free index of that owner), root-side interfaces spHEXPIDKa / ...b.
# Addresses: a /28 of 10.201.0.0/16 not yet used on this host, split into three /30s:
#   .1 root <-> .2 node 0 (uplink), .5 root <-> .6 node 1 (uplink), .9 node 0 <-> .10 node 1 (link)
set -euo pipefail
cmd=${1:?"usage: pair-netns.sh check | create DIR OWNER_PID | destroy DIR | cut DIR | restore DIR | cut-san DIR N PORT | restore-san DIR N PORT | reap"}
prefix=stmfpair
net_base=10.201   # a /16 of private space; each run takes one /28 of it
slots=4096        # /28s in the /16

why_not() {  # prints why namespaces cannot be made here, nothing when they can
  [ "$(id -u)" -eq 0 ] || { echo "network namespaces need root (uid $(id -u))"; return; }
  command -v ip >/dev/null || { echo "no ip command (iproute2)"; return; }
  local probe=$prefix-probe-$$
  ip netns add "$probe" 2>/dev/null || { echo "ip netns add failed"; return; }
  if ! ip -n "$probe" link add probe0 type veth peer name probe1 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null || true
    echo "no veth support"; return
  fi
  ip netns del "$probe" 2>/dev/null || true
}

# Ends what runs in namespace $1 (processes of a dead run of ours), then deletes it.
remove_ns() {
  local ns=$1 p
  [ -e "/run/netns/$ns" ] || return 0
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  for p in $(ip netns pids "$ns" 2>/dev/null); do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true
}

case "$cmd" in
  check)
    reason=$(why_not)
    [ -z "$reason" ] && exit 0
    echo "$reason"; exit 1 ;;
  reap)
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix-[0-9]+-[0-9]+-n[01]$" || true); do
      owner=${ns#"$prefix"-}; owner=${owner%%-*}
      kill -0 "$owner" 2>/dev/null && continue
      remove_ns "$ns"
    done
    exit 0 ;;
esac

dir=${2:?"pair-netns.sh $cmd DIR"}
env_file=$dir/netns.env
if [ "$cmd" != create ]; then
  [ -f "$env_file" ] || exit 0   # nothing was made
  # shellcheck disable=SC1090
  . "$env_file"
fi

case "$cmd" in
  cut)
    ip -n "$NETNS0" link set link0 down
    ip -n "$NETNS1" link set link1 down
    exit 0 ;;
  restore)
    ip -n "$NETNS0" link set link0 up
    ip -n "$NETNS1" link set link1 up
    exit 0 ;;
  cut-san|restore-san)
    n=${3:?"pair-netns.sh $cmd DIR N PORT"}; port=${4:?"pair-netns.sh $cmd DIR N PORT"}
    case "$n" in 0|1) ;; *) echo "pair-netns.sh: node must be 0 or 1" >&2; exit 2 ;; esac
    ns=NETNS$n; addr=SAN_ADDR$n
    verb=add; [ "$cmd" = restore-san ] && verb=del
    ip -n "${!ns}" rule "$verb" to "${!addr}" ipproto tcp dport "$port" blackhole
    exit 0 ;;
  destroy)
    # Deleting a namespace deletes its interfaces, and with each veth its root-side peer.
    remove_ns "$NETNS0"
    remove_ns "$NETNS1"
    rm -f "$env_file"
    exit 0 ;;
  create) ;;
  *) echo "pair-netns.sh: unknown command $cmd" >&2; exit 2 ;;
esac

owner=${3:?"pair-netns.sh create DIR OWNER_PID"}
reason=$(why_not)
[ -z "$reason" ] || { echo "pair-netns.sh: $reason" >&2; exit 1; }
"$0" reap
mkdir -p "$dir"
k=""
for i in $(seq 0 9); do
  [ -e "/run/netns/$prefix-$owner-$i-n0" ] || { k=$i; break; }
done
[ -n "$k" ] || { echo "pair-netns.sh: owner $owner has ten pairs already" >&2; exit 1; }
ns0=$prefix-$owner-$k-n0; ns1=$prefix-$owner-$k-n1
hex=$(printf '%x' "$owner")
if0=sp$hex${k}a; if1=sp$hex${k}b

# A /28 no interface of this host has an address in yet.
used=$(ip -4 -o addr show | awk '{print $4}')
slot=""
start=$(( (owner * 10 + k) % slots ))
for n in $(seq 0 $((slots - 1))); do
  s=$(( (start + n) % slots ))
  third=$(( s / 16 )); fourth=$(( (s % 16) * 16 ))
  grep -q "^$net_base\.$third\.$((fourth + 1))/" <<<"$used" || { slot=$s; break; }
done
[ -n "$slot" ] || { echo "pair-netns.sh: no free /28 in $net_base.0.0/16" >&2; exit 1; }
pre=$net_base.$third
san0=$pre.$((fourth + 1)); node0=$pre.$((fourth + 2))
san1=$pre.$((fourth + 5)); node1=$pre.$((fourth + 6))
link0=$pre.$((fourth + 9)); link1=$pre.$((fourth + 10))

# Written first: a failure below leaves a file `destroy` can clean up after.
cat >"$env_file" <<ENV
NETNS0=$ns0
NETNS1=$ns1
ROOT_IF0=$if0
ROOT_IF1=$if1
SAN_ADDR0=$san0
SAN_ADDR1=$san1
NODE_ADDR0=$node0
NODE_ADDR1=$node1
LINK_ADDR0=$link0
LINK_ADDR1=$link1
ENV
fail() { echo "pair-netns.sh: $1" >&2; "$0" destroy "$dir"; exit 1; }
ip netns add "$ns0" || fail "cannot add namespace $ns0"
ip netns add "$ns1" || fail "cannot add namespace $ns1"
{
  ip link add "$if0" type veth peer name uplink netns "$ns0" &&
  ip link add "$if1" type veth peer name uplink netns "$ns1" &&
  ip -n "$ns0" link add link0 type veth peer name link1 netns "$ns1" &&
  ip addr add "$san0/30" dev "$if0" && ip link set "$if0" up &&
  ip addr add "$san1/30" dev "$if1" && ip link set "$if1" up &&
  ip -n "$ns0" addr add "$node0/30" dev uplink && ip -n "$ns0" link set uplink up &&
  ip -n "$ns1" addr add "$node1/30" dev uplink && ip -n "$ns1" link set uplink up &&
  ip -n "$ns0" addr add "$link0/30" dev link0 && ip -n "$ns0" link set link0 up &&
  ip -n "$ns1" addr add "$link1/30" dev link1 && ip -n "$ns1" link set link1 up &&
  ip -n "$ns0" link set lo up && ip -n "$ns1" link set lo up
} || fail "cannot set up the links"
cat "$env_file"
