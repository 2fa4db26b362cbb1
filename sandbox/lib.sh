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

# start_recorded NAME PROGRAM ARGS...: runs it in its own session (so env-down can signal
# its whole process group), stdin closed, output to logs/NAME.log, and records it in
# pids/NAME.pid: env-up.sh's components and the opt-in parts' (sandbox/real-node.sh,
# sandbox/keda.sh). Variables assigned before the call reach PROGRAM's environment.
start_recorded() {
  local name=$1
  shift
  : >"$LOG_DIR/$name.log"
  setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  printf '%s %s\n' "$!" "$1" >"$PID_DIR/$name.pid"
}

# start_recorded_in_netns NAME PROGRAM ARGS...: the same inside $NETNS
# (sandbox/netns.sh); nsenter execs PROGRAM (same PID), so the pid file names PROGRAM.
start_recorded_in_netns() {
  local name=$1
  shift
  : >"$LOG_DIR/$name.log"
  setsid nsenter --net="/run/netns/$NETNS" "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  printf '%s %s\n' "$!" "$1" >"$PID_DIR/$name.pid"
}

# stop_recorded NAME: TERM its process group, KILL after 10 s, forget it (a no-op when
# it is not running).
stop_recorded() {
  local pid deadline
  pid=$(pid_of "$1") || { rm -f "$PID_DIR/$1.pid"; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PID_DIR/$1.pid"
}

# free_port: a TCP port with no listening socket right now (state 0A in /proc/net/tcp*),
# picked from outside the kernel's ephemeral range so as not to clash with outgoing ones.
free_port() {
  local p
  local -A taken=()
  while read -r hex; do taken[$((16#$hex))]=1; done < <(
    awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  )
  while :; do
    p=$((20000 + RANDOM % 12000))
    [[ -z ${taken[$p]:-} ]] && break
  done
  printf '%s' "$p"
}
