#!/usr/bin/env bash
# real-node.sh {up API_PORT [PROM_PORT]|down|status}: one real node beside the KWOK nodes, for
# running Tidemark's own image as real pods. Opt-in: `TIDEMARK_REAL_NODE=1 make env-up`
# runs `up` at the end of sandbox/env-up.sh; sandbox/env-down.sh always runs `down`
# (a no-op when there is no real node).
#
# What it starts, all recorded in .sandbox/pids/ like the other components:
#   real-node-proxy  socat on the host side of the node's veth (HOST_IP:API_PORT), to
#                    the API server on 127.0.0.1 (which listens on loopback only)
#   real-node-prom-proxy  the same for Prometheus (HOST_IP:PROM_PORT), so that operator
#                    pods on the node can query it (with PROM_PORT only)
#   containerd       Debian's containerd, in the node's network namespace, with its own
#                    root, state and socket under .sandbox/node/ (no systemd here)
#   kubelet          built with the control plane (sandbox/build.sh), same namespace
#
# The node's network: a network namespace of the sandbox's own (tidemark-<hash of the
# sandbox dir>) joined to the host by a veth pair, HOST_IP/30 (172.31.x.y) on the host side and
# NODE_IP/30 inside: the kubelet refuses a loopback node IP ("nodeIP can't be loopback
# address"), and without a node address `kubectl logs` fails ("no preferred addresses
# found"). Pods get addresses from CNI bridge + host-local (POD_SUBNET) inside that
# namespace only, masqueraded to NODE_IP when they leave it. No kube-proxy runs: the
# in-cluster address of the API server (10.0.0.1:443, the `kubernetes` Service) is
# DNAT-ed inside the namespace to the proxy. The API server (on the host) reaches pods
# (the conversion webhook behind its Service, resolved to the pod IPs by
# --enable-aggregator-routing; `kubectl port-forward`-free metrics reads in the e2e) by
# one host route, POD_SUBNET via NODE_IP on the host end of the veth. Nothing else on
# the host is changed: no address, route or iptables rule outside the namespace but the
# host end of the veth and that route, both gone with the veth at `down`.
#
# What these machines need (issue 21): cgroup v1 (`failCgroupV1: false`, cgroupfs,
# `cgroupsPerQOS: false` with `enforceNodeAllocatable: []`, `failSwapOn: false`); no
# CAP_SYS_RESOURCE, so runc cannot set the negative oom_score_adj the kubelet asks for
# (-998 for every pod sandbox: "can't get final child's PID from pipe: EOF"): runc runs
# through a wrapper that clamps a negative oomScoreAdj in the bundle's config.json to 0;
# no registry, so the pause image is built locally (a static Go program) and the
# Tidemark image (sandbox/image.sh) is imported into containerd.
#
# The node is tainted (tidemark.dev/real-node=true:NoSchedule): workload pods stay on
# KWOK; pods meant for it tolerate the taint and select the label tidemark.dev/real-node.
#
# Settings: TIDEMARK_REAL_NODE_NET (the /30 of the veth pair, 172.31.x.y from a hash),
# TIDEMARK_REAL_NODE_PODS (the pods' /24, 10.252-255.x.0 from the same hash).
#
# `up` writes $SANDBOX_DIR/node/network.json (hostIp, nodeIp, podSubnet, prometheusUrl:
# the addresses a pod on the node uses) for the e2e.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=opt-in.sh
source "$(dirname "$0")/opt-in.sh"

