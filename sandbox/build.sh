#!/usr/bin/env bash
# Installs the sandbox's binaries: Debian packages (Prometheus) through apt-get,
# and kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and
# kwok and helm built from their Go modules into a cache outside the repository,
# keyed by version, so that a second run builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
source "$here/versions.sh"

log() { printf '[sandbox build] %s\n' "$*" >&2; }

# shellcheck source=apt.sh
source "$here/apt.sh"

# The version variables kubectl and the servers report (hack/lib/version.sh does
# the same for official builds); without them they call themselves v0.0.0-master.
kube_ldflags() {
  local minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  local flags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

build_kube() {
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl) c need=0
  for c in "${cmds[@]}"; do [[ -x $KUBE_BIN_DIR/$c ]] || need=1; done
  ((need)) || return 0
  log "building Kubernetes $KUBE_VERSION (${cmds[*]}) into $KUBE_BIN_DIR; the first build takes a while"
  local tmp
  mkdir -p "$TIDEMARK_CACHE"
  tmp=$(mktemp -d "$TIDEMARK_CACHE/.build-k8s.XXXXXX")
  local pkgs=()
  for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$here/k8s" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags="$(kube_ldflags)" -o "$tmp/" "${pkgs[@]}")
  mkdir -p "$KUBE_BIN_DIR"
  for c in "${cmds[@]}"; do mv -f "$tmp/$c" "$KUBE_BIN_DIR/$c"; done
  rmdir "$tmp"
}

# The kubelet, for the opt-in real node (TIDEMARK_REAL_NODE=1, sandbox/real-node.sh),
# built on its own so that the KWOK-only sandbox never waits for it; Kubernetes'
# build cache from build_kube makes it quick (seconds to a few minutes).
build_kubelet() {
  [[ -x $KUBE_BIN_DIR/kubelet ]] && return 0
  log "building the kubelet $KUBE_VERSION into $KUBE_BIN_DIR (real node)"
  local tmp
  mkdir -p "$TIDEMARK_CACHE"
  tmp=$(mktemp -d "$TIDEMARK_CACHE/.build-kubelet.XXXXXX")
  (cd "$here/k8s" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags="$(kube_ldflags)" -o "$tmp/" k8s.io/kubernetes/cmd/kubelet)
  mkdir -p "$KUBE_BIN_DIR"
  mv -f "$tmp/kubelet" "$KUBE_BIN_DIR/kubelet"
  rmdir "$tmp"
}

build_etcd() {
  [[ -x $ETCD_BIN_DIR/etcd ]] && return 0
  log "building etcd $ETCD_VERSION into $ETCD_BIN_DIR"
  local tmp
  mkdir -p "$TIDEMARK_CACHE"
  tmp=$(mktemp -d "$TIDEMARK_CACHE/.build-etcd.XXXXXX")
  # Same wrapper module: etcd's dependencies as resolved with Kubernetes' own.
  (cd "$here/k8s" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags="-s -w" \
    -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  mkdir -p "$ETCD_BIN_DIR"
  mv -f "$tmp/etcd" "$ETCD_BIN_DIR/etcd"
  rmdir "$tmp"
}

# go_install_cached NAME VERSION DIR PKG LDFLAGS: `go install PKG@VERSION` into
# DIR/NAME unless it is there already. The module's own go.mod and go.sum pin its
# dependencies.
go_install_cached() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5 tmp
  [[ -x $dir/$name ]] && return 0
  log "building $name $version into $dir"
  mkdir -p "$TIDEMARK_CACHE"
  tmp=$(mktemp -d "$TIDEMARK_CACHE/.build-$name.XXXXXX")
  CGO_ENABLED=0 GOBIN=$tmp go install -trimpath -ldflags="-s -w $ldflags" "$pkg@$version"
  mkdir -p "$dir"
  mv -f "$tmp/$name" "$dir/$name"
  rmdir "$tmp"
}

build_kwok() {
  go_install_cached kwok "$KWOK_VERSION" "$KWOK_BIN_DIR" sigs.k8s.io/kwok/cmd/kwok \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}

# The version variables are the ones helm's Makefile sets for a release build.
build_helm() {
  go_install_cached helm "$HELM_VERSION" "$HELM_BIN_DIR" helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
}

command -v go >/dev/null || { log "go is not on PATH (the sandbox builds Kubernetes from its Go modules)"; exit 1; }
install_apt_packages "${APT_PACKAGES[@]}"
build_kube
build_etcd
build_kwok
build_helm
[[ ${TIDEMARK_REAL_NODE:-0} == 1 ]] && build_kubelet
log "binaries ready: $KUBE_BIN_DIR, $ETCD_BIN_DIR, $KWOK_BIN_DIR, $HELM_BIN_DIR"
