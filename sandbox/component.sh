#!/usr/bin/env bash
# component.sh ACTION NAME [TIMEOUT]: disturbs one component of a running sandbox,
# for fault-injection tests (test/faults/). NAME is one of the components env-up
# records (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
# webhook, workload, prometheus).
#
#   kill NAME      SIGKILL its process group (a crash); `start` brings it back
#   stop NAME      TERM, then KILL after TIDEMARK_STOP_GRACE seconds (10)
#   start NAME     start it again with the command line it ran with, unless it runs
#   restart NAME   stop, then start
#   freeze NAME    SIGSTOP its process group: it holds its sockets but answers nothing
#   thaw NAME      SIGCONT its process group
#   health NAME    exit 0 when it answers its health check
#   wait NAME [S]  wait up to S seconds (120) until it answers its health check
#
# The command line and working directory are taken from /proc while the process
# runs (saved as pids/NAME.cmd and pids/NAME.cwd), so env-up.sh needs no change
# and a restarted component is recorded in pids/NAME.pid exactly as env-up
# records it: env-down stops it like any other.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
GRACE=${TIDEMARK_STOP_GRACE:-10}

usage() {
  echo "usage: $0 {kill|stop|start|restart|freeze|thaw|health|wait} NAME [TIMEOUT]" >&2
  exit 2
}
(($# >= 2)) || usage
action=$1 name=$2
[[ " ${COMPONENTS[*]} " == *" $name "* ]] || { log "unknown component: $name"; exit 2; }
CMD_FILE=$PID_DIR/$name.cmd
CWD_FILE=$PID_DIR/$name.cwd

# The state letter of a PID (R, S, T, Z, ...), empty when it is gone.
state_of() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true; }

group_alive() {
  local p s
  for p in $(pgrep -g "$1" 2>/dev/null); do
    s=$(state_of "$p")
    [[ -n $s && $s != Z ]] && return 0
  done
  return 1
}

# Saves how the running process was started (NUL-separated argv, as /proc has it).
remember() {
  local pid=$1
  cp "/proc/$pid/cmdline" "$CMD_FILE.tmp" && mv "$CMD_FILE.tmp" "$CMD_FILE"
  readlink "/proc/$pid/cwd" >"$CWD_FILE" || printf '%s\n' "$SANDBOX_REPO" >"$CWD_FILE"
}

running_pid() {
  local pid
  pid=$(pid_of "$name") || { log "$name is not running"; return 1; }
  remember "$pid"
  printf '%s\n' "$pid"
}

# Waits until the group is gone; KILLs it after the grace period.
reap() {
  local pid=$1 deadline=$((SECONDS + GRACE))
  while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if group_alive "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  ! group_alive "$pid" || { log "$name (pgid $pid) survived KILL"; exit 1; }
}

do_stop() { # SIGNAL
  local pid
  pid=$(running_pid) || return 0
  # A frozen process only acts on TERM once it runs again.
  kill -CONT -- "-$pid" 2>/dev/null || true
  kill "-$1" -- "-$pid" 2>/dev/null || kill "-$1" "$pid" 2>/dev/null || true
  reap "$pid"
  log "$name (pid $pid) stopped with SIG$1"
}

do_start() {
  if pid_of "$name" >/dev/null; then
    log "$name is already running"
    return 0
  fi
  [[ -s $CMD_FILE ]] || { log "no saved command line for $name (it must have run under component.sh first)"; exit 1; }
  local -a argv=()
  mapfile -d '' -t argv <"$CMD_FILE"
  local cwd=$SANDBOX_REPO
  [[ -s $CWD_FILE ]] && cwd=$(<"$CWD_FILE")
  # As env-up.sh's start(): own session, stdin closed, appended to its log.
  # A simple command in the background, so that $! is the component itself.
  cd "$cwd"
  setsid "${argv[@]}" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  printf '%s %s\n' "$!" "${argv[0]}" >"$PID_DIR/$name.pid"
  log "$name started again (pid $(cut -d' ' -f1 "$PID_DIR/$name.pid"))"
}

# arg VALUE-OF-FLAG: the value of --flag=V or --flag V in the saved command line.
arg() {
  local -a argv=()
  mapfile -d '' -t argv <"$CMD_FILE"
  local i
  for ((i = 0; i < ${#argv[@]}; i++)); do
    case ${argv[i]} in
      "$1"=*) printf '%s\n' "${argv[i]#*=}"; return 0 ;;
      "$1") printf '%s\n' "${argv[i + 1]:-}"; return 0 ;;
    esac
  done
  return 1
}

healthy() {
  if [[ ! -s $CMD_FILE ]]; then
    local pid
    pid=$(pid_of "$name") || return 1
    remember "$pid"
  fi
  pid_of "$name" >/dev/null || return 1
  case $name in
    etcd) curl -fsS -m 2 "$(arg --listen-client-urls | cut -d, -f1)/health" 2>/dev/null | grep -q '"health":"true"' ;;
    kube-apiserver) "$KUBE_BIN_DIR/kubectl" --kubeconfig "$SANDBOX_DIR/kubeconfig" get --raw /readyz >/dev/null 2>&1 ;;
    kube-controller-manager | kube-scheduler) curl -fsSk -m 2 "https://127.0.0.1:$(arg --secure-port)/healthz" >/dev/null 2>&1 ;;
    kwok) curl -fsS -m 2 "http://$(arg --server-address)/healthz" >/dev/null 2>&1 ;;
    workload) curl -fsS -m 2 "http://127.0.0.1:$(arg --port)/metrics" >/dev/null 2>&1 ;;
    webhook) curl -fsSk -m 2 "https://127.0.0.1:$(arg --webhook-port)/healthz" >/dev/null 2>&1 ;;
    prometheus) curl -fsS -m 2 "http://$(arg --web.listen-address)/-/ready" >/dev/null 2>&1 ;;
  esac
}

case $action in
  kill) do_stop KILL ;;
  stop) do_stop TERM ;;
  start) do_start ;;
  restart) do_stop TERM; do_start ;;
  freeze)
    pid=$(running_pid)
    kill -STOP -- "-$pid"
    log "$name (pgid $pid) frozen"
    ;;
  thaw)
    pid=$(running_pid)
    kill -CONT -- "-$pid"
    log "$name (pgid $pid) thawed"
    ;;
  health) healthy ;;
  wait)
    timeout=${3:-120}
    deadline=$((SECONDS + timeout))
    until healthy; do
      ((SECONDS < deadline)) || { log "$name not healthy after ${timeout}s"; tail -n 20 "$LOG_DIR/$name.log" >&2; exit 1; }
      sleep 0.2
    done
    ;;
  *) usage ;;
esac
