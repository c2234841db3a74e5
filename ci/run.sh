#!/usr/bin/env bash
# `make run`: set up if needed, build what the served APIs miss (by running chapters), serve them on
# the embedded defaults (SQLite, nothing else running) and print their URLs; Ctrl-C stops them all.
SERVICE=run
. "$(dirname "$0")/lib.sh"
"$REPO_ROOT/ci/setup.sh"
exec "$REPO_ROOT/.venv/bin/python" -m speedrun.tools.serve "$@"
