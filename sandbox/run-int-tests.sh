#!/usr/bin/env bash
# run-int-tests.sh FILE...: the integration test files, inside the one sandbox that
# with-sandbox.sh brought up. One file at a time: they share the cluster and some restart
# its components. The files named in TIDEMARK_BESIDE (space-separated) run beside the
# first ones instead: they spend their time waiting on the clock (the backtest e2e waits
# about 3 min for Prometheus to hold two known minutes of a profile) and touch only their
# own namespace and series, and the files sorted first restart nothing. Their report is
# printed after the others', so the two never interleave. This keeps a cold `make test`
# under 45 minutes. The files named in TIDEMARK_FIRST run alone before all others: the
# upgrade test replaces the cluster-wide CRD with an older release's, which must not
# happen under another file's policies.
set -uo pipefail
node=(node --disable-warning=ExperimentalWarning --test --test-reporter=spec)
first=()
beside=()
rest=()
for f in "$@"; do
  if [[ " ${TIDEMARK_FIRST:-} " == *" $f "* ]]; then
    first+=("$f")
  elif [[ " ${TIDEMARK_BESIDE:-} " == *" $f "* ]]; then
    beside+=("$f")
  else
    rest+=("$f")
  fi
done

rc=0
if ((${#first[@]})); then
  "${node[@]}" --test-concurrency=1 "${first[@]}" || rc=$?
fi

pid=
log="$SANDBOX_DIR/beside-tests.out"
if ((${#beside[@]})); then
  "${node[@]}" "${beside[@]}" >"$log" 2>&1 &
  pid=$!
fi
rest_rc=0
"${node[@]}" --test-concurrency=1 "${rest[@]}" || rest_rc=$?
((rc != 0)) || rc=$rest_rc
if [[ -n $pid ]]; then
  beside_rc=0
  wait "$pid" || beside_rc=$?
  echo "--- run beside the others: ${beside[*]} (exit $beside_rc)"
  cat "$log"
  ((rc != 0)) || rc=$beside_rc
fi
exit "$rc"
