#!/usr/bin/env bash
# Start or stop every local service the tests need: a Cassandra node and the Pub/Sub emulator (stop: and the nodes of a cluster left running).
#   ci/services.sh start | stop
SERVICE=services
. "$(dirname "$0")/lib.sh"
case "${1:-}" in
  start) "$REPO_ROOT/ci/cassandra.sh" start; "$REPO_ROOT/ci/pubsub.sh" start ;;
  stop) status=0
        "$REPO_ROOT/ci/pubsub.sh" stop || status=1
        "$REPO_ROOT/ci/cassandra.sh" stop || status=1
        for pidfile in "$RUN_DIR"/cassandra-*.pid; do  # the nodes of a cluster (speedrun.kit.cluster, chapter 09) left running
          [ -f "$pidfile" ] && { name=$(basename "$pidfile" .pid); stop_group "$name" || status=1; }
        done
        exit $status ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
