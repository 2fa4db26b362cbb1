# Network namespaces of the sandbox's own (sourced, not run): a namespace joined to
# the host by a veth pair on a /30 picked by a hash of the sandbox directory, so that
# sandboxes in different directories (worktrees, make test-*) do not collide. The
# API server's aggregation layer and Service-configured webhooks reach a backend at
# its Endpoints' addresses, which may not be loopback: a process in such a namespace
# has an address of its own that only this host routes. Nothing else on the host is
# changed: no address, route or iptables rule outside the namespace but the host end
# of the veth.
#
# Used by sandbox/keda.sh (KEDA's metrics API server); the same layout as the real
# node's network in sandbox/real-node.sh (namespace tidemark-<hash>, veth tmh-/tmn-,
# 172.31.0.0/16), which may move onto these functions.
# shellcheck shell=bash

# netns_define NAME VETH_TAG NET16 [NET_OVERRIDE]: sets NETNS (tidemark-NAME-<hash>),
# NETNS_VETH_HOST, NETNS_VETH_NS (VETH_TAG h/n + hash: at most 15 characters),
# NETNS_HOST_IP and NETNS_IP: the /30 NET_OVERRIDE (a.b.c.d, its network address) or
# one in NET16.0.0/16 (e.g. 172.30) from the hash of $SANDBOX_DIR.
netns_define() {
  local name=$1 tag=$2 net16=$3 override=${4:-} hash base
  hash=$(printf '%s' "$SANDBOX_DIR" | sha256sum)
  NETNS=tidemark-$name-${hash:0:8}
  NETNS_VETH_HOST=${tag}h-${hash:0:8}
  NETNS_VETH_NS=${tag}n-${hash:0:8}
  base=${override:-$net16.$((16#${hash:0:2})).$(((16#${hash:2:2} % 64) * 4))}
  NETNS_HOST_IP=${base%.*}.$((${base##*.} + 1))
  NETNS_IP=${base%.*}.$((${base##*.} + 2))
}

# netns_exec PROGRAM ARGS...: runs it in the namespace (nsenter execs it: same PID).
netns_exec() { nsenter --net="/run/netns/$NETNS" "$@"; }

# netns_up: creates the namespace, the veth pair and the addresses (HOST_IP/30 on the
# host end, IP/30 as eth0 inside, default route to the host end). Fails when the
# host address is taken by an interface that is not ours.
netns_up() {
  if ip -o addr show | grep -qw "inet $NETNS_HOST_IP/30" && ! ip link show "$NETNS_VETH_HOST" >/dev/null 2>&1; then
    printf '[sandbox] %s is taken by another interface: pick another /30\n' "$NETNS_HOST_IP" >&2
    return 1
  fi
  ip netns add "$NETNS"
  ip link add "$NETNS_VETH_HOST" type veth peer name "$NETNS_VETH_NS"
  ip link set "$NETNS_VETH_NS" netns "$NETNS"
  ip addr add "$NETNS_HOST_IP/30" dev "$NETNS_VETH_HOST"
  ip link set "$NETNS_VETH_HOST" up
  netns_exec ip link set lo up
  netns_exec ip link set "$NETNS_VETH_NS" name eth0
  netns_exec ip addr add "$NETNS_IP/30" dev eth0
  netns_exec ip link set eth0 up
  netns_exec ip route add default via "$NETNS_HOST_IP"
}

# netns_down: removes both (a no-op when they are gone).
netns_down() {
  ip link del "$NETNS_VETH_HOST" 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
}
