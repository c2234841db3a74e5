#!/usr/bin/env bash
# Start or stop every local service the tests need: a Cassandra node and the Pub/Sub emulator.
#   ci/services.sh start | stop
SERVICE=services
. "$(dirname "$0")/lib.sh"
case "${1:-}" in
  start) "$REPO_ROOT/ci/cassandra.sh" start; "$REPO_ROOT/ci/pubsub.sh" start ;;
  stop) status=0
        "$REPO_ROOT/ci/pubsub.sh" stop || status=1
        "$REPO_ROOT/ci/cassandra.sh" stop || status=1
        exit $status ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
