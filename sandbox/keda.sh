#!/usr/bin/env bash
# keda.sh {up API_PORT|down|status}: the real KEDA (sandbox/versions.sh: KEDA_VERSION)
# beside the sandbox's control plane, so that a KEDA ScaledObject is scaled by KEDA's
# HPA in the sandbox's real kube-controller-manager. Opt-in: `TIDEMARK_KEDA=1 make
# env-up` runs `up` at the end of sandbox/env-up.sh; sandbox/env-down.sh always runs
# `down` (a no-op when KEDA is not there).
#
# What it starts, recorded in .sandbox/pids/ like the other components:
#   keda-proxy              socat on the host end of KEDA's veth (HOST_IP:API_PORT) to
#                           the API server, which listens on loopback only
#   keda-operator           KEDA's operator, a host process: it reconciles ScaledObjects
#                           into HPAs, queries the scalers (Prometheus at 127.0.0.1
#                           works) and serves their values over gRPC (mTLS) at
#                           HOST_IP:9666 to the metrics API server
#   keda-metrics-apiserver  KEDA's metrics API server ("adapter"), inside a network
#                           namespace of the sandbox's own (sandbox/netns.sh,
#                           172.30.0.0/16 by default), serving external.metrics.k8s.io
#                           over TLS at NS_IP:6443
#
# The aggregation layer reaches the metrics API server through the Service
# keda/keda-metrics-apiserver, which has no selector: its Endpoints and EndpointSlice
# are written here with NS_IP (the API server runs with --enable-aggregator-routing,
# and Endpoints refuse loopback addresses, hence the namespace). The APIService
# v1beta1.external.metrics.k8s.io carries the sandbox CA as its caBundle.
#
# Identity: both KEDA processes authenticate as the ServiceAccount keda/keda-operator
# (a TokenRequest token in their kubeconfigs), so KEDA's shipped RBAC applies
# unchanged: config/rbac (the ClusterRole keda-operator) and config/metrics-server
# (auth delegation, the extension-apiserver-authentication reader, and external
# metrics for the HPA controller's ServiceAccount). Manifests, CRDs included, are
# read from the KEDA module in the Go module cache (sandbox/build-keda.sh fetches it).
#
# Certificates (STATE/certs, signed by the sandbox CA in .sandbox/pki): one key pair
# for serving and client auth, as KEDA's own cert rotation makes; both processes read
# ca.crt, tls.crt and tls.key from there (--cert-dir), where KEDA expects /certs.
#
# Settings: TIDEMARK_KEDA_NET (the /30 of the veth pair, 172.30.x.y from a hash),
# TIDEMARK_KEDA_LOG_LEVEL (KEDA's --zap-log-level, info).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=opt-in.sh
source "$here/opt-in.sh"
# shellcheck source=netns.sh
source "$here/netns.sh"
# shellcheck source=apt.sh
source "$here/apt.sh"

APT_KEDA_PACKAGES=(iproute2 socat util-linux openssl)
STATE=$SANDBOX_DIR/keda
CERTS=$STATE/certs
KUBECTL=$KUBE_BIN_DIR/kubectl
KEDA_NS=keda
GRPC_PORT=9666
ADAPTER_PORT=6443
START_TIMEOUT=${TIDEMARK_START_TIMEOUT:-120}
LOG_LEVEL=${TIDEMARK_KEDA_LOG_LEVEL:-info}
KEDA_COMPONENTS=(keda-proxy keda-operator keda-metrics-apiserver)
netns_define keda tk 172.30 "${TIDEMARK_KEDA_NET:-}"

log() { printf '[keda] %s\n' "$*" >&2; }
kctl() { "$KUBECTL" --kubeconfig "$SANDBOX_DIR/kubeconfig" "$@"; }


# The KEDA module's directory in the module cache (config/ holds its manifests).
keda_module_dir() {
  (cd "$here/keda" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/kedacore/keda/v2)
}

# --- manifests ------------------------------------------------------------------------

install_manifests() {
  local mod=$1
  kctl apply -f "$mod/config/general/namespace.yaml" -f "$mod/config/service_account/service_account.yaml" >/dev/null
  # Server-side: the ScaledJob CRD is larger than the last-applied annotation allows.
  kctl apply --server-side --force-conflicts -k "$mod/config/crd" >/dev/null
  kctl apply -k "$mod/config/rbac" >/dev/null
  kctl apply -f "$mod/config/metrics-server/role.yaml" -f "$mod/config/metrics-server/role_binding.yaml" >/dev/null
  kctl wait --for=condition=Established --timeout="${START_TIMEOUT}s" \
    crd/scaledobjects.keda.sh crd/triggerauthentications.keda.sh >/dev/null
  log "installed KEDA's CRDs and RBAC from $mod/config"
}

