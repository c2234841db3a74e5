#!/usr/bin/env bash
# The whole test, as `make test` and `.ci/run` run it:
#   set up if needed -> generated/ matches nbs/ -> start the services -> pytest in two groups side by side (every chapter in
#   order through papermill and the tests that need what they built; beside them notebook hygiene, module notebooks,
#   services) -> stop the services.
# The services are stopped on failure and interruption too; their stop messages go to
# build/logs/services-stop.log, so that the last lines are the summaries. Extra arguments go to one pytest, as given.
SERVICE=test
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
began=$SECONDS
"$REPO_ROOT/ci/setup.sh"
"$REPO_ROOT/ci/check_export.sh"
stop_services() { "$REPO_ROOT/ci/services.sh" stop > "$LOG_DIR/services-stop.log" 2>&1 || cat "$LOG_DIR/services-stop.log" >&2; }
trap stop_services EXIT
"$REPO_ROOT/ci/services.sh" start
say "set-up and services took $((SECONDS - began)) s; running pytest"
PYTEST=("$REPO_ROOT/.venv/bin/python" -m pytest)
# With arguments (a file, -k ...): one pytest, as asked.
if [ $# -gt 0 ]; then "${PYTEST[@]}" "$@"; exit; fi
# The whole suite: two groups side by side, one per core (tests/conftest.py, GROUPS). The chapters and what needs them run here,
# printing as they go; the independent tests on a workbook of their own behind them, their output kept in a log and printed after.
independent_log="$LOG_DIR/pytest-independent.log"
# The chapters are the longer path, so they come first for the CPU: the independent group runs at nice 10, and so does every
# process it starts in a session of its own (a kernel, a service, a node: speedrun.kit.inheritance, ci/lib.sh), but the
# nodes of its Cassandra cluster, which starved at nice 10 (ci/cassandra.sh).
# Without that, Linux's autogroups weighed each such session as much as the chapters' whole one: at nice 10 the chapters
# took 1555 s beside the group, at equal priority 1532 s.
# .pytest_cache is the chapters' to write.
nice -n 10 "${PYTEST[@]}" --group=independent -p no:cacheprovider > "$independent_log" 2>&1 &
independent=$!
# On failure or interruption the background group is told to stop (SIGTERM: its session stops and tears down, as for Ctrl-C),
# given a minute, then killed.
stop_independent() {
  kill -0 "$independent" 2>/dev/null || return 0
  kill -TERM "$independent" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$independent" 2>/dev/null || return 0; sleep 0.5; done
  say "the independent tests did not stop within a minute of SIGTERM; killing them"
  kill -KILL "$independent" 2>/dev/null || true
}
trap 'stop_independent; stop_services' EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
set +e
"${PYTEST[@]}" --group=chapters
chapters_status=$?
wait "$independent"
independent_status=$?
set -e
say "the independent tests, run beside the chapters (their log: $independent_log):"
cat "$independent_log"
say "chapters and what needs them: exit $chapters_status; independent tests: exit $independent_status; $((SECONDS - began)) s in all"
[ "$chapters_status" -eq 0 ] && [ "$independent_status" -eq 0 ]
