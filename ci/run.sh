#!/usr/bin/env bash
# `make run`: set up if needed, then `python -m speedrun.tools.serve [SERVICE...]`: refuse a taken port at once, use (or
# start) the Pub/Sub emulator and, with the Cassandra backend, the Cassandra node, build what the services miss (by running
# chapters), serve the whole architecture (or the services named: make run SERVICES="home web-client") on the configured
# ports and print where it is; Ctrl-C, SIGTERM or SIGHUP (to make, or to this process) stops all of it.
SERVICE=run
. "$(dirname "$0")/lib.sh"
"$REPO_ROOT/ci/setup.sh"
exec "$REPO_ROOT/.venv/bin/python" -m speedrun.tools.serve "$@"
