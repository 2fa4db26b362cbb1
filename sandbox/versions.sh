# Pinned versions of everything the sandbox builds or installs. Sourced by the
# other sandbox scripts. KUBE_VERSION must match sandbox/k8s/go.mod (the
# k8s.io/kubernetes require and its v0.x staging replaces).
KUBE_VERSION=v1.37.2
KUBE_STAGING_VERSION=v0.37.2
KWOK_VERSION=v0.8.0
# Helm, for the chart in charts/tidemark (helm lint / template / install tests):
# an approved release (v3.22.0 is served by the module proxy but not approved).
# 3.17 or later: the README's install uses --take-ownership.
HELM_VERSION=v3.21.4
# KEDA, the opt-in real KEDA (TIDEMARK_KEDA=1, sandbox/keda.sh), built by
# sandbox/build-keda.sh from the wrapper module sandbox/keda/go.mod (keep the two
# in step). v2.21.0 and not v2.21.1: see sandbox/keda/go.mod.
KEDA_VERSION=v2.21.0
# etcd is built from the version KUBE_VERSION's go.mod pins its etcd client to
# (go.etcd.io/etcd/server/v3, also pinned by sandbox/k8s/go.sum). Debian's
# etcd-server (3.4.23) predates the minimum Kubernetes >= 1.31 documents
# (3.4.29 / 3.5.11): the apiserver runs on it, but without RequestWatchProgress,
# so consistent list-from-cache and watch-list are off and newer clients such as
# KWOK's keep retrying watch-list. TIDEMARK_ETCD=/usr/bin/etcd selects it anyway.
ETCD_VERSION=v3.7.0
# Debian packages (bookworm: prometheus 2.42, which brings promtool).
APT_PACKAGES=(prometheus openssl curl procps)

TIDEMARK_CACHE=${TIDEMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidemark}
KUBE_BIN_DIR=$TIDEMARK_CACHE/k8s-$KUBE_VERSION
KWOK_BIN_DIR=$TIDEMARK_CACHE/kwok-$KWOK_VERSION
ETCD_BIN_DIR=$TIDEMARK_CACHE/etcd-$ETCD_VERSION
HELM_BIN_DIR=$TIDEMARK_CACHE/helm-$HELM_VERSION
KEDA_BIN_DIR=$TIDEMARK_CACHE/keda-$KEDA_VERSION
# The previous release, which the upgrade test (test/upgrade/) installs and upgrades from.
# The commit is the tag's, for a clone that did not fetch tags.
PREVIOUS_RELEASE=v0.1.0
PREVIOUS_RELEASE_COMMIT=928b8a714e5b0424f87992a0ea9dd7e5d46f2d39
RELEASE_DIR=$TIDEMARK_CACHE/release-$PREVIOUS_RELEASE-${PREVIOUS_RELEASE_COMMIT:0:12}
