#!/usr/bin/env bash
# The whole test, as `make test` and `.ci/run` run it:
#   set up if needed -> generated/ matches nbs/ -> start the services -> pytest (notebook hygiene,
#   module notebooks, services, every chapter in order through papermill) -> stop the services.
# The services are stopped on failure and interruption too; their stop messages go to
# build/logs/services-stop.log so that pytest's summary is the last line. Extra arguments go to pytest.
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
"$REPO_ROOT/.venv/bin/python" -m pytest "$@"
