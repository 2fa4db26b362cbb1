#!/usr/bin/env bash
# Stops every process sandbox/env-up.sh started, by recorded PID (each one leads
# its own process group, so its children go too): TERM, then KILL after a grace
# period. Exits non-zero if any of them is still running afterwards.
# Settings: TIDEMARK_STOP_GRACE seconds before KILL (10).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
GRACE=${TIDEMARK_STOP_GRACE:-10}

# group_alive PGID: some process of that group is still running. Zombies (dead,
# waiting for init to reap them) and processes that vanish while we look do not
# count.
group_alive() {
  local p state
  for p in $(pgrep -g "$1" 2>/dev/null); do
    state=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) || continue
    [[ -n $state && $state != Z ]] && return 0
  done
  return 1
}

# stop NAME: TERM the component's group, wait, then KILL.
stop() {
  local name=$1 pid deadline
  pid=$(pid_of "$name") || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + GRACE))
  while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if group_alive "$pid"; then
    log "$name (pid $pid) ignored TERM for ${GRACE}s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  fi
}

# The opt-in real node first (its pods, kubelet, containerd, network namespace); a
# no-op without one.
"$(dirname "$0")/real-node.sh" down || log "real-node.sh down failed"
# The same for the opt-in real KEDA (its APIService, processes and network namespace).
"$(dirname "$0")/keda.sh" down || log "keda.sh down failed"

# Stop clients before the servers they talk to: reverse start order.
declare -A groups=()
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  name=${COMPONENTS[i]}
  if pid=$(pid_of "$name"); then
    groups[$name]=$pid
    stop "$name"
  fi
done

survivors=()
for name in "${!groups[@]}"; do
  if group_alive "${groups[$name]}"; then
    survivors+=("$name (pgid ${groups[$name]}: $(pgrep -g "${groups[$name]}" | tr '\n' ' '))")
  fi
done
if ((${#survivors[@]})); then
  log "still running after env-down: ${survivors[*]}"
  exit 1
fi
rm -rf "$PID_DIR" "$SANDBOX_DIR/env.sh" "$SANDBOX_DIR/fingerprint"
if ((${#groups[@]})); then
  log "stopped ${!groups[*]}; no sandbox process is left"
else
  log "no sandbox was running"
fi