# The metrics API server's Service (no selector), its Endpoints and EndpointSlice at
# the namespace's address, and the APIService that sends external.metrics.k8s.io there.
register_apiservice() {
  local ca_bundle
  ca_bundle=$(base64 -w0 <"$PKI_DIR/ca.crt")
  kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: keda-metrics-apiserver
  namespace: $KEDA_NS
  labels: {app.kubernetes.io/name: keda-metrics-apiserver, app.kubernetes.io/part-of: keda-operator}
spec:
  ports:
  - {name: https, port: 443, targetPort: $ADAPTER_PORT, protocol: TCP}
---
# Written here, not by the controller-manager (no pod): the mirroring controller must
# not add a second slice from it.
apiVersion: v1
kind: Endpoints
metadata:
  name: keda-metrics-apiserver
  namespace: $KEDA_NS
  labels: {endpointslice.kubernetes.io/skip-mirror: "true"}
subsets:
- addresses: [{ip: $NETNS_IP}]
  ports: [{name: https, port: $ADAPTER_PORT, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: keda-metrics-apiserver-sandbox
  namespace: $KEDA_NS
  labels:
    kubernetes.io/service-name: keda-metrics-apiserver
    endpointslice.kubernetes.io/managed-by: tidemark-sandbox
addressType: IPv4
endpoints:
- addresses: [$NETNS_IP]
  conditions: {ready: true}
ports:
- {name: https, port: $ADAPTER_PORT, protocol: TCP}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.external.metrics.k8s.io
  labels: {app.kubernetes.io/part-of: keda-operator}
spec:
  service: {name: keda-metrics-apiserver, namespace: $KEDA_NS, port: 443}
  group: external.metrics.k8s.io
  version: v1beta1
  caBundle: $ca_bundle
  groupPriorityMinimum: 100
  versionPriority: 100
EOF
}

# --- identity and certificates -----------------------------------------------------------

write_certs() {
  mkdir -p "$CERTS"
  cp "$PKI_DIR/ca.crt" "$CERTS/ca.crt"
  (
    cd "$CERTS"
    openssl ecparam -name prime256v1 -genkey -noout -out tls.key 2>/dev/null
    local san="IP:$NETNS_IP,IP:$NETNS_HOST_IP,DNS:keda-metrics-apiserver.$KEDA_NS.svc"
    san+=",DNS:keda-metrics-apiserver.$KEDA_NS.svc.cluster.local,DNS:keda-operator.$KEDA_NS.svc"
    san+=",DNS:keda-operator.$KEDA_NS.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
    openssl req -new -key tls.key -subj "/O=KEDAORG/CN=keda-operator" 2>/dev/null |
      openssl x509 -req -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" -CAcreateserial -days 3650 \
        -out tls.crt -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") 2>/dev/null
    chmod 600 tls.key
  )
}

# kubeconfig FILE SERVER [TLS_SERVER_NAME]: the ServiceAccount keda/keda-operator's.
write_kubeconfig() {
  local file=$1 server=$2 server_name=${3:-} token
  token=$(kctl create token keda-operator -n "$KEDA_NS" --duration=8760h)
  {
    printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n'
    printf '    server: %s\n    certificate-authority: %s\n' "$server" "$PKI_DIR/ca.crt"
    [[ -n $server_name ]] && printf '    tls-server-name: %s\n' "$server_name"
    printf 'users:\n- name: keda-operator\n  user:\n    token: %s\n' "$token"
    printf 'contexts:\n- name: sandbox\n  context: {cluster: sandbox, user: keda-operator}\ncurrent-context: sandbox\n'
  } >"$file"
  chmod 600 "$file"
}

# --- up / down ------------------------------------------------------------------------------

up() {
  local api_port=${1:?usage: keda.sh up API_PORT} mod
  install_apt_packages "${APT_KEDA_PACKAGES[@]}"
  "$here/build-keda.sh"
  mod=$(keda_module_dir)
  down_quiet
  rm -rf "$STATE"
  mkdir -p "$STATE/ca" "$PID_DIR" "$LOG_DIR"
  install_manifests "$mod"
  write_certs
  # The API server's certificate names kubernetes, 10.0.0.1 and 127.0.0.1, not HOST_IP.
  write_kubeconfig "$STATE/operator.kubeconfig" "https://127.0.0.1:$api_port"
  write_kubeconfig "$STATE/metrics-apiserver.kubeconfig" "https://$NETNS_HOST_IP:$api_port" kubernetes
  netns_up
  start_recorded keda-proxy socat "TCP-LISTEN:$api_port,bind=$NETNS_HOST_IP,fork,reuseaddr" "TCP:127.0.0.1:$api_port"

  # KEDA_CLUSTER_OBJECT_NAMESPACE and POD_NAMESPACE: in a pod KEDA reads its namespace
  # from the mounted ServiceAccount; --ca-dir: scalers' extra CAs (none here).
  # Free ports, not controller-runtime's 8080 and 8081: a listener on any address of
  # the host makes a later bind of 0.0.0.0 to that port fail (`tidemark run`'s default
  # /metrics is 0.0.0.0:8080).
  local metrics_port health_port
  metrics_port=$(free_port)
  health_port=$(free_port)
  KUBECONFIG="$STATE/operator.kubeconfig" WATCH_NAMESPACE='' POD_NAMESPACE=$KEDA_NS \
    KEDA_CLUSTER_OBJECT_NAMESPACE=$KEDA_NS start_recorded keda-operator "$KEDA_BIN_DIR/keda" --leader-elect=false --zap-log-level="$LOG_LEVEL" --zap-encoder=console \
    --zap-time-encoding=rfc3339 --enable-cert-rotation=false --cert-dir="$CERTS" --ca-dir="$STATE/ca" \
    --metrics-bind-address="$NETNS_HOST_IP:$metrics_port" --health-probe-bind-address="$NETNS_HOST_IP:$health_port" \
    --metrics-service-bind-address="$NETNS_HOST_IP:$GRPC_PORT"
  operator_healthy() { curl -fsS -m 2 "http://$NETNS_HOST_IP:$health_port/readyz"; }
  wait_for keda-operator ready operator_healthy

  # Delegated authentication and authorization as in any aggregated API server; the
  # request-header CA and names are the API server's own (--requestheader-* in env-up.sh).
  KUBECONFIG="$STATE/metrics-apiserver.kubeconfig" WATCH_NAMESPACE='' POD_NAMESPACE=$KEDA_NS \
    KEDA_CLUSTER_OBJECT_NAMESPACE=$KEDA_NS start_recorded_in_netns keda-metrics-apiserver "$KEDA_BIN_DIR/keda-adapter" --zap-log-level="$LOG_LEVEL" --zap-encoder=console \
    --bind-address="$NETNS_IP" --secure-port="$ADAPTER_PORT" \
    --tls-cert-file="$CERTS/tls.crt" --tls-private-key-file="$CERTS/tls.key" --cert-dir="$CERTS" \
    --client-ca-file="$CERTS/ca.crt" \
    --requestheader-client-ca-file="$PKI_DIR/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --lister-kubeconfig="$STATE/metrics-apiserver.kubeconfig" \
    --authentication-kubeconfig="$STATE/metrics-apiserver.kubeconfig" \
    --authorization-kubeconfig="$STATE/metrics-apiserver.kubeconfig" \
    --metrics-service-address="$NETNS_HOST_IP:$GRPC_PORT" --port=8080
  adapter_ready() { curl -fsS -m 2 --cacert "$CERTS/ca.crt" "https://$NETNS_IP:$ADAPTER_PORT/readyz"; }
  wait_for keda-metrics-apiserver "serving at $NETNS_IP:$ADAPTER_PORT" adapter_ready

  register_apiservice
  apiservice_available() {
    [[ $(kctl get apiservice v1beta1.external.metrics.k8s.io \
      -o jsonpath='{.status.conditions[?(@.type=="Available")].status}') == True ]]
  }
  wait_for keda-metrics-apiserver "available as v1beta1.external.metrics.k8s.io" apiservice_available
}

# Removes the APIService (else the API server keeps reporting an unavailable group
# while the sandbox lives on), stops the processes and removes the namespace.
down_quiet() {
  if [[ -f $SANDBOX_DIR/kubeconfig ]] && kctl get --raw /readyz >/dev/null 2>&1; then
    kctl delete apiservice v1beta1.external.metrics.k8s.io --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  local i
  for ((i = ${#KEDA_COMPONENTS[@]} - 1; i >= 0; i--)); do stop_recorded "${KEDA_COMPONENTS[i]}"; done
  netns_down
}

opt_in_main "$0 {up API_PORT|down|status}" KEDA_COMPONENTS "$@"
