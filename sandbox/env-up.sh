#!/usr/bin/env bash
# Starts the local sandbox on 127.0.0.1 and free ports: etcd, kube-apiserver
# (RBAC, service-account keys), kube-controller-manager, kube-scheduler, KWOK with
# a few fake nodes, the workload simulator and Prometheus; then writes
# .sandbox/env.sh. A running, healthy sandbox with the same settings is reused;
# anything else is stopped (sandbox/env-down.sh) and replaced.
#
# Settings (environment):
#   TIDEMARK_POD_READY_DELAY_MS   pod start-up time KWOK simulates (10000)
#   TIDEMARK_POD_READY_JITTER_MS  upper bound of that time (delay * 1.2)
#   TIDEMARK_SCRAPE_INTERVAL      Prometheus scrape and evaluation interval (5s)
#   TIDEMARK_NODES                number of KWOK nodes (3)
#   TIDEMARK_SANDBOX_DIR          state, logs and env.sh (.sandbox in the repo)
#   TIDEMARK_CACHE                built binaries (~/.cache/tidemark)
#   TIDEMARK_START_TIMEOUT        seconds each component may take to get ready (120)
#   TIDEMARK_REAL_NODE            1: also one real node (kubelet + containerd) running
#                                 the Tidemark image, sandbox/real-node.sh (0)
#   TIDEMARK_KEDA                 1: also the real KEDA (operator and metrics API server,
#                                 built once into the cache), sandbox/keda.sh (0)
#   TIDEMARK_HPA_SYNC_PERIOD      the controller-manager's HPA sync period (15s, its
#                                 default); benchmarks that compress time shorten it
#   TIDEMARK_HPA_DOWNSCALE_STABILIZATION  the HPA's default scale-down stabilization
#                                 window, for HPAs whose behavior sets none (5m0s)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

POD_READY_DELAY_MS=${TIDEMARK_POD_READY_DELAY_MS:-10000}
POD_READY_JITTER_MS=${TIDEMARK_POD_READY_JITTER_MS:-$((POD_READY_DELAY_MS * 6 / 5))}
SCRAPE_INTERVAL=${TIDEMARK_SCRAPE_INTERVAL:-5s}
NODES=${TIDEMARK_NODES:-3}
START_TIMEOUT=${TIDEMARK_START_TIMEOUT:-120}
NODE_BIN=$SANDBOX_REPO/node_modules/.bin/node
WORKLOAD_MAIN=$SANDBOX_REPO/src/workload/main.ts
ETCD_BIN=${TIDEMARK_ETCD:-$ETCD_BIN_DIR/etcd}
PROMETHEUS_BIN=/usr/bin/prometheus
PROMTOOL_BIN=/usr/bin/promtool
KUBECTL=$KUBE_BIN_DIR/kubectl
ADMIN_KUBECONFIG=$SANDBOX_DIR/kubeconfig
TARGETS_DIR=$SANDBOX_DIR/prometheus/targets
START_EPOCH=$(date +%s.%N)

with_workload=0
[[ -f $WORKLOAD_MAIN ]] && with_workload=1
fingerprint="kube=$KUBE_VERSION kwok=$KWOK_VERSION etcd=$ETCD_BIN delay=$POD_READY_DELAY_MS jitter=$POD_READY_JITTER_MS"
fingerprint+=" scrape=$SCRAPE_INTERVAL nodes=$NODES workload=$with_workload webhook=1 dir=$SANDBOX_DIR"
REAL_NODE=${TIDEMARK_REAL_NODE:-0}
fingerprint+=" real-node=$REAL_NODE"
KEDA=${TIDEMARK_KEDA:-0}
HPA_SYNC_PERIOD=${TIDEMARK_HPA_SYNC_PERIOD:-15s}
HPA_DOWNSCALE_STABILIZATION=${TIDEMARK_HPA_DOWNSCALE_STABILIZATION:-5m0s}
fingerprint+=" keda=$KEDA hpa-sync=$HPA_SYNC_PERIOD hpa-downscale=$HPA_DOWNSCALE_STABILIZATION"

