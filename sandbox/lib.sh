# Shared by the sandbox scripts (sourced, not run).
# shellcheck shell=bash

SANDBOX_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.sh
source "$SANDBOX_REPO/sandbox/versions.sh"

SANDBOX_DIR=${TIDEMARK_SANDBOX_DIR:-$SANDBOX_REPO/.sandbox}
PID_DIR=$SANDBOX_DIR/pids
LOG_DIR=$SANDBOX_DIR/logs
PKI_DIR=$SANDBOX_DIR/pki

# Start order; env-down stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok webhook workload prometheus)

log() { printf '[sandbox] %s\n' "$*" >&2; }

# pid_of NAME: the recorded PID of a component if that process still runs the
# program it was started as (a recycled PID must never be signalled).
pid_of() {
  local file=$PID_DIR/$1.pid pid exe
  [[ -f $file ]] || return 1
  read -r pid exe <"$file" || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # Zombies have an empty cmdline: they are gone for our purposes.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$exe" || return 1
  printf '%s\n' "$pid"
}

# alive_pids: PIDs of every component still running, one "name pid" per line.
alive_pids() {
  local c pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then printf '%s %s\n' "$c" "$pid"; fi
  done
}