APT_NODE_PACKAGES=(containerd runc containernetworking-plugins iproute2 iptables socat jq util-linux)
NODE_NAME=tidemark-real-node
STATE=$SANDBOX_DIR/node
NETNS=tidemark-$(printf '%s' "$SANDBOX_DIR" | sha256sum | cut -c1-8)
VETH_HOST=tmh-${NETNS#tidemark-}
VETH_NODE=tmn-${NETNS#tidemark-}
# The veth pair's /30 in 172.31.0.0/16, picked by the same hash, so that sandboxes in
# different directories (worktrees, make test-real-node) do not collide.
hash=$(printf '%s' "$SANDBOX_DIR" | sha256sum)
NET_BASE=${TIDEMARK_REAL_NODE_NET:-172.31.$((16#${hash:0:2})).$(((16#${hash:2:2} % 64) * 4))}
HOST_IP=${NET_BASE%.*}.$((${NET_BASE##*.} + 1))
NODE_IP=${NET_BASE%.*}.$((${NET_BASE##*.} + 2))
# The pods' /24 in 10.252.0.0/14, by the same hash: the host routes it to this node, so
# two sandboxes must not pick the same one.
POD_SUBNET=${TIDEMARK_REAL_NODE_PODS:-10.$((252 + 16#${hash:4:2} % 4)).$((16#${hash:6:2})).0/24}
SOCK=$STATE/containerd/containerd.sock
KUBECTL=$KUBE_BIN_DIR/kubectl
NODE_COMPONENTS=(real-node-proxy real-node-prom-proxy containerd kubelet)
START_TIMEOUT=${TIDEMARK_START_TIMEOUT:-120}
PAUSE_IMAGE=localhost/tidemark-pause:1

log() { printf '[real node] %s\n' "$*" >&2; }
kctl() { "$KUBECTL" --kubeconfig "$SANDBOX_DIR/kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }
in_ns() { nsenter --net="/run/netns/$NETNS" "$@"; }

# shellcheck source=apt.sh
source "$(dirname "$0")/apt.sh"


# --- network -------------------------------------------------------------------------

net_up() {
  if ip -o addr show | grep -qw "inet $HOST_IP/30" && ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
    log "$HOST_IP is taken by another interface: set TIDEMARK_REAL_NODE_NET to a free /30"
    exit 1
  fi
  if [[ -n $(ip route show "$POD_SUBNET") ]]; then
    log "the host already routes $POD_SUBNET ($(ip route show "$POD_SUBNET")): set TIDEMARK_REAL_NODE_PODS to a free /24"
    exit 1
  fi
  ip netns add "$NETNS"
  ip link add "$VETH_HOST" type veth peer name "$VETH_NODE"
  ip link set "$VETH_NODE" netns "$NETNS"
  ip addr add "$HOST_IP/30" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  in_ns ip link set lo up
  in_ns ip link set "$VETH_NODE" name eth0
  in_ns ip addr add "$NODE_IP/30" dev eth0
  in_ns ip link set eth0 up
  in_ns ip route add default via "$HOST_IP"
  # The host (the API server) reaches the pods through the node, as a cluster's pod
  # network would: only this sandbox's /24, on this sandbox's veth.
  ip route add "$POD_SUBNET" via "$NODE_IP" dev "$VETH_HOST"
  # Per namespace: the bridge forwards pod traffic out of eth0.
  in_ns sysctl -qw net.ipv4.ip_forward=1
  # Pods reach the API server at the `kubernetes` Service address, as in any cluster.
  in_ns iptables -t nat -A PREROUTING -d 10.0.0.1/32 -p tcp --dport 443 \
    -j DNAT --to-destination "$HOST_IP:$API_PORT"
}

net_down() {
  ip route del "$POD_SUBNET" via "$NODE_IP" dev "$VETH_HOST" 2>/dev/null || true
  ip link del "$VETH_HOST" 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
}

# --- containerd --------------------------------------------------------------------

write_runc_wrapper() {
  cat >"$STATE/runc" <<'EOF'
#!/bin/sh
# runc, with a negative oomScoreAdj in the bundle's config.json clamped to 0: these
# machines deny CAP_SYS_RESOURCE, which lowering oom_score_adj needs, and the kubelet
# asks for -998 on every pod sandbox (runc then fails with "can't get final child's PID
# from pipe: EOF"). Written by sandbox/real-node.sh.
bundle=
prev=
for a in "$@"; do
  case $prev in --bundle | -b) bundle=$a ;; esac
  case $a in --bundle=*) bundle=${a#--bundle=} ;; esac
  prev=$a
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  sed -i -E 's/"oomScoreAdj":[[:space:]]*-[0-9]+/"oomScoreAdj":0/' "$bundle/config.json"
fi
exec /usr/sbin/runc "$@"
EOF
  chmod 755 "$STATE/runc"
}

write_containerd_config() {
  mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam"
  cat >"$STATE/containerd/config.toml" <<EOF
# Generated by sandbox/real-node.sh.
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$STATE/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
  cat >"$STATE/cni/net.d/10-tidemark.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NETNS",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "tmbr0",
      "isGateway": true,
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{ "subnet": "$POD_SUBNET" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# A static Go program that waits for a signal: the pod sandbox's pause process.
build_pause_image() {
  local dir=$TIDEMARK_CACHE/real-node/pause
  if [[ ! -s $dir/pause.tar ]]; then
    log "building the pause image $PAUSE_IMAGE"
    mkdir -p "$dir"
    cat >"$dir/pause.go" <<'EOF'
// The pod sandbox's pause process: holds the pod's namespaces until it is told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
EOF
    (cd "$dir" && CGO_ENABLED=0 GO111MODULE=off go build -trimpath -ldflags='-s -w' -o pause pause.go)
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$dir/Containerfile"
    "$SANDBOX_REPO/sandbox/image.sh" podman build --pull=never --quiet --tag "$PAUSE_IMAGE" "$dir" >/dev/null
    "$SANDBOX_REPO/sandbox/image.sh" podman save --quiet --format docker-archive --output "$dir/pause.tar.tmp" "$PAUSE_IMAGE"
    mv "$dir/pause.tar.tmp" "$dir/pause.tar"
  fi
  ctr_ images import "$dir/pause.tar" >/dev/null
}

# The Tidemark image (make image), under the name the chart's `tidemark:<version>` means,
# and a second tag, <version>-next, for the e2e's `helm upgrade` to a newer image: the same
# layers plus one label (a new image ID, no second build), saved in the same archive.
import_tidemark_image() {
  local version tar=$STATE/tidemark-image.tar img=$SANDBOX_REPO/sandbox/image.sh
  version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$SANDBOX_REPO/package.json" | head -n 1)
  "$img" build >"$LOG_DIR/image.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/image.log" >&2; log "make image failed"; exit 1; }
  mkdir -p "$STATE/next-image"
  printf 'FROM localhost/tidemark:%s\nLABEL dev.tidemark.sandbox-upgrade="next"\n' "$version" \
    >"$STATE/next-image/Containerfile"
  "$img" podman build --pull=never --quiet --tag "localhost/tidemark:$version-next" "$STATE/next-image" >/dev/null
  rm -f "$tar"
  "$img" podman save --quiet --multi-image-archive --format docker-archive --output "$tar" \
    "localhost/tidemark:$version" "localhost/tidemark:$version-next"
  ctr_ images import "$tar" >/dev/null
  rm -f "$tar"
  local tag
  for tag in "$version" "$version-next"; do
    ctr_ images tag --force "localhost/tidemark:$tag" "docker.io/library/tidemark:$tag" >/dev/null
  done
  log "imported tidemark:$version and tidemark:$version-next into the node's containerd"
}

# --- kubelet -----------------------------------------------------------------------

write_kubelet_files() {
  local k=$STATE/kubelet
  mkdir -p "$k" "$STATE/pod-logs"
  (
    cd "$k"
    openssl ecparam -name prime256v1 -genkey -noout -out client.key 2>/dev/null
    openssl req -new -key client.key -subj "/O=system:nodes/CN=system:node:$NODE_NAME" 2>/dev/null |
      openssl x509 -req -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" -CAcreateserial -days 3650 \
        -out client.crt -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out serving.key 2>/dev/null
    openssl req -new -key serving.key -subj "/CN=$NODE_NAME" 2>/dev/null |
      openssl x509 -req -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" -CAcreateserial -days 3650 \
        -out serving.crt \
        -extfile <(printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$NODE_IP" "$NODE_NAME") 2>/dev/null
    chmod 600 ./*.key
  )
  # The API server's certificate names kubernetes/10.0.0.1/127.0.0.1, not HOST_IP.
  cat >"$k/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: https://$HOST_IP:$API_PORT
    tls-server-name: kubernetes
    certificate-authority: $PKI_DIR/ca.crt
users:
- name: kubelet
  user:
    client-certificate: $k/client.crt
    client-key: $k/client.key
contexts:
- name: sandbox
  context: {cluster: sandbox, user: kubelet}
current-context: sandbox
EOF
  cat >"$k/config.yaml" <<EOF
# Generated by sandbox/real-node.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 and no systemd on these machines; Kubernetes >= 1.35 refuses v1 without
# failCgroupV1: false. Without per-QoS cgroups there is no node allocatable to enforce.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://$SOCK
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $k/serving.crt
tlsPrivateKeyFile: $k/serving.key
# The API server presents its kubelet client certificate (sandbox CA) for logs and exec.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization: {mode: Webhook}
podLogsDir: $STATE/pod-logs
clusterDomain: cluster.local
# Images are imported, never pulled: keep them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
registerWithTaints:
- {key: tidemark.dev/real-node, value: "true", effect: NoSchedule}
EOF
}

# --- up / down ---------------------------------------------------------------------------

up() {
  API_PORT=${1:?usage: real-node.sh up API_PORT [PROM_PORT]}
  local prom_port=${2:-}
  [[ -x $KUBE_BIN_DIR/kubelet ]] || { log "no kubelet in $KUBE_BIN_DIR (TIDEMARK_REAL_NODE=1 sandbox/build.sh builds it)"; exit 1; }
  install_apt_packages "${APT_NODE_PACKAGES[@]}"
  down_quiet
  rm -rf "$STATE"
  mkdir -p "$STATE" "$PID_DIR" "$LOG_DIR"
  net_up
  start_recorded real-node-proxy socat "TCP-LISTEN:$API_PORT,bind=$HOST_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
  local prom_url=
  if [[ -n $prom_port ]]; then
    start_recorded real-node-prom-proxy socat "TCP-LISTEN:$prom_port,bind=$HOST_IP,fork,reuseaddr" "TCP:127.0.0.1:$prom_port"
    prom_url=http://$HOST_IP:$prom_port
  fi
  jq -n --arg hostIp "$HOST_IP" --arg nodeIp "$NODE_IP" --arg podSubnet "$POD_SUBNET" --arg prometheusUrl "$prom_url" \
    '{$hostIp, $nodeIp, $podSubnet, $prometheusUrl}' >"$STATE/network.json"
  write_runc_wrapper
  write_containerd_config
  start_recorded_in_netns containerd containerd --config "$STATE/containerd/config.toml"
  wait_for containerd serving ctr_ version
  build_pause_image
  import_tidemark_image
  write_kubelet_files
  start_recorded_in_netns kubelet "$KUBE_BIN_DIR/kubelet" --config="$STATE/kubelet/config.yaml" \
    --kubeconfig="$STATE/kubelet/kubeconfig" --root-dir="$STATE/kubelet/root" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels="tidemark.dev/real-node=true" --v=1
  node_ready() {
    [[ $(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
  }
  wait_for kubelet "Ready as node $NODE_NAME ($NODE_IP)" node_ready
}

# Stops the node's pods (their shims run in sessions of their own), then the components,
# then unmounts whatever the kubelet and containerd left under .sandbox/node, and removes
# the pods' and the node's network namespaces.
down_quiet() {
  local id ns
  stop_recorded kubelet
  if pid_of containerd >/dev/null; then
    for id in $(ctr_ containers ls -q 2>/dev/null); do
      ns=$(ctr_ containers info "$id" 2>/dev/null |
        jq -r '.Spec.linux.namespaces[]? | select(.type == "network") | .path // empty' 2>/dev/null || true)
      ctr_ tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
      ctr_ tasks delete --force "$id" >/dev/null 2>&1 || true
      ctr_ containers delete "$id" >/dev/null 2>&1 || true
      if [[ $ns == /var/run/netns/cni-* || $ns == /run/netns/cni-* ]]; then
        umount "$ns" 2>/dev/null || true
        rm -f "$ns"
      fi
    done
  fi
  stop_recorded containerd
  stop_recorded real-node-proxy
  stop_recorded real-node-prom-proxy
  # Shims of this containerd still running (found by its socket on their command line).
  local p
  for p in $(pgrep -f -- "-address $SOCK" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
  # libcni's result cache has a fixed place (/var/lib/cni/results): this network's
  # entries (named after it) and the loopback entries of the same containers.
  local f cid
  for f in /var/lib/cni/results/"$NETNS"-*; do
    [[ -e $f ]] || continue
    cid=${f#/var/lib/cni/results/"$NETNS"-}
    cid=${cid%-*}
    rm -f "$f" "/var/lib/cni/results/cni-loopback-$cid-lo"
  done
  if [[ -d $STATE ]]; then
    awk -v s="$STATE/" 'index($2, s) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  net_down
}

opt_in_main "$0 {up API_PORT [PROM_PORT]|down|status}" NODE_COMPONENTS "$@"
