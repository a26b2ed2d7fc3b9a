#!/bin/sh
# Nodes on one machine for the MPI rehearsal (tests/mpi_nodes.rs): network
# namespaces on a bridge, each with its own address, as separate machines
# on a private subnet would be.
#
#   netns.sh up PREFIX N NET    make PREFIX-br and nodes PREFIX-0..N-1 at NET.10+i/24
#   netns.sh down PREFIX N      remove them (and every process left inside)
#   netns.sh cut PREFIX I       cut node I's link (packets dropped, no reset)
set -eu
cmd=$1 prefix=$2
case "$cmd" in
up)
  n=$3 net=$4
  ip link add "$prefix-br" type bridge
  ip addr add "$net.1/24" dev "$prefix-br"
  ip link set "$prefix-br" up
  i=0
  while [ "$i" -lt "$n" ]; do
    ns="$prefix-$i"
    ip netns add "$ns"
    ip link add "$prefix-h$i" type veth peer name "$prefix-n$i"
    ip link set "$prefix-n$i" netns "$ns"
    ip link set "$prefix-h$i" master "$prefix-br" up
    ip netns exec "$ns" ip addr add "$net.$((10 + i))/24" dev "$prefix-n$i"
    ip netns exec "$ns" ip link set "$prefix-n$i" up
    ip netns exec "$ns" ip link set lo up
    i=$((i + 1))
  done
  ;;
down)
  n=$3
  i=0
  while [ "$i" -lt "$n" ]; do
    ns="$prefix-$i"
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    ip link del "$prefix-h$i" 2>/dev/null || true
    i=$((i + 1))
  done
  ip link del "$prefix-br" 2>/dev/null || true
  ;;
cut)
  # Drop everything on the node's side, as a pulled cable does: no FIN,
  # no RST, the peers only stop hearing it.
  ip netns exec "$prefix-$3" tc qdisc add dev "$prefix-n$3" root netem loss 100% 2>/dev/null \
    || ip netns exec "$prefix-$3" ip link set "$prefix-n$3" down
  ;;
*)
  echo "netns.sh: unknown command $cmd" >&2
  exit 2
  ;;
esac
