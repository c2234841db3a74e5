#!/usr/bin/env bash
# `make bench`: the benchmark suite (speedrun.tools.bench): model serving, online features, streaming
# and the GCP path, each beside its floor, in one run; build/bench/results.json and plots, which
# chapters/08_performance.ipynb explains. About 8 minutes here. Needs the models of chapters 01, 02
# and 04 (it says what is missing); starts Cassandra and the emulator, and stops them afterwards.
SERVICE=bench
. "$(dirname "$0")/lib.sh"
"$REPO_ROOT/ci/setup.sh"
trap '"$REPO_ROOT/ci/services.sh" stop > "$LOG_DIR/services-stop.log" 2>&1' EXIT
"$REPO_ROOT/ci/services.sh" start
"$REPO_ROOT/.venv/bin/python" -m speedrun.tools.bench "$@"
