#!/usr/bin/env bash
# Builds KEDA's operator (keda) and its metrics API server (keda-adapter) from
# the wrapper module sandbox/keda/go.mod into $KEDA_BIN_DIR
# (~/.cache/tidemark/keda-<version>), once: a second run builds nothing. The cold
# build compiles every scaler's client library (cloud SDKs and all), so it is
# slow (14 minutes of CPU; 66 minutes of wall time measured on a loaded 2-core machine) and stays out of `make test`; only the
# opt-in real KEDA (TIDEMARK_KEDA=1, sandbox/keda.sh) and `make test-keda` ask
# for it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
source "$here/versions.sh"

log() { printf '[keda build] %s\n' "$*" >&2; }

# The variables KEDA's Makefile sets (GO_LDFLAGS), so the binaries report their version.
keda_ldflags() {
  local pkg=github.com/kedacore/keda/v2/version
  printf '%s' "-s -w -X=$pkg.Version=${KEDA_VERSION#v} -X=$pkg.GitCommit=module-$KEDA_VERSION"
}

build_keda() {
  local -A cmds=([keda]=operator [keda-adapter]=adapter)
  local c need=0 tmp start
  for c in "${!cmds[@]}"; do [[ -x $KEDA_BIN_DIR/$c ]] || need=1; done
  ((need)) || return 0
  command -v go >/dev/null || { log "go is not on PATH (the sandbox builds KEDA from its Go module)"; exit 1; }
  log "building KEDA $KEDA_VERSION (operator, metrics API server) into $KEDA_BIN_DIR; the first build takes a long while (14 minutes of CPU; 66 minutes of wall time measured on a loaded 2-core machine)"
  mkdir -p "$TIDEMARK_CACHE"
  tmp=$(mktemp -d "$TIDEMARK_CACHE/.build-keda.XXXXXX")
  start=$SECONDS
  # One go build for both, so they share the compile of their common dependencies;
  # it names each binary after its package directory (operator, adapter).
  (cd "$here/keda" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
    -ldflags="$(keda_ldflags)" -o "$tmp/" github.com/kedacore/keda/v2/cmd/operator github.com/kedacore/keda/v2/cmd/adapter)
  mkdir -p "$KEDA_BIN_DIR"
  for c in "${!cmds[@]}"; do mv -f "$tmp/${cmds[$c]}" "$KEDA_BIN_DIR/$c"; done
  rmdir "$tmp"
  log "KEDA $KEDA_VERSION built in $((SECONDS - start)) s"
}

build_keda
log "binaries ready: $KEDA_BIN_DIR"
