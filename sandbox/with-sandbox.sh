#!/usr/bin/env bash
# with-sandbox.sh CMD...: brings the sandbox up (sandbox/env-up.sh), runs CMD with
# .sandbox/env.sh sourced, then always brings it down again (unless
# TIDEMARK_KEEP_SANDBOX=1). Exits with CMD's status, or with env-up's or
# env-down's when those fail. Every integration test of a run shares this one
# sandbox.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
(($#)) || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

down() {
  if [[ ${TIDEMARK_KEEP_SANDBOX:-0} == 1 ]]; then
    log "TIDEMARK_KEEP_SANDBOX=1: leaving the sandbox running (make env-down stops it)"
    return 0
  fi
  "$here/env-down.sh"
}

# env-up stops what it started itself when it fails.
"$here/env-up.sh"
rc=0
(
  # shellcheck disable=SC1091
  source "$SANDBOX_DIR/env.sh"
  exec "$@"
) || rc=$?
down_rc=0
down || down_rc=$?
if ((rc == 0 && down_rc != 0)); then
  log "the command passed but env-down failed"
  exit "$down_rc"
fi
exit "$rc"
