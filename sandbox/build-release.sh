#!/usr/bin/env bash
# Builds the previous release (PREVIOUS_RELEASE in versions.sh) from its commit into the
# cache beside the sandbox's binaries, once, and prints its directory: the upgrade test
# runs that release's own code and production dependencies, installed from its own lock
# file. `git archive` rather than `git worktree add`: the cached tree outlives this
# checkout, and a worktree would stay registered in it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=versions.sh
source "$here/versions.sh"

log() { printf '[release build] %s\n' "$*" >&2; }

if [[ -f $RELEASE_DIR/.built ]]; then
  echo "$RELEASE_DIR"
  exit 0
fi
if ! git -C "$repo" cat-file -e "$PREVIOUS_RELEASE_COMMIT^{commit}" 2>/dev/null; then
  log "commit $PREVIOUS_RELEASE_COMMIT ($PREVIOUS_RELEASE) is not in $repo: a shallow clone? run git fetch --unshallow"
  exit 1
fi
tagged=$(git -C "$repo" rev-parse -q --verify "refs/tags/$PREVIOUS_RELEASE^{commit}" || true)
if [[ -n $tagged && $tagged != "$PREVIOUS_RELEASE_COMMIT" ]]; then
  log "tag $PREVIOUS_RELEASE is $tagged, versions.sh says $PREVIOUS_RELEASE_COMMIT"
  exit 1
fi
log "building $PREVIOUS_RELEASE ($PREVIOUS_RELEASE_COMMIT) into $RELEASE_DIR"
tmp=$RELEASE_DIR.tmp.$$
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
git -C "$repo" archive "$PREVIOUS_RELEASE_COMMIT" | tar -x -C "$tmp"
# Production dependencies only, at the versions of its lock; Node.js itself is the current
# checkout's (same major). `npm install`, not `npm ci`: v0.1.0's lock lacks the optional
# per-platform entries of a dev tool (Biome), which npm ci refuses; install keeps every
# locked version and adds only those (not installed: dev).
(cd "$tmp" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
touch "$tmp/.built"
rm -rf "$RELEASE_DIR"
mv "$tmp" "$RELEASE_DIR"
trap - EXIT
echo "$RELEASE_DIR"
