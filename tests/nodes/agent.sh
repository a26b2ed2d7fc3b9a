#!/bin/sh
# OpenMPI's rsh agent for the namespace nodes: `agent.sh HOST COMMAND...`
# runs COMMAND inside the node whose address is HOST, with its own host
# name (a UTS namespace), as ssh would on a real node. STYLIZE_NODES maps
# addresses to namespaces: "10.77.1.10=stz-0 10.77.1.11=stz-1 ...".
set -eu
host=$1
shift
for pair in $STYLIZE_NODES; do
  if [ "${pair%%=*}" = "$host" ]; then
    ns=${pair#*=}
    exec ip netns exec "$ns" unshare --uts sh -c "hostname $ns; exec sh -c \"\$0\"" "$*"
  fi
done
echo "agent.sh: no node at $host" >&2
exit 255
