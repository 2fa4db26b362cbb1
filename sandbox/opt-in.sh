# Shared by the opt-in parts of the sandbox (sandbox/real-node.sh, sandbox/keda.sh), sourced
# after lib.sh; each defines log, START_TIMEOUT, up, down_quiet and STATE.

# fail NAME WHY: the component's log's tail, and out.
fail() {
  log "$1 failed to start: $2"
  tail -n 40 "$LOG_DIR/$1.log" >&2 || true
  exit 1
}
# wait_for NAME WHAT COMMAND...: until COMMAND succeeds, while NAME runs, for START_TIMEOUT s.
wait_for() {
  local name=$1 what=$2 deadline=$((SECONDS + START_TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    pid_of "$name" >/dev/null || fail "$name" "the process exited"
    ((SECONDS < deadline)) || fail "$name" "not $what after ${START_TIMEOUT}s"
    sleep 0.5
  done
  log "$name is $what"
}

# opt_in_main USAGE COMPONENTS_ARRAY_NAME {up ARGS...|down|status}: the command line of an
# opt-in part (sandbox/real-node.sh, sandbox/keda.sh), which defines up, down_quiet and
# STATE: `down` also removes STATE; `status` prints each recorded component's pid.
opt_in_main() {
  local usage=$1 c pid
  local -n components=$2
  shift 2
  case ${1:-} in
    up)
      shift
      up "$@"
      ;;
    down)
      down_quiet
      rm -rf "$STATE"
      ;;
    status)
      for c in "${components[@]}"; do
        if pid=$(pid_of "$c"); then echo "$c $pid"; else echo "$c stopped"; fi
      done
      ;;
    *)
      echo "usage: $usage" >&2
      exit 2
      ;;
  esac
}