elapsed() { awk -v s="$START_EPOCH" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

print_usage() {
  local stop_cmd="make env-down"
  [[ -n ${TIDEMARK_SANDBOX_DIR:-} ]] && stop_cmd="TIDEMARK_SANDBOX_DIR=$SANDBOX_DIR make env-down"
  cat >&2 <<EOF
[sandbox] ready in $(elapsed)s. Use it with:
    source $SANDBOX_DIR/env.sh    # KUBECONFIG, PROMETHEUS_URL, PATH (kubectl $KUBE_VERSION first)
    kubectl get nodes
    curl -s "\$PROMETHEUS_URL/api/v1/query?query=up"
  Extra scrape targets: write Prometheus file_sd JSON to \$TIDEMARK_SCRAPE_TARGETS_DIR/*.json
  Logs: $LOG_DIR/    Stop: $stop_cmd
EOF
}

# --- reuse or replace -------------------------------------------------------

healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do
    [[ $c == workload ]] && ((!with_workload)) && continue
    pid_of "$c" >/dev/null || return 1
  done
  if ((REAL_NODE)); then
    for c in real-node-proxy containerd kubelet; do pid_of "$c" >/dev/null || return 1; done
  fi
  if ((KEDA)); then
    for c in keda-proxy keda-operator keda-metrics-apiserver; do pid_of "$c" >/dev/null || return 1; done
  fi
  [[ -f $SANDBOX_DIR/env.sh && -f $SANDBOX_DIR/fingerprint ]] || return 1
  [[ $(<"$SANDBOX_DIR/fingerprint") == "$fingerprint" ]] || return 1
  # shellcheck disable=SC1091
  (source "$SANDBOX_DIR/env.sh" &&
    kubectl get --raw /readyz >/dev/null 2>&1 &&
    curl -fsS -m 5 "$PROMETHEUS_URL/-/ready" >/dev/null 2>&1)
}

if healthy; then
  log "a healthy sandbox is already running; reusing it"
  print_usage
  exit 0
fi
if [[ -d $PID_DIR ]] && [[ -n $(ls -A "$PID_DIR" 2>/dev/null) ]]; then
  log "replacing the sandbox recorded in $SANDBOX_DIR"
  "$SANDBOX_REPO/sandbox/env-down.sh"
fi

"$SANDBOX_REPO/sandbox/build.sh"

# On any failure from here on, stop whatever this run started.
started=0
on_exit() {
  local rc=$?
  if ((rc != 0 && started)); then
    log "start failed; stopping what was started"
    "$SANDBOX_REPO/sandbox/env-down.sh" || true
  fi
}
trap on_exit EXIT

rm -rf "$SANDBOX_DIR/etcd" "$SANDBOX_DIR/prometheus/data" "$PKI_DIR" "$SANDBOX_DIR/env.sh" "$SANDBOX_DIR/fingerprint"
mkdir -p "$PID_DIR" "$LOG_DIR" "$PKI_DIR" "$TARGETS_DIR" "$SANDBOX_DIR/kwok"

# --- free ports ---------------------------------------------------------------

ETCD_PORT=$(free_port)
ETCD_PEER_PORT=$(free_port)
API_PORT=$(free_port)
KCM_PORT=$(free_port)
SCHED_PORT=$(free_port)
KWOK_PORT=$(free_port)
WORKLOAD_PORT=$(free_port)
WEBHOOK_PORT=$(free_port)
PROM_PORT=$(free_port)
API_URL=https://127.0.0.1:$API_PORT
PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT
WORKLOAD_URL=http://127.0.0.1:$WORKLOAD_PORT

# --- certificates and keys ----------------------------------------------------

log "generating certificates and service-account keys in $PKI_DIR"
(
  cd "$PKI_DIR"
  ec_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
  ec_key ca.key
  openssl req -x509 -new -key ca.key -subj "/CN=tidemark-sandbox-ca" -days 3650 -out ca.crt 2>/dev/null
  # sign NAME SUBJECT EXTENSIONS
  sign() {
    ec_key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out "$1.crt" \
        -extfile <(printf '%s\n' "$3") 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" "$(printf '%s\n%s' \
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "extendedKeyUsage=serverAuth")"
  sign admin "/O=system:masters/CN=tidemark-admin" "extendedKeyUsage=clientAuth"
  sign controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  sign scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  sign kwok "/O=system:masters/CN=kwok-controller" "extendedKeyUsage=clientAuth"
  # The aggregation layer's identity; also lets the controller-manager and the
  # scheduler find a request-header CA in extension-apiserver-authentication.
  sign front-proxy-client "/CN=front-proxy-client" "extendedKeyUsage=clientAuth"
  # The API server's identity towards kubelets (logs, exec): only the real node has one.
  # It is reached at its InternalIP (its host name resolves nowhere).
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  # Service-account token signing keys (ES256).
  ec_key sa.key
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
)

kubeconfig() { # NAME FILE
  cat >"$2" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: $API_URL
    certificate-authority: $PKI_DIR/ca.crt
users:
- name: $1
  user:
    client-certificate: $PKI_DIR/$1.crt
    client-key: $PKI_DIR/$1.key
contexts:
- name: sandbox
  context:
    cluster: sandbox
    user: $1
current-context: sandbox
EOF
}
kubeconfig admin "$ADMIN_KUBECONFIG"
kubeconfig controller-manager "$SANDBOX_DIR/controller-manager.kubeconfig"
kubeconfig scheduler "$SANDBOX_DIR/scheduler.kubeconfig"
kubeconfig kwok "$SANDBOX_DIR/kwok.kubeconfig"

# --- process helpers ----------------------------------------------------------

# start NAME PROGRAM ARGS...: start_recorded (lib.sh), noting that this run started
# something (for the clean-up on failure).
start() {
  start_recorded "$@"
  started=1
}

fail() { # NAME MESSAGE
  log "$1 failed to start: $2"
  log "last lines of $LOG_DIR/$1.log:"
  tail -n 40 "$LOG_DIR/$1.log" >&2 || true
  exit 1
}

# wait_for NAME DESCRIPTION COMMAND...: polls COMMAND until it succeeds, the
# process dies or START_TIMEOUT passes.
wait_for() {
  local name=$1 what=$2 deadline=$((SECONDS + START_TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    pid_of "$name" >/dev/null || fail "$name" "the process exited"
    ((SECONDS < deadline)) || fail "$name" "not $what after ${START_TIMEOUT}s"
    sleep 0.2
  done
  log "$name is $what ($(elapsed)s)"
}

kctl() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# --- etcd ---------------------------------------------------------------------

[[ -x $ETCD_BIN ]] || { log "$ETCD_BIN not found (sandbox/build.sh builds it)"; exit 1; }
start etcd "$ETCD_BIN" --name sandbox --data-dir "$SANDBOX_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "sandbox=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new
etcd_healthy() { curl -fsS -m 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
wait_for etcd healthy etcd_healthy

# --- kube-apiserver -----------------------------------------------------------
# --enable-aggregator-routing: the API server reaches APIService backends and webhooks
# configured by Service at their Endpoints' addresses, not at the ClusterIP: no
# kube-proxy runs here, so a ClusterIP leads nowhere (issues 21 and 22: the conversion
# webhook served by real pods, KEDA's metrics server behind its APIService).
# --endpoint-reconciler-type=none: since v1.37 the API server refuses to start with a
# loopback --advertise-address under the default (lease) reconciler, which could never
# write the `kubernetes` Endpoints here anyway (Endpoints refuse loopback addresses).

start kube-apiserver "$KUBE_BIN_DIR/kube-apiserver" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
  --client-ca-file="$PKI_DIR/ca.crt" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI_DIR/sa.pub" --service-account-signing-key-file="$PKI_DIR/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --requestheader-client-ca-file="$PKI_DIR/ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI_DIR/front-proxy-client.crt" \
  --proxy-client-key-file="$PKI_DIR/front-proxy-client.key" \
  --kubelet-client-certificate="$PKI_DIR/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI_DIR/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --enable-aggregator-routing=true \
  --endpoint-reconciler-type=none \
  --profiling=false
wait_for kube-apiserver ready kctl get --raw /readyz

# --- controller-manager and scheduler ------------------------------------------

start kube-controller-manager "$KUBE_BIN_DIR/kube-controller-manager" \
  --kubeconfig="$SANDBOX_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$SANDBOX_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$SANDBOX_DIR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --service-account-private-key-file="$PKI_DIR/sa.key" --root-ca-file="$PKI_DIR/ca.crt" \
  --use-service-account-credentials=true \
  --cluster-signing-cert-file="$PKI_DIR/ca.crt" --cluster-signing-key-file="$PKI_DIR/ca.key" \
  --horizontal-pod-autoscaler-sync-period="$HPA_SYNC_PERIOD" \
  --horizontal-pod-autoscaler-downscale-stabilization="$HPA_DOWNSCALE_STABILIZATION" \
  --leader-elect=false --profiling=false
start kube-scheduler "$KUBE_BIN_DIR/kube-scheduler" \
  --kubeconfig="$SANDBOX_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig="$SANDBOX_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig="$SANDBOX_DIR/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
  --leader-elect=false --profiling=false

# --- KWOK and its nodes ---------------------------------------------------------

sed -e "s/@POD_READY_DELAY_MS@/$POD_READY_DELAY_MS/g" -e "s/@POD_READY_JITTER_MS@/$POD_READY_JITTER_MS/g" \
  "$SANDBOX_REPO/sandbox/kwok/stages.yaml.in" >"$SANDBOX_DIR/kwok/stages.yaml"
start kwok "$KWOK_BIN_DIR/kwok" --kubeconfig="$SANDBOX_DIR/kwok.kubeconfig" \
  --config="$SANDBOX_DIR/kwok/stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 \
  --server-address="127.0.0.1:$KWOK_PORT" --cidr=10.244.0.0/16 --node-ip=10.240.0.1

nodes_yaml=$SANDBOX_DIR/kwok/nodes.yaml
: >"$nodes_yaml"
for ((i = 0; i < NODES; i++)); do
  cat >>"$nodes_yaml" <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
done
kctl apply -f "$nodes_yaml" >/dev/null

kcm_healthy() { curl -fsSk -m 2 "https://127.0.0.1:$KCM_PORT/healthz"; }
sched_healthy() { curl -fsSk -m 2 "https://127.0.0.1:$SCHED_PORT/healthz"; }
kwok_healthy() { curl -fsS -m 2 "http://127.0.0.1:$KWOK_PORT/healthz"; }
nodes_ready() {
  [[ $(kctl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '^True$') -ge $NODES ]]
}
# Pods in a namespace need its "default" ServiceAccount (the controller-manager makes it).
default_sa() { kctl get serviceaccount default -n default; }
wait_for kube-controller-manager healthy kcm_healthy
wait_for kube-scheduler healthy sched_healthy
wait_for kwok healthy kwok_healthy
wait_for kwok "managing $NODES Ready nodes" nodes_ready
wait_for kube-controller-manager "done creating service accounts" default_sa

# --- ScalingPolicy conversion webhook ----------------------------------------------

# v1beta1 is stored and v1alpha1 converted by Tidemark's webhook (docs/upgrading.md). It
# runs for the sandbox's whole life, so any test may read or write either version with or
# without an operator running; the API server reaches it by URL (no kube-proxy here). It
# keeps the CRD's spec.conversion pointing at itself, also after a test re-creates the CRD.
export KUBECONFIG=$ADMIN_KUBECONFIG
start webhook "$NODE_BIN" --disable-warning=ExperimentalWarning "$SANDBOX_REPO/bin/tidemark.js" webhook \
  --webhook-host 127.0.0.1 --webhook-port "$WEBHOOK_PORT" \
  --webhook-url "https://127.0.0.1:$WEBHOOK_PORT/convert" \
  --webhook-secret-namespace kube-system --webhook-recheck-seconds 2
webhook_healthy() { curl -fsSk -m 2 "https://127.0.0.1:$WEBHOOK_PORT/healthz"; }
wait_for webhook serving webhook_healthy

# --- workload simulator -----------------------------------------------------------

if ((with_workload)); then
  start workload "$NODE_BIN" --disable-warning=ExperimentalWarning "$WORKLOAD_MAIN" \
    --kubeconfig "$ADMIN_KUBECONFIG" --port "$WORKLOAD_PORT"
else
  log "no $WORKLOAD_MAIN yet: starting without the workload simulator"
fi

# --- Prometheus -------------------------------------------------------------------

prom_config=$SANDBOX_DIR/prometheus/prometheus.yml
cat >"$prom_config" <<EOF
# Generated by sandbox/env-up.sh.
global:
  scrape_interval: $SCRAPE_INTERVAL
  evaluation_interval: $SCRAPE_INTERVAL
scrape_configs:
  - job_name: workload
    static_configs:
      - targets: ['127.0.0.1:$WORKLOAD_PORT']
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$PROM_PORT']
  # Tests and the operator register themselves here (JSON, file_sd format);
  # a target's own "job" label overrides this job name.
  - job_name: sandbox
    file_sd_configs:
      - files: ['$TARGETS_DIR/*.json']
        refresh_interval: 5s
EOF
"$PROMTOOL_BIN" check config "$prom_config" >"$LOG_DIR/promtool.log" 2>&1 ||
  { cat "$LOG_DIR/promtool.log" >&2; exit 1; }
start prometheus "$PROMETHEUS_BIN" --config.file="$prom_config" \
  --storage.tsdb.path="$SANDBOX_DIR/prometheus/data" --storage.tsdb.retention.time=1d \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle --web.enable-admin-api

if ((with_workload)); then
  workload_healthy() { curl -fsS -m 2 "$WORKLOAD_URL/metrics"; }
  wait_for workload serving workload_healthy
fi
prom_ready() { curl -fsS -m 2 "$PROMETHEUS_URL/-/ready"; }
wait_for prometheus ready prom_ready

# --- the real node (opt-in) ---------------------------------------------------------

if ((REAL_NODE)); then
  "$SANDBOX_REPO/sandbox/real-node.sh" up "$API_PORT" "$PROM_PORT"
  log "real node is Ready ($(elapsed)s)"
fi

# --- the real KEDA (opt-in) -----------------------------------------------------------

if ((KEDA)); then
  "$SANDBOX_REPO/sandbox/keda.sh" up "$API_PORT"
  log "KEDA $KEDA_VERSION is serving external metrics ($(elapsed)s)"
fi

# --- env.sh -------------------------------------------------------------------------

cat >"$SANDBOX_DIR/env.sh" <<EOF
# Generated by sandbox/env-up.sh: source it to use the sandbox.
export SANDBOX_DIR='$SANDBOX_DIR'
export KUBECONFIG='$ADMIN_KUBECONFIG'
export KUBE_APISERVER_URL='$API_URL'
export PROMETHEUS_URL='$PROMETHEUS_URL'
export WORKLOAD_URL='$WORKLOAD_URL'
export TIDEMARK_WEBHOOK_URL='https://127.0.0.1:$WEBHOOK_PORT/convert'
export TIDEMARK_SCRAPE_TARGETS_DIR='$TARGETS_DIR'
export TIDEMARK_POD_READY_DELAY_MS='$POD_READY_DELAY_MS'
export TIDEMARK_POD_READY_JITTER_MS='$POD_READY_JITTER_MS'
export TIDEMARK_SCRAPE_INTERVAL='$SCRAPE_INTERVAL'
export KUBECTL='$KUBECTL'
export TIDEMARK_REAL_NODE='$REAL_NODE'
export TIDEMARK_KEDA='$KEDA'
export TIDEMARK_HPA_SYNC_PERIOD='$HPA_SYNC_PERIOD'
export TIDEMARK_HPA_DOWNSCALE_STABILIZATION='$HPA_DOWNSCALE_STABILIZATION'
export PATH='$KUBE_BIN_DIR:$KWOK_BIN_DIR':"\$PATH"
EOF
printf '%s' "$fingerprint" >"$SANDBOX_DIR/fingerprint"
print_usage
