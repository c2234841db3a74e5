#!/usr/bin/env bash
# `make bench`: the ride pipeline's end-to-end rate beside the emulator's own, in one run; then the
# GCP path, /predict/{id} beside the model server and the raw model call, in one run.
# Needs the ride model of chapter 04 (build/artefacts/rides); starts and stops the emulator.
SERVICE=bench
. "$(dirname "$0")/lib.sh"
"$REPO_ROOT/ci/setup.sh"
trap '"$REPO_ROOT/ci/pubsub.sh" stop > "$LOG_DIR/pubsub-stop.log" 2>&1' EXIT
"$REPO_ROOT/ci/pubsub.sh" start
"$REPO_ROOT/.venv/bin/python" -m speedrun.ride_benchmark "$@"
"$REPO_ROOT/.venv/bin/python" -m speedrun.gcp.benchmark
